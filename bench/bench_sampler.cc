// bench_sampler.cc: the caching sampler (model/sample_cached.c) on the seed
// model (F = 128, D = 6, bernoulli head, 28x28; smoke mode: F = 8, D = 1, 6x6,
// batch 2), random-init weights, at each SIMD level and 1 and 2 threads:
//   model/sample_cached/<isa>/t<n>        one iteration draws a whole batch of
//                                         32 images (compare: 784 x the naive
//                                         sampler's model/sample_pixel)
//   model/sample_cached_n<B>/avx512/t2    the same at batch B = 1, 8, 64
//   model/sample_cached_s<S>/avx512/t2    batch 32 at image size S x S = 32, 64
//   model/sample_cached/avx512bf16/t<n>  the same in bf16 precision (when built)
//   model/profile_sample_cached/<best isa>/t<n>  the first rows with the model's
//                                         profile on: counters <role>.fwd_ms (each
//                                         layer's per-position work), glue_ms (draws,
//                                         set-up, the rest)
// Counter images_per_s: images drawn per second.
// Registered by a static initialiser, so bench_main.cc needs no change.
#include <omp.h>

#include <string>
#include <vector>

#include "bench_util.h"
extern "C" {  // model.h and sample.h have no extern "C" guard of their own
#include "model.h"
#include "sample.h"
}

namespace pcnn_bench {

void profile_counters(benchmark::State &st, const pcnn_model_t &m, const std::vector<double> &prof,
                      bool train, double whole);  // bench_model.cc
void plan_for_level(pcnn_model_t *m, pcnn_isa_t isa);  // bench_model.cc
pcnn_isa_t bf16_bench_level();                        // bench_model.cc

namespace {

void sampler_bench(benchmark::State &st, int n, pcnn_isa_t isa, int threads, int size, bool profile) {
  const IsaScope scope(st, isa, threads);
  if (!scope.ok()) return;
  pcnn_config_t cfg = pcnn_config_default();
  cfg.height = cfg.width = size;
  if (smoke()) {
    cfg.filters = 8;
    cfg.depth = 1;
    cfg.height = cfg.width = 6;
  }
  pcnn_model_t m;
  char err[256];
  if (pcnn_model_init(&m, &cfg, 1234, 0, err) != 0) {
    skip(st, err);
    return;
  }
  plan_for_level(&m, isa);
  Buf img((size_t)n * cfg.height * cfg.width * cfg.channels);
  uint64_t seed = 1;
  std::vector<double> prof(pcnn_model_prof_len(&m), 0.0);
  if (profile) pcnn_model_profile(&m, prof.data());
  double whole = 0;
  for (auto _ : st) {
    const double t0 = omp_get_wtime();
    if (pcnn_sample_cached(&m, img.get(), n, 0, 1.0f, seed++, nullptr, nullptr, nullptr) != 0) {
      st.SkipWithError("out of memory");
      break;
    }
    whole += omp_get_wtime() - t0;
  }
  if (profile) {
    pcnn_model_profile(&m, nullptr);
    profile_counters(st, m, prof, false, whole);
  }
  benchmark::DoNotOptimize(img.get()[0]);
  st.SetItemsProcessed((int64_t)st.iterations() * n);
  st.counters["images_per_s"] =
      benchmark::Counter((double)n * (double)st.iterations(), benchmark::Counter::kIsRate);
  pcnn_model_free(&m);
}

int register_sampler() {
  std::vector<pcnn_isa_t> levels;
  for (int i = 1; i < PCNN_ISA_FP32_COUNT; i++) levels.push_back((pcnn_isa_t)i);  // not the scalar GEMM
  const pcnn_isa_t bf = bf16_bench_level();
  if (bf != PCNN_ISA_REF) levels.push_back(bf);
  for (pcnn_isa_t isa : levels)
    for (int t : thread_counts()) {
      const std::string name =
          std::string("model/sample_cached/") + pcnn_isa_name(isa) + "/t" + std::to_string(t);
      policy(benchmark::RegisterBenchmark(name.c_str(), sampler_bench, batch(), isa, t, 28, false), name, false);
    }
  pcnn_isa_t best = PCNN_ISA_REF;
  for (int i = 1; i < PCNN_ISA_FP32_COUNT; i++)
    if (pcnn_isa_supported((pcnn_isa_t)i)) best = (pcnn_isa_t)i;
  for (pcnn_isa_t lv : {best, bf})
    if (lv != PCNN_ISA_REF)
      for (int t : thread_counts()) {
        const std::string name = std::string("model/profile_sample_cached/") + pcnn_isa_name(lv) + "/t" +
                                 std::to_string(t);
        policy(benchmark::RegisterBenchmark(name.c_str(), sampler_bench, batch(), lv, t, 28, true), name, false);
      }
  for (int n : {1, 8, 64}) {
    const std::string name = "model/sample_cached_n" + std::to_string(n) + "/avx512/t2";
    policy(benchmark::RegisterBenchmark(name.c_str(), sampler_bench, n, PCNN_ISA_AVX512, 2, 28, false), name,
           false);
  }
  for (int size : {32, 64}) {  // cost against image size, batch 32
    const std::string name = "model/sample_cached_s" + std::to_string(size) + "/avx512/t2";
    policy(benchmark::RegisterBenchmark(name.c_str(), sampler_bench, batch(), PCNN_ISA_AVX512, 2, size, false),
           name, false);
  }
  return 0;
}

const int registered = register_sampler();

}  // namespace
}  // namespace pcnn_bench
