// bench_main.cc: registers every benchmark, then runs Google Benchmark.
//   build/pcnn_bench                          everything (what `make bench` runs)
//   build/pcnn_bench --benchmark_filter=conv_fwd/3x3B
//   PCNN_BENCH_SMOKE=1 build/pcnn_bench       tiny shapes, one iteration each
#include "bench_util.h"

int main(int argc, char **argv) {
  pcnn_bench::register_peak();
  pcnn_bench::register_kernels();
  pcnn_bench::register_peers();
  pcnn_bench::register_model();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("pcnn_smoke", pcnn_bench::smoke() ? "1" : "0");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
