// test_bench_smoke.cc: runs the benchmark binary (PCNN_BENCH_BIN, set by
// `make test`) in smoke mode (PCNN_BENCH_SMOKE=1: tiny shapes, one iteration
// each) and checks that it exits 0, ran every benchmark it registered, that
// every row of the kernel list has a benchmark, and that the only errors are
// "ISA not supported" skips. No timing is checked.
// The rounds: the harness's --pcnn_rounds order (ours, then the peers, the
// reverse in even rounds) and its median rows; scripts/bench.sh in smoke mode
// into a scratch directory (the model rounds against PyTorch, the merge, the
// report and its two charts); scripts/report's per-round ratios on planted
// times where the median of the ratios differs from the ratio of the medians.
#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <iostream>
#include <string>
#include <vector>

#include "pcnn_kernels.h"
#include "cli_util.h"
#include "test_util.h"

namespace {

using pt::cli::run_shell;
using pt::cli::slurp;

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

// the source tree (make test sets PCNN_SRC_DIR) and the bench binary as absolute paths
std::string src_dir() {
  const char *s = std::getenv("PCNN_SRC_DIR");
  return s && *s ? s : ".";
}
std::string abs_path(const std::string &p) {
  char buf[PATH_MAX];
  return realpath(p.c_str(), buf) ? std::string(buf) : p;
}

size_t count(const std::string &s, const std::string &what) {
  size_t n = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) n++;
  return n;
}

bool is_isa(const std::string &s) {
  for (int i = 0; i < PCNN_ISA_FP32_COUNT; i++)
    if (s == pcnn_isa_name((pcnn_isa_t)i)) return true;
  return false;
}

// --pcnn_rounds=3 on one conv shape: round 1 runs our rows then the peers,
// round 2 the reverse, round 3 as round 1; the slow reference rows run outside
// the rounds; every row of the rounds gets one median aggregate in the JSON
TEST(BenchSmoke, HarnessRoundsAlternateOursAndPeers) {
  const char *bin = std::getenv("PCNN_BENCH_BIN");
  if (!bin || !*bin) GTEST_SKIP() << "PCNN_BENCH_BIN not set (make test sets it)";
  pt::TmpDir tmp;
  const std::string json = tmp / "rounds.json", shape = "conv_fwd/3x3B_4-4/";
  std::string out;
  ASSERT_EQ(run_shell("PCNN_BENCH_SMOKE=1 " + std::string(bin) + " --pcnn_rounds=3 --benchmark_filter=^" +
                          shape + " --benchmark_out=" + json,
                      &out),
            0)
      << out;
  for (const char *t : {"t1", "t2"}) {
    std::vector<std::string> order[4];  // impls in run order, per round 1..3
    for (const std::string &l : lines(out)) {
      if (l.rfind(shape, 0) != 0 || l.find("/" + std::string(t) + "/") == std::string::npos) continue;
      const std::string impl = l.substr(shape.size(), l.find('/', shape.size()) - shape.size());
      const size_t r = l.find("round=");
      if (impl == "ref") {
        EXPECT_EQ(r, std::string::npos) << "a slow row ran in the rounds: " << l;
        continue;
      }
      if (l.find("_median") != std::string::npos || l.find("ERROR OCCURRED") != std::string::npos) continue;
      ASSERT_NE(r, std::string::npos) << "a row with peers ran outside the rounds: " << l;
      const int k = std::atoi(l.c_str() + r + 6);
      ASSERT_TRUE(k >= 1 && k <= 3) << l;
      order[k].push_back(impl);
    }
    ASSERT_GE(order[1].size(), 2u) << out;
    bool peer_seen = false;  // round 1: every one of ours before every peer
    for (const std::string &i : order[1]) {
      if (!is_isa(i)) peer_seen = true;
      EXPECT_FALSE(peer_seen && is_isa(i)) << t << ": " << i << " after a peer in round 1";
    }
    EXPECT_TRUE(peer_seen) << t << ": no peer in round 1";
    const std::vector<std::string> rev(order[1].rbegin(), order[1].rend());
    EXPECT_EQ(order[2], rev) << t << ": round 2 is not round 1 reversed";
    EXPECT_EQ(order[3], order[1]) << t << ": round 3 is not round 1's order";
    const std::string js = slurp(json);
    for (const std::string &i : order[1])
      EXPECT_EQ(count(js, "\"" + shape + i + "/" + t + "/iterations:1/real_time_median\""), 1u)
          << "no single median row for " << i << "/" << t;
  }
}

