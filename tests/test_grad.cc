// test_grad.cc: every reference backward against central finite differences of
// its reference forward.
//
// For the layers the objective is L = sum(out * R) with a fixed random R, so
// dL/dout = R is what the backward is fed. The loss heads are checked against
// finite differences of the NLL they return (times scale). Backward kernels
// ACCUMULATE: every gradient buffer is pre-filled with random values and the
// test compares (buffer after - pre-fill) with the finite difference, so a
// kernel that overwrites fails. At the taps the mask drops, the weight gradient
// must stay bit-for-bit the pre-fill, and the finite difference there is 0.
#include <ostream>

#include "fd_util.h"

using pt::dot;
using pt::fd_grad;
using pt::FdClose;
using pt::rand_vec;
using pt::sample_indices;

static void PrintTo(const pcnn_conv_t &c, std::ostream *os) { *os << pt::conv_str(c); }

namespace {

constexpr size_t kMaxChecked = 96;  // elements checked per tensor (all if fewer)

std::string conv_name(const ::testing::TestParamInfo<pcnn_conv_t> &info) {
  const pcnn_conv_t &c = info.param;
  char b[128];
  snprintf(b, sizeof b, "N%d_%dx%d_%dto%d_k%d_%c_G%d", c.n, c.h, c.w, c.cin, c.cout, c.k,
           c.mask == PCNN_MASK_A ? 'A' : 'B', c.groups);
  return b;
}

pcnn_conv_t conv(int n, int h, int w, int cin, int cout, int k, int mask, int groups) {
  pcnn_conv_t c{};
  c.n = n; c.h = h; c.w = w; c.cin = cin; c.cout = cout; c.k = k; c.mask = mask; c.groups = groups;
  return c;
}

uint64_t seed_of(const pcnn_conv_t &c) {
  return 1000003ull * c.n + 10007ull * c.h + 1009ull * c.w + 101ull * c.cin + 13ull * c.cout +
         7ull * c.k + 3ull * c.mask + c.groups;
}

// ---------------------------------------------------------------- k x k conv

class ConvGrad : public ::testing::TestWithParam<pcnn_conv_t> {};

TEST_P(ConvGrad, BwdDataMatchesFd) {
  const pcnn_conv_t c = GetParam();
  ASSERT_EQ(pcnn_conv_check(&c), nullptr);
  const uint64_t s = seed_of(c);
  auto in = rand_vec(pt::conv_in_size(c), s + 1);
  // weights random at every tap, the masked ones too: the kernel must not read them
  const auto w = rand_vec(pt::conv_w_size(c), s + 2, -0.5f, 0.5f);
  const auto b = rand_vec(c.cout, s + 3);
  const auto R = rand_vec(pt::conv_out_size(c), s + 4);
  std::vector<float> out(pt::conv_out_size(c));
  auto L = [&] {
    pcnn_conv_fwd__ref(out.data(), in.data(), w.data(), b.data(), &c);
    return dot(out.data(), R.data(), out.size());
  };

  const auto prefill = rand_vec(in.size(), s + 5);
  auto din = prefill;
  pcnn_conv_bwd_data__ref(din.data(), R.data(), w.data(), &c);

  const auto idx = sample_indices(in.size(), kMaxChecked, s + 6);
  std::vector<double> got, fd;
  for (size_t i : idx) {
    got.push_back((double)din[i] - prefill[i]);
    fd.push_back(fd_grad(in.data(), i, 1.0f, L));  // linear in `in`: any step is exact
  }
  EXPECT_TRUE(FdClose(got, fd, idx, "din " + pt::conv_str(c)));
}

TEST_P(ConvGrad, BwdWeightsMatchesFd) {
  const pcnn_conv_t c = GetParam();
  ASSERT_EQ(pcnn_conv_check(&c), nullptr);
  const uint64_t s = seed_of(c) + 100;
  const auto in = rand_vec(pt::conv_in_size(c), s + 1);
  auto w = rand_vec(pt::conv_w_size(c), s + 2, -0.5f, 0.5f);
  auto b = rand_vec(c.cout, s + 3);
  const auto R = rand_vec(pt::conv_out_size(c), s + 4);
  std::vector<float> out(pt::conv_out_size(c));
  auto L = [&] {
    pcnn_conv_fwd__ref(out.data(), in.data(), w.data(), b.data(), &c);
    return dot(out.data(), R.data(), out.size());
  };

  const auto pre_w = rand_vec(w.size(), s + 5), pre_b = rand_vec(b.size(), s + 6);
  auto dw = pre_w, db = pre_b;
  pcnn_conv_bwd_weights__ref(dw.data(), db.data(), R.data(), in.data(), &c);

  // masked taps: gradient exactly untouched (all of them), FD exactly 0 (a sample)
  std::vector<float> mask(w.size());
  pcnn_mask_fill(mask.data(), &c);
  size_t masked = 0, touched = 0, fd_nonzero = 0;
  for (size_t i = 0; i < w.size(); i++) {
    if (mask[i] != 0.f) continue;
    if (dw[i] != pre_w[i]) touched++;
    if (masked++ % 7 == 0 && fd_grad(w.data(), i, 1.0f, L) != 0.0) fd_nonzero++;
  }
  EXPECT_EQ(touched, 0u) << masked << " masked taps, " << pt::conv_str(c);
  EXPECT_EQ(fd_nonzero, 0u) << "forward reads a masked tap, " << pt::conv_str(c);

  // kept taps: FD
  const auto idx_all = sample_indices(w.size(), 4 * kMaxChecked, s + 7);
  std::vector<size_t> idx;
  std::vector<double> got, fd;
  for (size_t i : idx_all) {
    if (mask[i] == 0.f) continue;
    if (idx.size() == kMaxChecked) break;
    idx.push_back(i);
    got.push_back((double)dw[i] - pre_w[i]);
    fd.push_back(fd_grad(w.data(), i, 1.0f, L));
  }
  if (c.k == 1 && c.mask == PCNN_MASK_A && c.groups == 1)
    EXPECT_TRUE(idx.empty());  // a masked 1x1 A grayscale conv keeps nothing
  else
    EXPECT_FALSE(idx.empty());
  EXPECT_TRUE(FdClose(got, fd, idx, "dw " + pt::conv_str(c)));

  // bias: every element
  const auto bidx = sample_indices(b.size(), b.size(), 0);
  got.clear();
  fd.clear();
  for (size_t i : bidx) {
    got.push_back((double)db[i] - pre_b[i]);
    fd.push_back(fd_grad(b.data(), i, 1.0f, L));
  }
  EXPECT_TRUE(FdClose(got, fd, bidx, "db " + pt::conv_str(c)));
}

// channel counts not multiples of 8 or 16, batch 1 and 2, odd sizes, every k,
// both masks, both group counts (G3 needs >= 3 channels)
INSTANTIATE_TEST_SUITE_P(
    Ref, ConvGrad,
    ::testing::Values(conv(1, 3, 3, 1, 1, 1, PCNN_MASK_A, 1), conv(1, 5, 4, 1, 1, 1, PCNN_MASK_B, 1),
                      conv(1, 5, 4, 3, 5, 3, PCNN_MASK_A, 1), conv(2, 4, 5, 7, 13, 3, PCNN_MASK_B, 3),
                      conv(1, 5, 4, 3, 3, 5, PCNN_MASK_A, 3), conv(2, 3, 6, 5, 7, 7, PCNN_MASK_B, 1),
                      conv(1, 6, 5, 17, 13, 5, PCNN_MASK_A, 3),
                      conv(2, 5, 4, 13, 17, 1, PCNN_MASK_B, 3),
                      conv(1, 4, 4, 3, 12, 7, PCNN_MASK_A, 3), conv(1, 7, 3, 16, 16, 3, PCNN_MASK_B, 3),
                      conv(2, 5, 4, 1, 17, 7, PCNN_MASK_A, 1), conv(1, 5, 4, 3, 7, 1, PCNN_MASK_A, 3),
                      conv(2, 2, 3, 5, 3, 5, PCNN_MASK_B, 1)),
    conv_name);

// ---------------------------------------------------------------- PReLU

struct PC {
  size_t p;
  int ch;
};
void PrintTo(const PC &v, std::ostream *os) { *os << "P" << v.p << " C" << v.ch; }
std::string pc_name(const ::testing::TestParamInfo<PC> &info) {
  return "P" + std::to_string(info.param.p) + "_C" + std::to_string(info.param.ch);
}

// values with |x| in [0.1, 1]: an FD step of 0.05 never crosses the kink
std::vector<float> away_from_zero(size_t n, uint64_t seed) {
  pt::Rng r(seed);
  std::vector<float> v(n);
  for (auto &x : v) {
    const float m = r.uniform(0.1f, 1.f);
    x = (r.next() & 1) ? m : -m;
  }
  return v;
}

class PreluGrad : public ::testing::TestWithParam<PC> {};

TEST_P(PreluGrad, BwdMatchesFd) {
  const size_t p = GetParam().p;
  const int ch = GetParam().ch;
  const size_t n = p * ch;
  const uint64_t s = 77 * p + ch;
  auto x = away_from_zero(n, s + 1);
  auto alpha = rand_vec(ch, s + 2, 0.05f, 0.5f);
  const auto R = rand_vec(n, s + 3);
  std::vector<float> out(n);
  auto L = [&] {
    pcnn_prelu_fwd__ref(out.data(), x.data(), alpha.data(), p, ch);
    return dot(out.data(), R.data(), n);
  };
  const auto pre_x = rand_vec(n, s + 4), pre_a = rand_vec(ch, s + 5);
  auto dx = pre_x, da = pre_a;
  pcnn_prelu_bwd__ref(dx.data(), da.data(), R.data(), x.data(), alpha.data(), p, ch);

  const auto idx = sample_indices(n, 4 * kMaxChecked, s + 6);
  std::vector<double> got, fd;
  for (size_t i : idx) {
    got.push_back((double)dx[i] - pre_x[i]);
    fd.push_back(fd_grad(x.data(), i, 0.05f, L));
  }
  EXPECT_TRUE(FdClose(got, fd, idx, "dx"));

  const auto aidx = sample_indices(ch, ch, 0);
  got.clear();
  fd.clear();
  for (size_t i : aidx) {
    got.push_back((double)da[i] - pre_a[i]);
    fd.push_back(fd_grad(alpha.data(), i, 0.25f, L));  // linear in alpha
  }
  EXPECT_TRUE(FdClose(got, fd, aidx, "dalpha"));
}

INSTANTIATE_TEST_SUITE_P(Ref, PreluGrad,
                         ::testing::Values(PC{1, 1}, PC{20, 1}, PC{20, 3}, PC{30, 7}, PC{13, 17},
                                           PC{7, 13}, PC{6, 16}),
                         pc_name);

// ---------------------------------------------------------------- fused 1x1 conv + PReLU

class Conv1x1PreluGrad : public ::testing::TestWithParam<pcnn_conv_t> {
 protected:
  // The FD steps move `pre` by at most 1e-2 (|in|, |w| <= 1), so `pre` is kept
  // at |pre| >= 0.05 by construction (a pixel whose inputs land nearer the
  // kink is redrawn): no finite difference straddles it.
  void SetUp() override {
    c = GetParam();
    ASSERT_EQ(pcnn_conv_check(&c), nullptr);
    ASSERT_EQ(c.k, 1);
    const uint64_t s = seed_of(c) + 300;
    w = rand_vec((size_t)c.cin * c.cout, s + 2);
    b = away_from_zero(c.cout, s + 3);
    alpha = rand_vec(c.cout, s + 4, 0.05f, 0.5f);
    R = rand_vec(pt::conv_out_size(c), s + 5);
    pre.resize(R.size());
    out.resize(R.size());
    in.resize(pt::conv_in_size(c));
    pt::Rng r(s + 1);
    const size_t npix = (size_t)c.n * c.h * c.w;
    pcnn_conv_t one = c;  // one pixel at a time
    one.n = one.h = one.w = 1;
    for (size_t i = 0; i < npix; i++) {
      float *ip = &in[i * c.cin], *pp = &pre[i * c.cout], *op = &out[i * c.cout];
      bool near = true;
      for (int tries = 0; near; tries++) {
        ASSERT_LT(tries, 1000);
        for (int ci = 0; ci < c.cin; ci++) ip[ci] = r.uniform();
        pcnn_conv1x1_prelu_fwd__ref(pp, op, ip, w.data(), b.data(), alpha.data(), &one);
        near = false;
        for (int co = 0; co < c.cout; co++) near |= std::fabs(pp[co]) < 0.05f;
      }
    }
    pcnn_conv1x1_prelu_fwd__ref(pre.data(), out.data(), in.data(), w.data(), b.data(),
                                alpha.data(), &c);
    pre0 = pre;
  }
  double L() {
    pcnn_conv1x1_prelu_fwd__ref(pre.data(), out.data(), in.data(), w.data(), b.data(),
                                alpha.data(), &c);
    for (size_t i = 0; i < pre.size(); i++) kink |= (pre[i] > 0.f) != (pre0[i] > 0.f);
    return dot(out.data(), R.data(), out.size());
  }
  // FD over v at idx (step eps), comparing with grad - prefill
  void check(std::vector<float> &v, const std::vector<float> &grad,
             const std::vector<float> &prefill, const std::vector<size_t> &idx_in, float eps,
             const std::string &what) {
    std::vector<size_t> idx;
    std::vector<double> got, fd;
    kink = false;
    for (size_t i : idx_in) {
      idx.push_back(i);
      got.push_back((double)grad[i] - prefill[i]);
      fd.push_back(fd_grad(v.data(), i, eps, [&] { return L(); }));
    }
    EXPECT_FALSE(kink) << what << ": an FD step crossed the PReLU kink";
    EXPECT_TRUE(FdClose(got, fd, idx, what + " " + pt::conv_str(c)));
  }
  pcnn_conv_t c{};
  std::vector<float> in, w, b, alpha, R, pre, out, pre0;
  bool kink = false;
};

TEST_P(Conv1x1PreluGrad, BwdDataMatchesFd) {
  const uint64_t s = seed_of(c) + 400;
  const auto prefill = rand_vec(in.size(), s);
  auto din = prefill;
  pcnn_conv1x1_prelu_bwd_data__ref(din.data(), R.data(), pre0.data(), w.data(), alpha.data(), &c);
  check(in, din, prefill, sample_indices(in.size(), kMaxChecked, s + 1), 1e-2f, "din");
}

TEST_P(Conv1x1PreluGrad, BwdWeightsMatchesFd) {
  const uint64_t s = seed_of(c) + 500;
  const auto pre_w = rand_vec(w.size(), s), pre_b = rand_vec(b.size(), s + 1),
             pre_a = rand_vec(alpha.size(), s + 2);
  auto dw = pre_w, db = pre_b, da = pre_a;
  pcnn_conv1x1_prelu_bwd_weights__ref(dw.data(), db.data(), da.data(), R.data(), pre0.data(),
                                      in.data(), alpha.data(), &c);
  // masked (ci, co) pairs: untouched, and the forward does not depend on them
  std::vector<size_t> kept;
  size_t touched = 0, fd_nonzero = 0;
  for (int ci = 0; ci < c.cin; ci++)
    for (int co = 0; co < c.cout; co++) {
      const size_t i = (size_t)ci * c.cout + co;
      if (pcnn_mask_keep(&c, 0, 0, ci, co)) { kept.push_back(i); continue; }
      if (dw[i] != pre_w[i]) touched++;
      if (fd_grad(w.data(), i, 1e-2f, [&] { return L(); }) != 0.0) fd_nonzero++;
    }
  EXPECT_EQ(touched, 0u);
  EXPECT_EQ(fd_nonzero, 0u);
  std::vector<size_t> kidx;  // a seeded sample of the kept pairs
  for (size_t j : sample_indices(kept.size(), kMaxChecked, s + 3)) kidx.push_back(kept[j]);
  check(w, dw, pre_w, kidx, 1e-2f, "dw");
  check(b, db, pre_b, sample_indices(b.size(), b.size(), 0), 1e-2f, "db");
  check(alpha, da, pre_a, sample_indices(alpha.size(), alpha.size(), 0), 0.25f, "dalpha");
}

INSTANTIATE_TEST_SUITE_P(
    Ref, Conv1x1PreluGrad,
    ::testing::Values(conv(1, 5, 4, 1, 1, 1, PCNN_MASK_B, 1), conv(2, 5, 4, 3, 5, 1, PCNN_MASK_B, 1),
                      conv(1, 3, 5, 7, 13, 1, PCNN_MASK_A, 1), conv(1, 5, 4, 3, 3, 1, PCNN_MASK_A, 3),
                      conv(2, 3, 3, 13, 17, 1, PCNN_MASK_B, 3),
                      conv(1, 4, 5, 17, 7, 1, PCNN_MASK_A, 3), conv(2, 5, 4, 6, 9, 1, PCNN_MASK_B, 3)),
    conv_name);

// ---------------------------------------------------------------- residual add

TEST(AddGrad, BwdMatchesFd) {
  for (size_t n : {size_t{1}, size_t{7}, size_t{37}}) {
    auto a = rand_vec(n, 1 + n), b = rand_vec(n, 2 + n);
    const auto R = rand_vec(n, 3 + n);
    std::vector<float> out(n);
    auto L = [&] {
      pcnn_add_fwd__ref(out.data(), a.data(), b.data(), n);
      return dot(out.data(), R.data(), n);
    };
    const auto pa = rand_vec(n, 4 + n), pb = rand_vec(n, 5 + n);
    auto da = pa, db = pb;
    pcnn_add_bwd__ref(da.data(), db.data(), R.data(), n);
    const auto idx = sample_indices(n, n, 0);
    std::vector<double> ga, gb, fa, fb;
    for (size_t i : idx) {
      ga.push_back((double)da[i] - pa[i]);
      gb.push_back((double)db[i] - pb[i]);
      fa.push_back(fd_grad(a.data(), i, 0.5f, L));
      fb.push_back(fd_grad(b.data(), i, 0.5f, L));
    }
    EXPECT_TRUE(FdClose(ga, fa, idx, "da n=" + std::to_string(n)));
    EXPECT_TRUE(FdClose(gb, fb, idx, "db n=" + std::to_string(n)));
  }
}

// ---------------------------------------------------------------- loss heads
// The heads WRITE dx (they start the backward pass); dx is pre-filled with NaN
// so an element left unwritten fails. Objective: scale * returned NLL.

constexpr float kScale = 0.37f;
// the NLL is computed in double from float logits: FD with step 1e-2 is good
// to ~1e-7 (third-derivative term); softmax gradients are ~1/256, so the
// absolute tolerance is much tighter than for the layers
constexpr double kLossAtol = 2e-6, kLossRtol = 1e-4;

class LossGrad : public ::testing::TestWithParam<PC> {};

TEST_P(LossGrad, BernoulliMatchesFd) {
  const size_t p = GetParam().p;
  const int ch = GetParam().ch;
  const size_t n = p * ch;
  auto x = rand_vec(n, 11 * n + 1, -4.f, 4.f);
  const auto t = rand_vec(n, 11 * n + 2, 0.f, 1.f);
  std::vector<float> dx(n, NAN), scratch(n);
  const double nll = pcnn_bernoulli_loss__ref(dx.data(), x.data(), t.data(), p, ch, kScale);

  // the value: -[t log s + (1-t) log(1-s)] written out directly
  double want = 0;
  for (size_t i = 0; i < n; i++) {
    const double s = 1.0 / (1.0 + std::exp(-(double)x[i]));
    want -= t[i] * std::log(s) + (1.0 - t[i]) * std::log(1.0 - s);
  }
  EXPECT_NEAR(nll, want, 1e-9 * n);

  auto L = [&] {
    return kScale * pcnn_bernoulli_loss__ref(scratch.data(), x.data(), t.data(), p, ch, kScale);
  };
  const auto idx = sample_indices(n, 4 * kMaxChecked, n);
  std::vector<double> got, fd;
  for (size_t i : idx) {
    got.push_back(dx[i]);
    fd.push_back(fd_grad(x.data(), i, 1e-2f, L));
  }
  EXPECT_TRUE(FdClose(got, fd, idx, "bernoulli dx", kLossAtol, kLossRtol));
}

TEST_P(LossGrad, Softmax256MatchesFd) {
  const size_t p = GetParam().p;
  const int ch = GetParam().ch;
  const size_t rows = p * ch, n = rows * 256;
  auto x = rand_vec(n, 13 * rows + 1, -3.f, 3.f);
  pt::Rng r(13 * rows + 2);
  std::vector<float> t(rows);
  std::vector<int> cls(rows);
  for (size_t i = 0; i < rows; i++) {
    cls[i] = (int)(r.next() % 256);
    if (i == 0) cls[i] = 255;  // both ends of the class range
    if (i == 1) cls[i] = 0;
    t[i] = cls[i] / 255.f;
  }
  std::vector<float> dx(n, NAN), scratch(n);
  const double nll = pcnn_softmax256_loss__ref(dx.data(), x.data(), t.data(), p, ch, kScale);

  // the value: logsumexp - x[class] written out directly
  double want = 0;
  for (size_t i = 0; i < rows; i++) {
    double se = 0;
    for (int j = 0; j < 256; j++) se += std::exp((double)x[i * 256 + j]);
    want += std::log(se) - x[i * 256 + cls[i]];
  }
  EXPECT_NEAR(nll, want, 1e-9 * rows);

  auto L = [&] {
    return kScale * pcnn_softmax256_loss__ref(scratch.data(), x.data(), t.data(), p, ch, kScale);
  };
  // every target logit, plus a seeded sample of the rest
  std::vector<size_t> idx = sample_indices(n, 2 * kMaxChecked, rows);
  for (size_t i = 0; i < rows; i++) idx.push_back(i * 256 + cls[i]);
  std::vector<double> got, fd;
  size_t nan = 0;
  for (size_t i = 0; i < n; i++) nan += std::isnan(dx[i]);
  EXPECT_EQ(nan, 0u) << "dx elements left unwritten";
  for (size_t i : idx) {
    got.push_back(dx[i]);
    fd.push_back(fd_grad(x.data(), i, 1e-2f, L));
  }
  EXPECT_TRUE(FdClose(got, fd, idx, "softmax256 dx", kLossAtol, kLossRtol));
}

INSTANTIATE_TEST_SUITE_P(Ref, LossGrad,
                         ::testing::Values(PC{2, 1}, PC{20, 1}, PC{20, 3}, PC{30, 3}, PC{7, 13}),
                         pc_name);

}  // namespace
