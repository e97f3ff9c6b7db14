// test_model.cc: the whole model's backward against central finite
// differences, for both heads and both channel counts, and training on a
// tiny batch makes the loss fall.
#include <omp.h>

#include <cstring>

#include "config_name.h"
#include "test_util.h"

extern "C" {
#include "model.h"
}

namespace {

class ModelGrad : public ::testing::TestWithParam<pcnn_config_t> {};


TEST_P(ModelGrad, BackwardMatchesFiniteDifferences) {
  pcnn_config_t cfg = GetParam();
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  const int n = 2;
  ASSERT_EQ(pcnn_model_init(&m, &cfg, 7, n, err), 0) << err;
  // perturb parameters away from init so PReLU slopes and biases are generic
  pt::Rng r(11);
  for (size_t i = 0; i < m.nparams; i++)
    if (m.params[i] != 0.f) m.params[i] += 0.05f * r.uniform();
  const std::vector<float> in = model_batch(n, cfg, 3);
  auto loss = [&]() {
    pcnn_model_forward(&m, in.data(), n);
    return pcnn_model_loss(&m, in.data(), n, 1.f);
  };
  loss();
  pcnn_model_zero_grad(&m);
  pcnn_model_backward(&m, in.data(), n);
  std::vector<float> grad(m.grads, m.grads + m.nparams);

  // a few parameters of every tensor. A PReLU kink between x - eps and
  // x + eps makes the central difference meaningless there: such an element
  // shows up as FD estimates at eps and eps/2 that disagree, and is skipped;
  // most elements must still be checked.
  int checked = 0, kinks = 0;
  for (int t = 0; t < m.ntensors; t++) {
    const pcnn_tensor_t &T = m.tensors[t];
    for (int s = 0; s < 4; s++) {
      size_t i = T.off + r.next() % T.size;
      if (m.params[i] == 0.f) continue;  // a masked tap
      const float keep = m.params[i];
      double fd[2];
      for (int e = 0; e < 2; e++) {
        const float eps = (e ? 5e-4f : 1e-3f) * std::fmax(1.f, std::fabs(keep));
        m.params[i] = keep + eps;
        const double lp = loss();
        m.params[i] = keep - eps;
        const double lm = loss();
        m.params[i] = keep;
        fd[e] = (lp - lm) / ((double)(keep + eps) - (double)(keep - eps));
      }
      // 1e-3 absolute: the loss is summed over every logit in float, and its
      // rounding noise over 2 eps is a few 1e-4 for the softmax head
      const double tol = 1e-3 + 1e-2 * std::fabs(fd[1]);
      if (std::fabs(fd[0] - fd[1]) > tol) {
        kinks++;
        continue;
      }
      EXPECT_NEAR(grad[i], fd[1], tol) << T.name << " element " << (i - T.off);
      checked++;
    }
    if (strstr(T.name, ".weight")) {
      for (size_t i = T.off; i < T.off + T.size; i++) {
        if (m.params[i] == 0.f) {
          ASSERT_EQ(grad[i], 0.f) << T.name << " masked tap " << i - T.off;
        }
      }
    }
  }
  EXPECT_GT(checked, m.ntensors * 2);
  EXPECT_LE(kinks * 10, checked) << kinks << " elements straddled a kink";
  pcnn_model_free(&m);
}

INSTANTIATE_TEST_SUITE_P(
    Small, ModelGrad,
    ::testing::Values(pcnn_config_t{1, 8, 1, PCNN_HEAD_BERNOULLI, 5, 4},
                      pcnn_config_t{1, 6, 2, PCNN_HEAD_SOFTMAX256, 4, 5},
                      pcnn_config_t{3, 12, 1, PCNN_HEAD_BERNOULLI, 4, 4},
                      pcnn_config_t{3, 6, 1, PCNN_HEAD_SOFTMAX256, 3, 4},
                      pcnn_config_t{1, 4, 0, PCNN_HEAD_BERNOULLI, 3, 3}),
    config_name);

TEST(Model, TrainingLowersTheLossOnAFixedBatch) {
  pcnn_config_t cfg = {1, 16, 2, PCNN_HEAD_BERNOULLI, 8, 8};
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  const int n = 4;
  ASSERT_EQ(pcnn_model_init(&m, &cfg, 1, n, err), 0) << err;
  // a binary checkerboard: learnable from the pixel above / left
  std::vector<float> in((size_t)n * 8 * 8);
  for (size_t i = 0; i < in.size(); i++) in[i] = (float)(((i % 8) + (i / 8) % 8) % 2);
  const double first = pcnn_model_train_step(&m, in.data(), n);
  double last = first;
  for (int i = 0; i < 30; i++) last = pcnn_model_train_step(&m, in.data(), n);
  EXPECT_LT(last, 0.8 * first) << "first " << first << " last " << last;
  EXPECT_EQ(m.opt.step, 31);
  pcnn_model_free(&m);
}

TEST(Model, ConfigErrorsNameTheFlag) {
  char err[PCNN_ERR_LEN];
  pcnn_config_t c = pcnn_config_default();
  c.filters = 0;
  EXPECT_EQ(pcnn_config_check(&c, err), -1);
  EXPECT_NE(std::string(err).find("--filters"), std::string::npos) << err;
  c = pcnn_config_default();
  c.filters = 7;
  EXPECT_EQ(pcnn_config_check(&c, err), -1);
  c = pcnn_config_default();
  c.channels = 2;
  EXPECT_EQ(pcnn_config_check(&c, err), -1);
  EXPECT_NE(std::string(err).find("--channels"), std::string::npos) << err;
  c = pcnn_config_default();
  EXPECT_EQ(pcnn_config_check(&c, err), 0);
}

TEST(Model, InitIsDeterministicAndMasked) {
  pcnn_config_t cfg = {3, 12, 1, PCNN_HEAD_SOFTMAX256, 4, 4};
  pcnn_model_t a, b;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_model_init(&a, &cfg, 42, 0, err), 0);
  ASSERT_EQ(pcnn_model_init(&b, &cfg, 42, 0, err), 0);
  ASSERT_EQ(a.nparams, b.nparams);
  EXPECT_EQ(memcmp(a.params, b.params, a.nparams * sizeof(float)), 0);
  // the first layer's centre tap: colour 0 (R input) must not reach R outputs (type A)
  const pcnn_tensor_t *t = pcnn_model_find(&a, "in.weight");
  ASSERT_NE(t, nullptr);
  const int F = 12, C = 3;
  for (int ci = 0; ci < C; ci++)
    for (int co = 0; co < F; co++) {
      const float w = a.params[t->off + ((3 * 7 + 3) * C + ci) * F + co];
      if (pcnn_group_of(ci, C, 3) >= pcnn_group_of(co, F, 3)) {
        EXPECT_EQ(w, 0.f);
      } else {
        EXPECT_NE(w, 0.f);
      }
    }
  const pcnn_tensor_t *s = pcnn_model_find(&a, "out_prelu");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(a.params[s->off], 0.25f);
  pcnn_model_free(&a);
  pcnn_model_free(&b);
}

}  // namespace

namespace {

// Training is bitwise reproducible run to run at each thread count (and the
// same across thread counts: test_determinism.cc).
TEST(Model, TrainingIsBitwiseReproducibleAtEachThreadCount) {
  pcnn_config_t cfg = {1, 16, 2, PCNN_HEAD_BERNOULLI, 12, 12};
  const int n = 4;
  std::vector<float> in = pt::rand_vec((size_t)n * 12 * 12, 21, 0.f, 1.f);
  for (int threads : {1, 2, 3}) {
    std::vector<float> first;
    for (int rep = 0; rep < 2; rep++) {
      omp_set_num_threads(threads);
      pcnn_model_t m;
      char err[PCNN_ERR_LEN];
      ASSERT_EQ(pcnn_model_init(&m, &cfg, 5, n, err), 0) << err;
      for (int s = 0; s < 4; s++) pcnn_model_train_step(&m, in.data(), n);
      if (rep == 0) {
        first.assign(m.params, m.params + m.nparams);
      } else {
        EXPECT_EQ(memcmp(first.data(), m.params, m.nparams * 4), 0) << threads << " threads";
      }
      pcnn_model_free(&m);
    }
  }
  omp_set_num_threads(omp_get_num_procs());
}

}  // namespace
