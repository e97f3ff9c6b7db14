// test_nadam.cc: pcnn_nadam_begin_step and pcnn_nadam_update__ref against the
// torch.optim.NAdam step (weight_decay 0), worked out here independently in
// double precision from the formulas, for three steps on four parameters.
//
// torch.optim.NAdam, step t (upstream torch; torch 1.13's foreach path; Keras
// Nadam; Dozat 2016):
//   mu_t       = b1 (1 - 0.5 * 0.96^(t psi))          psi = momentum_decay
//   mu_{t+1}   = b1 (1 - 0.5 * 0.96^((t+1) psi))
//   mu_product = mu_1 ... mu_t
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   denom = sqrt(v / (1 - b2^t)) + eps
//   p += -lr (1 - mu_t) / (1 - mu_product)            * g / denom   (addcdiv 1)
//   p += -lr mu_{t+1} / (1 - mu_product mu_{t+1})     * m / denom   (addcdiv 2)
// (torch 1.13's default single-tensor path multiplies mu_t into the second
// denominator once more, a bug fixed upstream in pytorch#92699.)
//
// Tolerances: everything to 1e-6 relative (params plus kStepAtol = 1e-6 lr
// absolute). The kernel gets 1 - beta1 and 1 - beta2 rounded from double
// (omb1, omb2): 1 - 0.999f would be 0.00099998713, 1.3e-5 relative off.
#include <cmath>

#include "test_util.h"

