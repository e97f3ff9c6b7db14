// test_infer.cc: the depth-first forward paths (model.c) give the same bits
// as the layer-by-layer forward over the whole batch.
//  - pcnn_model_infer (per-thread one-image buffers reused by liveness) and
//    the depth-first training forward (pcnn_model_forward with fwd_tiled)
//    against fwd_tiled = 0, at every kernel level the CPU runs, at 1, 2 and 3
//    threads, for batch sizes that do and do not split into whole images per
//    thread, grayscale and RGB, both heads;
//  - after the depth-first training forward, backward computes the same
//    gradients (every activation it reads was written);
//  - backward's gradients (fixed groups of images) are the same bits at 1 to
//    4 threads;
//  - the one-image buffers: the seed's inference needs 4 a thread, the
//    training forward 2 (PReLU outputs only);
//  - the training step (forward keeping only the pre slots, backward
//    recomputing the PReLU outputs) gives the same bits as forward keeping
//    everything + loss + backward + step.
#include <omp.h>

#include <cstring>
#include <vector>

#include "config_name.h"
#include "test_util.h"

extern "C" {
#include "model.h"
}

namespace {

// restores the thread count and the process-wide kernel level
struct KeepThreads {
  int n = omp_get_max_threads();
  pcnn_isa_t isa = pcnn_kernels_isa();
  ~KeepThreads() {
    omp_set_num_threads(n);
    pcnn_kernels_set_isa(isa);
  }
};

struct Result {
  std::vector<float> logits, grads;
};

// logits of model(in) by infer or forward, and the gradients of one
// forward + loss + backward (forward by the same path)
Result run(const pcnn_config_t &cfg, pcnn_isa_t isa, int n, int tiled, bool infer) {
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  Result r;
  EXPECT_EQ(pcnn_kernels_set_isa(isa), 0);
  EXPECT_EQ(pcnn_model_init(&m, &cfg, 11, n, err), 0) << err; // the plan: every entry at isa
  m.fwd_tiled = tiled;
  const std::vector<float> in = model_batch(n, cfg, 3);
  const size_t nl = (size_t)n * cfg.height * cfg.width * cfg.channels * m.k_out;
  if (infer)
    pcnn_model_infer(&m, in.data(), n);
  else
    pcnn_model_forward(&m, in.data(), n);
  r.logits.assign(m.logits, m.logits + nl);
  if (!infer) {
    pcnn_model_loss(&m, in.data(), n, 1.f / n);
    pcnn_model_zero_grad(&m);
    pcnn_model_backward(&m, in.data(), n);
    r.grads.assign(m.grads, m.grads + m.nparams);
  }
  pcnn_model_free(&m);
  return r;
}

TEST(Infer, DepthFirstSameBitsAsLayerByLayer) {
  KeepThreads keep;
  const pcnn_config_t cfgs[] = {
      {1, 16, 2, PCNN_HEAD_BERNOULLI, 9, 7},
      {3, 12, 1, PCNN_HEAD_SOFTMAX256, 6, 5},
  };
  int checked = 0;
  for (const pcnn_config_t &cfg : cfgs)
    for (int isa = 0; isa < PCNN_ISA_FP32_COUNT; isa++) {
      if (!pcnn_isa_supported((pcnn_isa_t)isa)) continue;
      for (int threads : {1, 2, 3})
        for (int n : {1, 2, 4, 5, 12}) {
          omp_set_num_threads(threads);
          const Result base = run(cfg, (pcnn_isa_t)isa, n, 0, false);
          const Result inf = run(cfg, (pcnn_isa_t)isa, n, 1, true);
          const Result fwd = run(cfg, (pcnn_isa_t)isa, n, 1, false);
          // the depth-first regions set one thread for the kernels inside
          // them only: the caller's count is unchanged
          EXPECT_EQ(omp_get_max_threads(), threads);
          const std::string at = pcnn_isa_name((pcnn_isa_t)isa) + std::string(" threads ") +
                                 std::to_string(threads) + " n " + std::to_string(n) + " C" +
                                 std::to_string(cfg.channels);
          ASSERT_EQ(base.logits.size(), inf.logits.size());
          EXPECT_EQ(0, memcmp(base.logits.data(), inf.logits.data(), base.logits.size() * 4))
              << "infer logits, " << at;
          EXPECT_EQ(0, memcmp(base.logits.data(), fwd.logits.data(), base.logits.size() * 4))
              << "forward logits, " << at;
          EXPECT_EQ(0, memcmp(base.grads.data(), fwd.grads.data(), base.grads.size() * 4))
              << "gradients after the depth-first forward, " << at;
          checked++;
        }
    }
  EXPECT_GE(checked, 30);
}

// Backward sums the parameter gradients in fixed groups of images: the bits
// do not depend on the thread count, whether threads take whole groups (n =
// 12: 12 groups) or the groups run in turn with the kernels split (n = 2 at 3
// threads).
TEST(Infer, BackwardGroupsSameBitsAtAnyThreadCount) {
  KeepThreads keep;
  const pcnn_config_t cfg = {1, 16, 2, PCNN_HEAD_BERNOULLI, 9, 7};
  for (int n : {2, 12, 20}) {
    omp_set_num_threads(1);
    const Result one = run(cfg, pcnn_kernels_isa(), n, 1, false);
    for (int threads : {2, 3, 4}) {
      omp_set_num_threads(threads);
      const Result r = run(cfg, pcnn_kernels_isa(), n, 1, false);
      EXPECT_EQ(0, memcmp(one.grads.data(), r.grads.data(), one.grads.size() * 4))
          << "n " << n << " threads " << threads;
    }
  }
}

TEST(Infer, SeedImageBuffers) {
  KeepThreads keep;
  omp_set_num_threads(2);
  pcnn_config_t cfg = pcnn_config_default();
  cfg.height = cfg.width = 6; // the buffers count slots, not pixels
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_model_init(&m, &cfg, 1, 2, err), 0) << err;
  const std::vector<float> in = model_batch(2, cfg, 1);
  pcnn_model_infer(&m, in.data(), 2);
  pcnn_model_train_step(&m, in.data(), 2);
  // inference: every slot but the logits in a one-image buffer, 4 of them;
  // the training forward: the PReLU outputs only, 2 of them
  EXPECT_EQ(m.place_nbuf[1], 4);
  EXPECT_EQ(m.place_ch[1], cfg.filters);
  EXPECT_EQ(m.place_nbuf[0], 2);
  const int logits = m.layers[m.nlayers - 1].pre;
  for (int s = 0; s < m.nslots; s++) {
    EXPECT_EQ(m.place[1][s] < 0, s == logits) << m.slots[s].name;
    EXPECT_EQ(m.place[0][s] < 0, m.writer[s] < 0) << m.slots[s].name;
  }
  // two slots a layer touches never share a buffer
  for (int q = 0; q < 2; q++)
    for (int i = 0; i < m.nlayers; i++) {
      const pcnn_layer_t &l = m.layers[i];
      const int sl[4] = {l.src, l.res, l.pre, l.out};
      for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
          if (sl[a] >= 0 && sl[b] >= 0 && m.place[q][sl[a]] >= 0) {
            EXPECT_NE(m.place[q][sl[a]], m.place[q][sl[b]]) << l.name;
          }
    }
  pcnn_model_free(&m);
}

