// bench_model.cc: the whole seed model (F = 128, D = 6, bernoulli head, 28x28,
// batch 32; smoke mode: F = 8, D = 1, 6x6, batch 2) at each ISA level of the
// dispatch table and 1 and 2 threads:
//   model/forward/<isa>/t<n>       one inference forward of the batch
//                                  (pcnn_model_infer: logits only, what eval
//                                  and the samplers run; PyTorch's peer row is
//                                  its forward under no_grad)
//   model/train_step/<isa>/t<n>    forward + loss + backward + Nadam step
//   model/sample_pixel/<isa>/t<n>  the seed's naive sampler, one pixel: a full
//                                  inference forward of the batch, then one Bernoulli
//                                  draw per image; a batch of images costs
//                                  H*W of these (the report extrapolates)
//   model/profile_forward/<isa>/t<n>, model/profile_train_step/<isa>/t<n>
//                                  the same runs with the model's profile on
//                                  (pcnn_model_profile): counters <role>.<dir>_ms
//                                  (the kernels of that role's layers, timed
//                                  inside the step), loss_ms, step_ms, and
//                                  glue_ms = the step minus their sum; best
//                                  ISA only
//   model/run_forward/<isa>/t<n>, model/run_train_step/<isa>/t<n>
//                                  make run's model (F = 64, D = 5, batch 32):
//                                  its eval and training images/s; best FP32
//                                  ISA and the bf16 level
// The reference level runs only the forward (a training step takes ~10 s).
// Level avx512bf16: the model in bf16 precision (the default bf16 plan: the
// convolutions on the bf16 kernels, the rest FP32), registered when this
// build has SIMD bf16 kernels (pcnn_bf16_level).
// Counter images_per_s: images of the batch per second (per pixel step for
// sample_pixel).
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "bench_util.h"
extern "C" {  // model.h has no extern "C" guard of its own
#include "model.h"
}

namespace pcnn_bench {

// (also bench_sampler.cc) the profile's counters: per role and direction (ms per step, the kernels
// of that role's layers timed inside the step), loss, step and the glue
void profile_counters(benchmark::State &st, const pcnn_model_t &m, const std::vector<double> &prof,
                      bool train, double whole) {
  const double it = (double)st.iterations();
  double parts = 0;
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < (train ? PCNN_DIRS : 1); d++) {
      double t = 0;
      for (int i = 0; i < m.nlayers; i++)
        if (m.layers[i].role == r) t += prof[(size_t)i * PCNN_DIRS + d];
      parts += t;
      st.counters[std::string(pcnn_role_name(r)) + "." + pcnn_dir_name(d) + "_ms"] = 1e3 * t / it;
    }
  const size_t np = prof.size();
  if (train) {
    st.counters["loss_ms"] = 1e3 * prof[np - 2] / it;
    st.counters["step_ms"] = 1e3 * prof[np - 1] / it;
    parts += prof[np - 2] + prof[np - 1];
  }
  st.counters["glue_ms"] = 1e3 * (whole - parts) / it;
}

// a model timed at a bf16 level runs the bf16 plan (also bench_sampler.cc)
void plan_for_level(pcnn_model_t *m, pcnn_isa_t isa) {
  if (isa < PCNN_ISA_FP32_COUNT) return;
  pcnn_plan_t p;
  pcnn_plan_default_prec(&p, PCNN_PREC_BF16);
  pcnn_model_set_plan(m, &p);
}

// the bf16 level of this build and CPU, or REF if it has no SIMD bf16 kernels
pcnn_isa_t bf16_bench_level() { return pcnn_bf16_level(PCNN_ISA_AVX512BF16); }

