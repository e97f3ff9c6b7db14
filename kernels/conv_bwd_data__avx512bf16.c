/* conv_bwd_data__avx512bf16.c: pcnn_conv_bwd_data__avx512bf16, the bf16
 * data gradient of the masked k x k conv.
 * Contract: pcnn_conv_bwd_data_fn (pcnn_kernels.h) in the bf16 precision:
 * din (N,H,W,cin) += masked_conv^T(dout (N,H,W,cout), w [k][k][cin][cout]),
 * both operands of every product rounded to bf16, summed in fp32;
 * ACCUMULATES (PCNN_CONV_OVERWRITE: overwrites, din not read; the sums
 * start from a zero bias, the same bits as zeroing din first).
 * How (conv_bf16.h): the transposed conv is a direct conv: input pixel
 * (y, x) gathers dout at (y + r - ky, x + r - kx) through w[ky][kx]^T. So the
 * kept taps are transposed once per call into [cp_out][cinp] pairs (masked
 * entries zero, never read), each thread converts the dout rows it needs to
 * pairs of output channels, and engine 1 runs with flipped offsets, vectors
 * over cin, accumulators loaded from din. k == 1: the pixel-block GEMM of
 * conv1x1_bf16.h on dout's channel pairs and w^T packed as [cout/2][cin]
 * pairs (16 rows of w converted and transposed in registers), each tile
 * prefetching the next tile's din; a 1x1
 * with at most 4 outputs (the head): fp32 FMAs on bf16-rounded operands
 * (exact products), vectors over cin.
 * Work split: the N x H rows of din (k == 1: blocks of 96 pixels; the head:
 * pixels); one writer per element, taps and pairs in a fixed order: the
 * same bits at any thread count.
 * Cost: the transpose of the kept weights is 3% of a seed 3x3 B 64->64 or
 * 1x1 64->128 data gradient at N = 1 (perf, AMD EPYC Zen 4), 1/32 of that at
 * N = 32; the dout row conversion 3-10%. Scratch of the calling thread,
 * grown once; none: the bf16 reference.
 * Measured (AMD EPYC Zen 4 VM, 2 cores, loaded by other jobs; bench row
 * conv_bwd_data/1x1B_64-128/avx512bf16/t1, thread CPU time, medians of 3
 * alternating rounds against the previous build): 3.40 -> 3.02 ms at N = 32
 * (oneDNN bf16: 1.93 ms, on bf16 dout converted outside its timing); at
 * N = 1 (the training backward's per-image call) 69.5 -> 69.9 us, unchanged. */
#include "conv1x1_bf16.h"

void pcnn_conv_bwd_data__avx512bf16(float *din, const float *dout, const float *w,
                                    const pcnn_conv_t *c) {
  if (c->k == 1 && !cb_dot_fits(c) && c1_conv_bwd_data(din, dout, w, c)) return;
  if (!cb_conv_bwd_data(din, dout, w, c)) pcnn_conv_bwd_data__ref_bf16(din, dout, w, c);
}
