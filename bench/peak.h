/* peak.h: FP32 FMA-throughput loops, one per ISA file (peak__avx2.c,
 * peak__avx512.c), and the bf16 dot-product loop (peak__avx512bf16.c), compiled with that ISA's flags by the Makefile. Each runs
 * `iters` rounds of PCNN_PEAK_ACC independent FMAs (one per accumulator, so
 * the loop is bound by FMA throughput, not latency) and returns a value that
 * depends on every accumulator so nothing is optimised away. */
#ifndef PCNN_BENCH_PEAK_H
#define PCNN_BENCH_PEAK_H

#ifdef __cplusplus
extern "C" {
#endif

#define PCNN_PEAK_ACC 12
/* flops per round: PCNN_PEAK_ACC accumulators x lanes x 2 (multiply + add) */
float pcnn_peak_fma__avx2(long iters);   /* 12 x 8 lanes x 2 = 192 flops a round */
float pcnn_peak_fma__avx512(long iters); /* 12 x 16 lanes x 2 = 384 flops a round */
/* VDPBF16PS: 12 x 16 lanes x 2 products x 2 = 768 flops a round */
float pcnn_peak_dpbf16__avx512bf16(long iters);

#ifdef __cplusplus
}
#endif
#endif