// The training step's forward keeps only the pre slots and backward
// recomputes the PReLU outputs: the same bits as a forward that keeps
// everything, then loss, backward and step.
TEST(Infer, TrainStepKeepsOnlyWhatBackwardReads) {
  KeepThreads keep;
  for (const pcnn_config_t &cfg : {pcnn_config_t{1, 16, 2, PCNN_HEAD_BERNOULLI, 9, 7},
                                   pcnn_config_t{3, 12, 1, PCNN_HEAD_SOFTMAX256, 6, 5}})
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      const int n = 4;
      pcnn_model_t a, b;
      char err[PCNN_ERR_LEN];
      ASSERT_EQ(pcnn_model_init(&a, &cfg, 5, n, err), 0) << err;
      ASSERT_EQ(pcnn_model_init(&b, &cfg, 5, n, err), 0) << err;
      const std::vector<float> in = model_batch(n, cfg, 8);
      for (int step = 0; step < 2; step++) {
        const double na = pcnn_model_train_step(&a, in.data(), n);
        pcnn_model_forward(&b, in.data(), n);
        const double nb = pcnn_model_loss(&b, in.data(), n, 1.f / n);
        pcnn_model_zero_grad(&b);
        pcnn_model_backward(&b, in.data(), n);
        pcnn_model_step(&b);
        EXPECT_EQ(na, nb);
      }
      EXPECT_EQ(0, memcmp(a.grads, b.grads, a.nparams * sizeof(float))) << "threads " << threads;
      EXPECT_EQ(0, memcmp(a.params, b.params, a.nparams * sizeof(float))) << "threads " << threads;
      pcnn_model_free(&a);
      pcnn_model_free(&b);
    }
}

}  // namespace