namespace {

constexpr double kLr = 0.002, kB1 = 0.9, kB2 = 0.999, kEps = 1e-7, kPsi = 0.004;
constexpr double kStepAtol = 1e-6 * kLr;
constexpr double kVRtol = 1e-6;
constexpr int kN = 4;
const float kP0[kN] = {0.5f, -1.25f, 2.0f, 0.0f};
const float kGrads[3][kN] = {{1.0f, -0.5f, 3.0f, 1e-3f},
                             {0.25f, 0.75f, -2.0f, -1e-3f},
                             {-1.5f, 0.1f, 0.5f, 2.0f}};

// The expected state after each step, from the formulas above, in double.
struct Expected {
  double mu_product, bc2, c_grad, c_mom;
  double p[kN], m[kN], v[kN];
};
std::vector<Expected> expected_steps() {
  std::vector<Expected> out;
  double p[kN], m[kN] = {0}, v[kN] = {0}, mu_product = 1.0;
  for (int i = 0; i < kN; i++) p[i] = kP0[i];
  for (int t = 1; t <= 3; t++) {
    const double mu = kB1 * (1.0 - 0.5 * std::pow(0.96, t * kPsi));
    const double mu_next = kB1 * (1.0 - 0.5 * std::pow(0.96, (t + 1) * kPsi));
    mu_product *= mu;
    const double mu_product_next = mu_product * mu_next;
    const double bc2 = 1.0 - std::pow(kB2, t);
    const double value_grad = -kLr * (1.0 - mu) / (1.0 - mu_product);
    const double value_mom = -kLr * mu_next / (1.0 - mu_product_next);
    Expected e;
    for (int i = 0; i < kN; i++) {
      const double g = kGrads[t - 1][i];
      m[i] = kB1 * m[i] + (1.0 - kB1) * g;
      v[i] = kB2 * v[i] + (1.0 - kB2) * g * g;
      const double denom = std::sqrt(v[i] / bc2) + kEps;
      p[i] += value_grad * g / denom;
      p[i] += value_mom * m[i] / denom;
      e.p[i] = p[i];
      e.m[i] = m[i];
      e.v[i] = v[i];
    }
    e.mu_product = mu_product;
    e.bc2 = bc2;
    e.c_grad = value_grad;
    e.c_mom = value_mom;
    out.push_back(e);
  }
  return out;
}

::testing::AssertionResult Near(double got, double want, double rtol, double atol,
                                const std::string &what) {
  if (std::fabs(got - want) <= atol + rtol * std::fabs(want)) return ::testing::AssertionSuccess();
  char b[200];
  snprintf(b, sizeof b, "%s: got %.12g want %.12g", what.c_str(), got, want);
  return ::testing::AssertionFailure() << b;
}

pcnn_nadam_hparams_t hparams() {
  pcnn_nadam_hparams_t h = {kLr, kB1, kB2, kEps, kPsi};
  return h;
}

TEST(Nadam, DefaultsAreTheDocumentedOnes) {
  const pcnn_nadam_hparams_t h = pcnn_nadam_defaults();
  EXPECT_EQ(h.lr, kLr);
  EXPECT_EQ(h.beta1, kB1);
  EXPECT_EQ(h.beta2, kB2);
  EXPECT_EQ(h.eps, kEps);
  EXPECT_EQ(h.momentum_decay, kPsi);
}

TEST(Nadam, ThreeStepsMatchTheTorchFormula) {
  const auto want = expected_steps();
  const pcnn_nadam_hparams_t hp = hparams();
  pcnn_nadam_state_t st = {0, 1.0};
  std::vector<float> p(kP0, kP0 + kN), m(kN, 0.f), v(kN, 0.f);
  for (int t = 1; t <= 3; t++) {
    const Expected &e = want[t - 1];
    const pcnn_nadam_coef_t k = pcnn_nadam_begin_step(&st, &hp);
    const std::string at = " at step " + std::to_string(t);
    EXPECT_EQ(st.step, t);
    EXPECT_TRUE(Near(st.mu_product, e.mu_product, 1e-12, 0, "mu_product" + at));
    EXPECT_EQ(k.beta1, (float)kB1);
    EXPECT_EQ(k.beta2, (float)kB2);
    EXPECT_EQ(k.eps, (float)kEps);
    EXPECT_TRUE(Near(k.bc2, e.bc2, 1e-6, 0, "bc2" + at));
    EXPECT_TRUE(Near(k.c_grad, e.c_grad, 1e-6, 0, "c_grad" + at));
    EXPECT_TRUE(Near(k.c_mom, e.c_mom, 1e-6, 0, "c_mom" + at));

    pcnn_nadam_update__ref(p.data(), m.data(), v.data(), kGrads[t - 1], kN, &k);
    for (int i = 0; i < kN; i++) {
      const std::string el = "[" + std::to_string(i) + "]" + at;
      EXPECT_TRUE(Near(p[i], e.p[i], 1e-6, kStepAtol, "param" + el));
      EXPECT_TRUE(Near(m[i], e.m[i], 1e-6, 0, "m" + el));
      EXPECT_TRUE(Near(v[i], e.v[i], kVRtol, 0, "v" + el));
    }
  }
}

// Step 1, g = 1, m = v = 0, p = 0.5, by hand:
//   0.96^0.004 = exp(0.004 ln 0.96) = exp(-1.63288e-4)      = 0.99983672535
//   mu_1 = 0.9 (1 - 0.5 * 0.99983672535) = 0.9 * 0.50008163732 = 0.45007347359
//   0.96^0.008 = 0.99967347736
//   mu_2 = 0.9 (1 - 0.5 * 0.99967347736) = 0.9 * 0.50016326132 = 0.45014693519
//   mu_product = mu_1 = 0.45007347359
//   m = 0.1 * 1 = 0.1;  v = 0.001 * 1 = 0.001;  1 - b2^1 = 0.001
//   denom = sqrt(0.001 / 0.001) + 1e-7 = 1.0000001
//   addcdiv 1: -0.002 (1 - mu_1) / (1 - mu_1) * 1 / 1.0000001 = -0.0019999998
//   addcdiv 2: mu_1 mu_2 = 0.20259919475; 1 - that = 0.79740080525
//              -0.002 * 0.45014693519 / 0.79740080525 = -0.00112903557
//              * 0.1 / 1.0000001 = -0.00011290354
//   p = 0.5 - 0.0019999998 - 0.00011290354 = 0.49788709666
TEST(Nadam, StepOneByHand) {
  const pcnn_nadam_hparams_t hp = hparams();
  pcnn_nadam_state_t st = {0, 1.0};
  const pcnn_nadam_coef_t k = pcnn_nadam_begin_step(&st, &hp);
  EXPECT_TRUE(Near(st.mu_product, 0.45007347359, 0, 1e-10, "mu_1"));
  EXPECT_TRUE(Near(k.c_grad, -0.002, 1e-6, 0, "c_grad"));
  EXPECT_TRUE(Near(k.c_mom, -0.00112903557, 1e-6, 0, "c_mom"));
  float p = 0.5f, m = 0.f, v = 0.f;
  const float g = 1.f;
  pcnn_nadam_update__ref(&p, &m, &v, &g, 1, &k);
  EXPECT_TRUE(Near(p, 0.49788709666, 1e-6, kStepAtol, "p after step 1"));
  EXPECT_TRUE(Near(m, 0.1, 1e-6, 0, "m after step 1"));
  EXPECT_TRUE(Near(v, 0.001, kVRtol, 0, "v after step 1"));
}

// Cross-check pasted from torch 1.13 (/usr/bin/python3), float64 parameters:
//   torch.optim.NAdam([p], lr=0.002, betas=(0.9, 0.999), eps=1e-7,
//                     momentum_decay=0.004, foreach=True)
// with the parameters and gradients above. (foreach=True: 1.13's default
// single-tensor path has the mu_product_next bug noted at the top and gives
// 0.49790093784 after step 1.)
TEST(Nadam, MatchesTorchValues) {
  const double torch_after[3][kN] = {
      {0.49788709662862074, -1.247887096839911, 1.9978870964877604, -0.0021126923134382374},
      {0.49725759588443386, -1.2495563700056842, 1.9989418593378379, -0.0007238096295226316},
      {0.4990259759125149, -1.2498538510890924, 1.9986033908039853, -0.002980985366104815}};
  const auto want = expected_steps();
  const pcnn_nadam_hparams_t hp = hparams();
  pcnn_nadam_state_t st = {0, 1.0};
  std::vector<float> p(kP0, kP0 + kN), m(kN, 0.f), v(kN, 0.f);
  for (int t = 1; t <= 3; t++) {
    const pcnn_nadam_coef_t k = pcnn_nadam_begin_step(&st, &hp);
    pcnn_nadam_update__ref(p.data(), m.data(), v.data(), kGrads[t - 1], kN, &k);
    for (int i = 0; i < kN; i++) {
      const std::string el = "[" + std::to_string(i) + "] at step " + std::to_string(t);
      // the formula above agrees with torch to ~3e-11 absolute (torch keeps
      // mu_product in float32)
      EXPECT_TRUE(Near(want[t - 1].p[i], torch_after[t - 1][i], 0, 1e-10, "formula vs torch" + el));
      EXPECT_TRUE(Near(p[i], torch_after[t - 1][i], 1e-6, kStepAtol, "param vs torch" + el));
    }
  }
}

}  // namespace