// scripts/bench.sh in smoke mode, 2 rounds, into a scratch directory: the
// model rows run in the rounds (2 round entries per row, PyTorch beside them)
// and not again in the main harness run; RESULTS.md states the method and
// has the rounds table; ratios.png and profile.png are drawn
TEST(BenchSmoke, ScriptRunsModelRoundsAgainstPyTorch) {
  const char *bin = std::getenv("PCNN_BENCH_BIN");
  if (!bin || !*bin) GTEST_SKIP() << "PCNN_BENCH_BIN not set (make test sets it)";
  std::string out;
  if (run_shell("/usr/bin/python3 -c 'import torch'", &out) != 0)
    GTEST_SKIP() << "no torch for /usr/bin/python3 (scripts/install-deps.sh --bench)";
  pt::TmpDir tmp;
  const std::string env = "PCNN_BENCH_SMOKE=1 PCNN_BENCH_ROUNDS=2 PCNN_BENCH_MIN_TIME=0.01 PCNN_BENCH_OUT_DIR=" +
                          tmp.path + " PCNN_BENCH_FILTER='^model/(forward|train_step|profile_)|^" +
                          "conv_fwd/3x3B_4-4/' ";
  ASSERT_EQ(run_shell(env + "timeout 600 " + src_dir() + "/scripts/bench.sh " + abs_path(bin), &out), 0) << out;
  std::string json;
  ASSERT_EQ(run_shell("ls " + (tmp / "results") + "/*.json", &json), 0) << json;
  json = lines(json).at(0);
  const std::string js = slurp(json);
  ASSERT_FALSE(js.empty()) << json;
  EXPECT_EQ(run_shell("ls " + (tmp / "results") + "/*.tmp", &out), 2) << "scratch files left: " << out;

  std::string tsv;
  ASSERT_EQ(run_shell("/usr/bin/python3 " + src_dir() + "/scripts/report rounds " + json, &tsv), 0) << tsv;
  for (const char *row : {"model/forward/t1\ttorch\t2\t", "model/forward/t2\ttorch\t2\t",
                          "model/train_step/t1\ttorch\t2\t", "model/train_step/t2\ttorch\t2\t",
                          "conv_fwd/3x3B_4-4/t1\tbest\t2\t"})
    EXPECT_NE(tsv.find(row), std::string::npos) << "no 2-round ratio for " << row << " in\n" << tsv;
  EXPECT_EQ(tsv.find("sample_pixel"), std::string::npos) << "the filter left sample_pixel out:\n" << tsv;

  // each model row: 2 round entries and 1 median, none from the main harness run
  std::string best;
  ASSERT_EQ(run_shell(std::string(bin) + " --benchmark_list_tests=true --benchmark_filter=^model/profile_forward/",
                      &best),
            0);
  best = best.substr(std::string("model/profile_forward/").size());
  best = best.substr(0, best.find('/'));
  for (const char *what : {"forward", "train_step"})
    for (const char *t : {"t1", "t2"}) {
      const std::string run = std::string("model/") + what + "/" + best + "/" + t + "/iterations:1/real_time";
      EXPECT_EQ(count(js, "\"run_name\": \"" + run + "\""), 3u) << run << ": want 2 rounds + 1 median";
      EXPECT_EQ(count(js, "\"name\": \"" + run + "_median\""), 1u) << run;
      for (const char *fmt : {"nchw", "channels_last"})
        EXPECT_EQ(count(js, std::string("\"name\": \"torch/model/") + what + "/" + fmt + "/" + t + "\""), 3u)
            << what << " " << fmt << " " << t;
    }

  const std::string md = slurp(tmp / "RESULTS.md");
  EXPECT_NE(md.find("- Method: "), std::string::npos) << md;
  EXPECT_NE(md.find("### Whole model against PyTorch, in rounds"), std::string::npos) << md;
  EXPECT_NE(md.find("![where the time goes](profile.png)"), std::string::npos) << md;
  for (const char *png : {"ratios.png", "profile.png"})
    EXPECT_GT(slurp(tmp / png).size(), 1000u) << png;

  // data-parallel training: one process and 2 ranks in each round, a median each
  const std::string mpi_bin = std::string(bin).substr(0, std::string(bin).rfind('/') + 1) + "pcnn_bench_mpi";
  if (access(mpi_bin.c_str(), X_OK) != 0 || run_shell("command -v mpirun", &out) != 0) {
    std::cout << "[  NOTE    ] no " << mpi_bin << " or mpirun: the MPI rows were not checked\n";
    return;
  }
  for (const char *row : {"mpi/train_step/r1t2", "mpi/train_step/r2t1", "mpi/exchange/r2"}) {
    EXPECT_EQ(count(js, std::string("\"run_name\": \"") + row + "\""), 3u) << row << ": want 2 rounds + 1 median";
    EXPECT_EQ(count(js, std::string("\"name\": \"") + row + "_median\""), 1u) << row;
  }
  EXPECT_NE(md.find("## Training over MPI ranks"), std::string::npos) << md;
  EXPECT_NE(md.find("r2t1 against r1t2"), std::string::npos) << md;
}

