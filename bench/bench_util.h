// bench_util.h: shapes, buffers and counters shared by the benchmark files.
// Shapes are the seed model's layers (N = 32 images of 28x28, F = 128) and the
// RGB first layer; PCNN_BENCH_SMOKE=1 swaps in tiny shapes and one iteration
// per benchmark (tests/test_bench_smoke.cc runs that).
#ifndef PCNN_BENCH_UTIL_H
#define PCNN_BENCH_UTIL_H

#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pcnn_kernels.h"

namespace pcnn_bench {

inline bool smoke() {
  const char *s = std::getenv("PCNN_BENCH_SMOKE");
  return s && *s && std::strcmp(s, "0") != 0;
}

struct ConvShape {
  std::string name;  // e.g. "3x3B_64-64"
  pcnn_conv_t c{};
};

inline pcnn_conv_t conv(int n, int hw, int cin, int cout, int k, int mask, int groups) {
  pcnn_conv_t c{};
  c.n = n;
  c.h = c.w = hw;
  c.cin = cin;
  c.cout = cout;
  c.k = k;
  c.mask = mask;
  c.groups = groups;
  return c;
}

// plain conv op shapes (conv_fwd / conv_bwd_data / conv_bwd_weights)
inline std::vector<ConvShape> conv_shapes() {
  if (smoke())
    return {{"7x7A_1-8", conv(2, 6, 1, 8, 7, PCNN_MASK_A, 1)},
            {"3x3B_4-4", conv(2, 6, 4, 4, 3, PCNN_MASK_B, 1)},
            {"1x1B_4-8", conv(2, 6, 4, 8, 1, PCNN_MASK_B, 1)},
            {"7x7A_3-6_g3", conv(2, 6, 3, 6, 7, PCNN_MASK_A, 3)}};
  return {{"7x7A_1-128", conv(32, 28, 1, 128, 7, PCNN_MASK_A, 1)},
          {"3x3B_64-64", conv(32, 28, 64, 64, 3, PCNN_MASK_B, 1)},
          {"1x1B_64-128", conv(32, 28, 64, 128, 1, PCNN_MASK_B, 1)},
          {"7x7A_3-120_g3", conv(32, 28, 3, 120, 7, PCNN_MASK_A, 3)}};
}

// fused masked 1x1 conv + PReLU shapes (conv1x1_prelu_*)
inline std::vector<ConvShape> fused_shapes() {
  if (smoke())
    return {{"1x1B_8-4", conv(2, 6, 8, 4, 1, PCNN_MASK_B, 1)},
            {"1x1B_8-8", conv(2, 6, 8, 8, 1, PCNN_MASK_B, 1)}};
  return {{"1x1B_128-64", conv(32, 28, 128, 64, 1, PCNN_MASK_B, 1)},
          {"1x1B_128-128", conv(32, 28, 128, 128, 1, PCNN_MASK_B, 1)}};
}

inline size_t pixels() { return smoke() ? 2 * 6 * 6 : (size_t)32 * 28 * 28; }
inline int batch() { return smoke() ? 2 : 32; }
inline std::vector<int> thread_counts() { return {1, 2}; }
// parameters of the seed model (F = 128, D = 6, bernoulli head)
inline size_t seed_params() { return smoke() ? 1000 : 362497; }

// 64-byte aligned float buffer, filled from a fixed-seed generator
class Buf {
 public:
  explicit Buf(size_t n) : n_(n) {
    p_ = static_cast<float *>(std::aligned_alloc(64, ((n ? n : 1) * sizeof(float) + 63) / 64 * 64));
    std::memset(p_, 0, n_ * sizeof(float));
  }
  ~Buf() { std::free(p_); }
  Buf(const Buf &) = delete;
  Buf &operator=(const Buf &) = delete;
  float *get() { return p_; }
  const float *get() const { return p_; }
  size_t size() const { return n_; }
  // uniform in [lo, hi)
  Buf &rand(float lo, float hi, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n_; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      p_[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
    return *this;
  }
  Buf &zero() {
    std::memset(p_, 0, n_ * sizeof(float));
    return *this;
  }

 private:
  size_t n_;
  float *p_;
};

// masked weights [k][k][cin][cout]: masked taps are 0
inline void masked_weights(Buf &w, const pcnn_conv_t &c, uint64_t seed) {
  w.rand(-0.1f, 0.1f, seed);
  Buf m(w.size());
  pcnn_mask_fill(m.get(), &c);
  for (size_t i = 0; i < w.size(); i++) w.get()[i] *= m.get()[i];
}

inline size_t act_size(const pcnn_conv_t &c, int ch) { return (size_t)c.n * c.h * c.w * ch; }
inline size_t w_size(const pcnn_conv_t &c) { return (size_t)c.k * c.k * c.cin * c.cout; }

// GFLOP/s counters: useful (taps the mask keeps) and dense (as benchdnn counts)
inline void conv_counters(benchmark::State &st, const pcnn_conv_t &c) {
  const double it = (double)st.iterations();
  st.counters["GFLOPs_useful"] =
      benchmark::Counter(2e-9 * pcnn_conv_useful_macs(&c) * it, benchmark::Counter::kIsRate);
  st.counters["GFLOPs_dense"] =
      benchmark::Counter(2e-9 * pcnn_conv_dense_macs(&c) * it, benchmark::Counter::kIsRate);
}

// Every registered benchmark, in registration order (bench_rounds.cc walks it):
// the family name (e.g. conv_fwd/3x3B_64-64/avx512/t1), the name Google
// Benchmark gives the run (family name + /min_time:0.050 for slow rows,
// /iterations:1 in smoke mode, /real_time), and whether it is a slow row.
struct Registered {
  std::string name;
  std::string run_name;
  benchmark::internal::Benchmark *b;
  bool slow;
};
inline std::vector<Registered> &registry() {
  static std::vector<Registered> r;
  return r;
}

// every benchmark: real time in ms; smoke mode runs each once; slow rows
// (the scalar reference kernels) get a short min time so they run ~1-3 times;
// name is the name b was registered with (recorded in registry())
inline benchmark::internal::Benchmark *policy(benchmark::internal::Benchmark *b, const std::string &name,
                                              bool slow) {
  b->UseRealTime()->Unit(benchmark::kMillisecond);
  std::string run_name = name;
  if (smoke()) {
    b->Iterations(1);
    run_name += "/iterations:1";
  } else if (slow) {
    b->MinTime(0.05);
    run_name += "/min_time:0.050";
  }
  registry().push_back({name, run_name + "/real_time", b, slow});
  return b;
}

// Skips a benchmark with an error row: runs its (empty) loop once, as Google
// Benchmark requires, after SkipWithError.
inline void skip(benchmark::State &st, const char *why) {
  st.SkipWithError(why);
  for (auto _ : st) {
  }
}

// A benchmark at one kernel level and thread count: ok() is false (and the
// benchmark already skipped) when this CPU lacks the ISA; the process-wide
// level is restored when the scope ends, on every return path.
class IsaScope {
 public:
  IsaScope(benchmark::State &st, pcnn_isa_t isa, int threads) : saved_(pcnn_kernels_isa()) {
    ok_ = pcnn_isa_supported(isa);
    if (!ok_) {
      skip(st, "ISA not supported on this CPU");
      return;
    }
    omp_set_num_threads(threads);
    pcnn_kernels_set_isa(isa);
  }
  ~IsaScope() { pcnn_kernels_set_isa(saved_); }
  IsaScope(const IsaScope &) = delete;
  IsaScope &operator=(const IsaScope &) = delete;
  bool ok() const { return ok_; }

 private:
  pcnn_isa_t saved_;
  bool ok_;
};

void register_kernels();  // bench_kernels.cc: every row of kernels/kernel_list.h
void register_peers();    // bench_peers.cc: oneDNN and libxsmm
void register_peak();     // bench_peak.cc: FMA throughput
void register_model();    // bench_model.cc: forward, training step, sampling

// bench_rounds.cc: runs the registered benchmarks that match the filter and
// not `skip`, the rows that have a peer in `rounds` alternating rounds (R = 0:
// all of them as usual); JSON to out_path if not empty. Returns the exit code.
int run_rounds(int rounds, const std::string &skip, const std::string &out_path);

}  // namespace pcnn_bench

#endif
