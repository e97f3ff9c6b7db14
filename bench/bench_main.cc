// bench_main.cc: registers every benchmark, then runs Google Benchmark.
//   build/pcnn_bench                          everything, each row on its own
//   build/pcnn_bench --benchmark_filter=conv_fwd/3x3B
//   PCNN_BENCH_SMOKE=1 build/pcnn_bench       tiny shapes, one iteration each
//   build/pcnn_bench --pcnn_rounds=5          rows that have a peer (oneDNN,
//       libxsmm) run beside it in 5 alternating rounds, one repetition each,
//       plus a "median" aggregate per row; the others as usual
//       (bench_rounds.cc; what scripts/bench.sh runs)
//   build/pcnn_bench --pcnn_skip=REGEX        leave out the rows whose run name
//       matches REGEX (scripts/bench.sh: the model rows it times in rounds
//       against PyTorch)
// With either flag the rows run through bench_rounds.cc, which writes
// --benchmark_out itself (JSON only).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.h"

namespace {

// the value of --name=value in a (a pointer into a), or nullptr
const char *flag(const std::string &a, const char *name) {
  const std::string pre = std::string("--") + name + "=";
  return a.rfind(pre, 0) == 0 ? a.c_str() + pre.size() : nullptr;
}

}  // namespace

int main(int argc, char **argv) {
  pcnn_bench::register_peak();
  pcnn_bench::register_kernels();
  pcnn_bench::register_peers();
  pcnn_bench::register_model();

  // our flags come out of argv before Google Benchmark reads the rest
  int rounds = -1;
  std::string skip, out, out_format = "json";
  bool listing = false;
  std::vector<char *> rest;
  for (int i = 0; i < argc; i++) {
    const std::string a = argv[i];
    if (const char *v = flag(a, "pcnn_rounds")) {
      char *end;
      rounds = (int)std::strtol(v, &end, 10);
      if (!*v || *end || rounds < 0 || rounds > 1000) {
        std::fprintf(stderr, "pcnn_bench: --pcnn_rounds wants a count 0..1000, got '%s'\n", v);
        return 1;
      }
    } else if (const char *v2 = flag(a, "pcnn_skip")) {
      skip = v2;
    } else {
      if (a == "--benchmark_list_tests" || a == "--benchmark_list_tests=true" || a == "--benchmark_list_tests=1")
        listing = true;
      rest.push_back(argv[i]);
    }
  }
  const bool driver = (rounds >= 0 || !skip.empty()) && !listing;
  if (driver) {  // bench_rounds.cc writes the JSON file, not Google Benchmark
    std::vector<char *> keep;
    for (char *arg : rest) {
      const std::string a = arg;  // flag() points into it
      if (const char *v = flag(a, "benchmark_out"))
        out = v;
      else if (const char *v2 = flag(a, "benchmark_out_format"))
        out_format = v2;
      else
        keep.push_back(arg);
    }
    rest = keep;
    if (out_format != "json") {
      std::fprintf(stderr, "pcnn_bench: with --pcnn_rounds or --pcnn_skip, --benchmark_out is JSON only\n");
      return 1;
    }
  }
  rest.push_back(nullptr);
  int n = (int)rest.size() - 1;
  benchmark::Initialize(&n, rest.data());
  if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 1;
  benchmark::AddCustomContext("pcnn_smoke", pcnn_bench::smoke() ? "1" : "0");
  int code = 0;
  if (driver) {
    benchmark::AddCustomContext("pcnn_rounds", std::to_string(rounds < 0 ? 0 : rounds));
    code = pcnn_bench::run_rounds(rounds < 0 ? 0 : rounds, skip, out);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  return code;
}