// scripts/report on planted round entries: the ratio is the median of the
// per-round ratios (PyTorch at its faster layout of each round; our fastest
// SIMD row against a peer), not the ratio of the medians
TEST(BenchReport, MedianOfPerRoundRatios) {
  pt::TmpDir tmp;
  std::ofstream f(tmp / "planted.json");
  f << "{\"context\": {\"cpu_model\": \"planted\", \"cores\": 2, \"avx512\": true, \"date\": \"-\", "
       "\"git_commit\": \"-\", \"caches\": \"hot\", \"kernel_rounds\": 3, \"model_rounds\": 3},\n"
       "\"benchmarks\": [\n";
  // a round entry (round 1..3) or, for round 0, the row's median entry
  const char *sep = "";
  auto entry = [&](const std::string &run, int round, double ms) {
    const bool torch = run.rfind("torch/", 0) == 0;
    f << sep << "{\"name\": \"" << run << (round || torch ? "" : "_median") << "\", \"run_name\": \"" << run
      << "\", " << (round ? "\"round\": " + std::to_string(round) : std::string("\"aggregate_name\": \"median\""))
      << ", \"real_time\": " << ms << ", \"time_unit\": \"ms\"}";
    sep = ",\n";
  };
  // model: ours 10, 10, 40; PyTorch's faster layout per round 20, 12, 40 ->
  // ratios 2.0, 1.2, 1.0: median 1.2, mean 1.4 (the medians, 10 and 20, would say 2.0)
  const double ours[] = {10, 10, 40}, nchw[] = {20, 15, 40}, cl[] = {30, 12, 50};
  // kernel: our fastest row per round 4, 5, 2; the peer 12, 5, 3 -> ratios 3, 1, 1.5:
  // median 1.5, mean 1.83 (the medians, 4 for avx512 and 5 for the peer, would say 1.25)
  const double avx2[] = {5, 5, 5}, avx512[] = {4, 6, 2}, dnn[] = {12, 5, 3};
  for (int k = 0; k < 3; k++) {
    entry("model/forward/avx512/t1/real_time", k + 1, ours[k]);
    entry("torch/model/forward/nchw/t1", k + 1, nchw[k]);
    entry("torch/model/forward/channels_last/t1", k + 1, cl[k]);
    entry("conv_fwd/3x3B_64-64/avx2/t1/real_time", k + 1, avx2[k]);
    entry("conv_fwd/3x3B_64-64/avx512/t1/real_time", k + 1, avx512[k]);
    entry("conv_fwd/3x3B_64-64/onednn_blocked/t1/real_time", k + 1, dnn[k]);
  }
  entry("model/forward/avx512/t1/real_time", 0, 10);
  entry("torch/model/forward/nchw/t1", 0, 20);
  entry("torch/model/forward/channels_last/t1", 0, 30);
  entry("conv_fwd/3x3B_64-64/avx2/t1/real_time", 0, 5);
  entry("conv_fwd/3x3B_64-64/avx512/t1/real_time", 0, 4);
  entry("conv_fwd/3x3B_64-64/onednn_blocked/t1/real_time", 0, 5);
  f << "\n]}\n";
  f.close();

  const std::string report = "/usr/bin/python3 " + src_dir() + "/scripts/report ";
  std::string tsv, out;
  ASSERT_EQ(run_shell(report + "rounds " + (tmp / "planted.json"), &tsv), 0) << tsv;
  EXPECT_NE(tsv.find("model/forward/t1\ttorch\t3\t1.2000\t1.0000\t2.0000\n"), std::string::npos) << tsv;
  EXPECT_NE(tsv.find("conv_fwd/3x3B_64-64/t1\tonednn_blocked\t3\t1.5000\t1.0000\t3.0000\n"), std::string::npos)
      << tsv;
  ASSERT_EQ(run_shell(report + "render " + (tmp / "planted.json") + " " + (tmp / "R.md"), &out), 0) << out;
  const std::string md = slurp(tmp / "R.md");
  EXPECT_NE(md.find("| forward | 1 | 10 | 20 | 1.20x | 1.00-2.00 | 3 | channels_last 1, nchw 2 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| 5 (1.50x, 1.00-3.00) |"), std::string::npos) << md;
}

}  // namespace
