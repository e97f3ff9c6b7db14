// test_bench_smoke.cc: runs the benchmark binary (PCNN_BENCH_BIN, set by
// `make test`) in smoke mode (PCNN_BENCH_SMOKE=1: tiny shapes, one iteration
// each) and checks that it exits 0, ran every benchmark it registered, that
// every row of the kernel list has a benchmark, and that the only errors are
// "ISA not supported" skips. No timing is checked.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "pcnn_kernels.h"
#include "cli_util.h"

namespace {

using pt::cli::run_shell;

std::vector<std::string> lines(const std::string &s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l))
    if (!l.empty()) v.push_back(l);
  return v;
}

TEST(BenchSmoke, RunsEveryRegisteredBenchmark) {
  const char *bin = std::getenv("PCNN_BENCH_BIN");
  if (!bin || !*bin) GTEST_SKIP() << "PCNN_BENCH_BIN not set (make test sets it)";
  const std::string env = "PCNN_BENCH_SMOKE=1 ";
  std::string list, out;
  ASSERT_EQ(run_shell(env + bin + " --benchmark_list_tests=true", &list), 0) << list;
  const std::vector<std::string> names = lines(list);
  ASSERT_GT(names.size(), 10u) << list;

  // every kernel-list row is benchmarked at 1 and 2 threads
  for (int i = 0; i < pcnn_kernel_row_count; i++) {
    const pcnn_kernel_row_t &r = pcnn_kernel_rows[i];
    for (const char *t : {"/t1", "/t2"}) {
      const std::string pre = std::string(r.op_name) + "/";
      const std::string mid = std::string("/") + pcnn_isa_name(r.isa) + t;
      bool found = false;
      for (const std::string &nm : names)
        if (nm.rfind(pre, 0) == 0 && nm.find(mid) != std::string::npos) found = true;
      EXPECT_TRUE(found) << "no benchmark for kernel row " << r.fn_name << t;
    }
  }

  ASSERT_EQ(run_shell(env + bin, &out), 0) << out;
  const std::vector<std::string> outl = lines(out);
  for (const std::string &nm : names) {
    bool found = false;
    for (const std::string &l : outl)
      if (l.rfind(nm + "/", 0) == 0 || l.rfind(nm + " ", 0) == 0) found = true;
    EXPECT_TRUE(found) << "benchmark did not report: " << nm;
  }
  for (const std::string &l : outl) {
    if (l.find("ERROR OCCURRED") == std::string::npos) continue;
    EXPECT_TRUE(l.find("not supported") != std::string::npos ||
                l.find("need AVX-512") != std::string::npos)
        << l;
  }
}

}  // namespace
