// bench_peak.cc: this machine's FP32 FMA peak, measured, so kernel results
// can be given as a fraction of it. peak/fma/<isa>/t<threads> runs the loops
// of peak__avx2.c / peak__avx512.c on each thread; the GFLOPs counter is the
// peak. peak/dpbf16/avx512bf16/t<threads>: the bf16 dot-product peak
// (VDPBF16PS, 2 products a lane, fp32 accumulate), the bf16 kernels' peak.
#include <string>

#include "bench_util.h"
#include "peak.h"

namespace pcnn_bench {

namespace {
void peak(benchmark::State &st, pcnn_isa_t isa, int threads) {
  if (!pcnn_isa_supported(isa)) {
    skip(st, "ISA not supported on this CPU");
    return;
  }
  const long rounds = smoke() ? 1000 : 1000000;
  /* flops a lane per accumulator update: 2 (FMA), 4 (two bf16 products) */
  const int lanes = isa == PCNN_ISA_AVX2 ? 8 : isa == PCNN_ISA_AVX512 ? 16 : 32;
  float (*fn)(long) = isa == PCNN_ISA_AVX512       ? pcnn_peak_fma__avx512
                      : isa == PCNN_ISA_AVX512BF16 ? pcnn_peak_dpbf16__avx512bf16
                                                   : pcnn_peak_fma__avx2;
  float sink = 0;
  for (auto _ : st) {
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += fn(rounds);
  }
  benchmark::DoNotOptimize(sink);
  st.counters["GFLOPs"] = benchmark::Counter(
      1e-9 * 2.0 * PCNN_PEAK_ACC * lanes * (double)rounds * threads * (double)st.iterations(),
      benchmark::Counter::kIsRate);
}
}  // namespace

void register_peak() {
  for (pcnn_isa_t isa : {PCNN_ISA_AVX2, PCNN_ISA_AVX512, PCNN_ISA_AVX512BF16})
    for (int t : thread_counts()) {
      std::string name = std::string(isa == PCNN_ISA_AVX512BF16 ? "peak/dpbf16/" : "peak/fma/") +
                         pcnn_isa_name(isa) + "/t" + std::to_string(t);
      auto *b = benchmark::RegisterBenchmark(name.c_str(), peak, isa, t);
      policy(b, name, false);
    }
}

}  // namespace pcnn_bench