namespace {

// the seed's model, or (run) make run's: F = 64, D = 5 (scripts/run.sh)
pcnn_config_t model_cfg(bool run = false) {
  pcnn_config_t cfg = pcnn_config_default();
  if (run) {
    cfg.filters = 64;
    cfg.depth = 5;
  }
  if (smoke()) {
    cfg.filters = 8;
    cfg.depth = 1;
    cfg.height = cfg.width = 6;
  }
  return cfg;
}

// what: 0 forward, 1 training step, 2 one pixel of the naive sampler;
// profile: run with the model's profile on and report where the time went;
// run: make run's model instead of the seed's
void model_bench(benchmark::State &st, int what, pcnn_isa_t isa, int threads, bool profile, bool run) {
  const IsaScope scope(st, isa, threads);
  if (!scope.ok()) return;
  const pcnn_config_t cfg = model_cfg(run);
  const int n = batch();
  pcnn_model_t m;
  char err[256];
  if (pcnn_model_init(&m, &cfg, 1234, n, err) != 0) {
    skip(st, err);
    return;
  }
  plan_for_level(&m, isa);
  const size_t pix = (size_t)cfg.height * cfg.width;
  Buf img(n * pix * cfg.channels);
  img.rand(0, 1, 7);
  for (size_t i = 0; i < img.size(); i++) img.get()[i] = img.get()[i] < 0.3f ? 1.f : 0.f;
  uint64_t rs = 99;
  size_t pos = 0;
  double sink = 0, whole = 0;
  // one untimed warm-up call, as scripts/bench_torch.py does (2 there, 1 in
  // scripts/bench.sh's model rounds): the first call first-touches the ~0.4 GB
  // of activations (page faults)
  if (what == 1)
    sink += pcnn_model_train_step(&m, img.get(), n);
  else
    pcnn_model_infer(&m, img.get(), n);
  std::vector<double> prof(pcnn_model_prof_len(&m), 0.0);
  if (profile) pcnn_model_profile(&m, prof.data());
  for (auto _ : st) {
    const double t0 = profile ? omp_get_wtime() : 0;
    if (what == 0) {
      pcnn_model_infer(&m, img.get(), n);
      sink += m.logits[0];
    } else if (what == 1) {
      sink += pcnn_model_train_step(&m, img.get(), n);
    } else {
      // one pixel of the naive sampler: forward, then draw pixel `pos` of each image
      pcnn_model_infer(&m, img.get(), n);
      for (int i = 0; i < n; i++) {
        rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
        const double u = (double)(rs >> 11) * (1.0 / 9007199254740992.0);
        const float lg = m.logits[(size_t)i * pix + pos];
        img.get()[(size_t)i * pix + pos] = u < 1.0 / (1.0 + std::exp(-(double)lg)) ? 1.f : 0.f;
      }
      pos = (pos + 1) % pix;
    }
    if (profile) whole += omp_get_wtime() - t0;
  }
  benchmark::DoNotOptimize(sink);
  if (profile) {
    profile_counters(st, m, prof, what == 1, whole);
  } else {
    st.SetItemsProcessed((int64_t)st.iterations() * n);
    st.counters["images_per_s"] =
        benchmark::Counter((double)n * (double)st.iterations(), benchmark::Counter::kIsRate);
  }
  pcnn_model_free(&m);
}

}  // namespace

void register_model() {
  pcnn_isa_t best = PCNN_ISA_REF;
  for (int i = 0; i < PCNN_ISA_FP32_COUNT; i++)
    if (pcnn_isa_supported((pcnn_isa_t)i)) best = (pcnn_isa_t)i;
  std::vector<pcnn_isa_t> levels;
  for (int i = 0; i < PCNN_ISA_FP32_COUNT; i++) levels.push_back((pcnn_isa_t)i);
  const pcnn_isa_t bf = bf16_bench_level();
  if (bf != PCNN_ISA_REF) levels.push_back(bf);
  // the profile rows (the seed with its profile on), then make run's model
  // (F = 64, D = 5: its eval and training images/s); best FP32 ISA and bf16
  const struct {
    const char *prefix;
    bool profile, run;
  } kinds[] = {{"model/profile_", true, false}, {"model/run_", false, true}};
  for (const auto &kd : kinds)
    for (pcnn_isa_t lv : {best, bf}) {
      if (lv == PCNN_ISA_REF) continue;
      for (int w = 0; w < 2; w++)
        for (int t : thread_counts()) {
          const std::string name = std::string(kd.prefix) + (w ? "train_step" : "forward") + "/" +
                                   pcnn_isa_name(lv) + "/t" + std::to_string(t);
          policy(benchmark::RegisterBenchmark(name.c_str(), model_bench, w, lv, t, kd.profile, kd.run), name,
                 false);
        }
    }
  static const char *what[] = {"forward", "train_step", "sample_pixel"};
  for (int w = 0; w < 3; w++)
    for (pcnn_isa_t isa : levels)
      for (int t : thread_counts()) {
        // the scalar model takes ~10 s a training step: time only its forward
        if (isa == PCNN_ISA_REF && w != 0 && !smoke()) continue;
        const std::string name = std::string("model/") + what[w] + "/" + pcnn_isa_name(isa) +
                                 "/t" + std::to_string(t);
        auto *b = benchmark::RegisterBenchmark(name.c_str(), model_bench, w, isa, t, false, false);
        policy(b, name, isa == PCNN_ISA_REF);
      }
}

}  // namespace pcnn_bench
