// test_onednn.cc: the reference masked convolution and PReLU against oneDNN 2.6.
//
// oneDNN computes a dense convolution, so it gets the weights multiplied by the
// mask (pcnn_mask_fill); its weight gradient, multiplied by the mask, must equal
// ours. Our backward kernels accumulate, so their gradients start from zero;
// oneDNN overwrites, so its outputs start as NaN (an element it skips fails).
// Each check: pt::rel_err over the tensor <= 1e-4, and every element within
// 1e-5 of the tensor's largest magnitude plus 1e-4 of its own.
#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "dnnl_conv.hpp"
#include "test_util.h"

namespace {

using pdnnl::Layout;

constexpr double kRelTol = PCNN_TOL_ONEDNN;  // pt::rel_err over a tensor
constexpr double kAbsFrac = 1e-5; // elementwise atol, as a fraction of max |ref|

double max_abs(const std::vector<float> &v) {
  double m = 0;
  for (float x : v) m = std::max(m, (double)std::fabs(x));
  return m;
}

// rel_err within kRelTol and AllClose with atol scaled to ref's magnitude;
// returns rel_err for the log line.
double expect_match(const std::vector<float> &got, const std::vector<float> &ref,
                    const std::string &what) {
  EXPECT_EQ(got.size(), ref.size());
  const double e = pt::rel_err(got.data(), ref.data(), ref.size());
  EXPECT_LE(e, kRelTol) << what;
  EXPECT_TRUE(pt::AllClose(got.data(), ref.data(), ref.size(), kAbsFrac * max_abs(ref), kRelTol, what));
  return e;
}

std::vector<float> nans(size_t n) { return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()); }

std::vector<float> mask_of(const pcnn_conv_t &c) {
  std::vector<float> m(pt::conv_w_size(c));
  pcnn_mask_fill(m.data(), &c);
  return m;
}

std::vector<float> times(const std::vector<float> &a, const std::vector<float> &b) {
  std::vector<float> r(a.size());
  for (size_t i = 0; i < a.size(); i++) r[i] = a[i] * b[i];
  return r;
}

// Seeded data for one convolution: weights dense random, wm = weights * mask.
struct ConvData {
  pcnn_conv_t c{};
  std::vector<float> in, w, mask, wm, b, dout;
  explicit ConvData(const pcnn_conv_t &cv, uint64_t seed = 1)
      : c(cv),
        in(pt::rand_vec(pt::conv_in_size(cv), seed)),
        w(pt::rand_vec(pt::conv_w_size(cv), seed + 1)),
        mask(mask_of(cv)),
        wm(times(w, mask)),
        b(pt::rand_vec(cv.cout, seed + 2)),
        dout(pt::rand_vec(pt::conv_out_size(cv), seed + 3)) {}
};

pcnn_conv_t conv(int n, int h, int w, int cin, int cout, int k, int mask, int groups) {
  pcnn_conv_t c = {n, h, w, cin, cout, k, mask, groups, 0};
  return c;
}

struct Case {
  const char *name;
  pcnn_conv_t c{};
  Layout layout;
};

void PrintTo(const Case &p, std::ostream *os) {
  *os << p.name << " " << pdnnl::layout_name(p.layout) << " (" << pt::conv_str(p.c) << ")";
}

std::vector<Case> cases() {
  const int A = PCNN_MASK_A, B = PCNN_MASK_B;
  const struct {
    const char *name;
    pcnn_conv_t c{};
  } shapes[] = {
      // the seed model: N=32 28x28 grayscale
      {"seed_7x7A_1to128_N32", conv(32, 28, 28, 1, 128, 7, A, 1)},
      {"seed_3x3B_64to64_N32", conv(32, 28, 28, 64, 64, 3, B, 1)},
      {"seed_1x1B_128to64_N32", conv(32, 28, 28, 128, 64, 1, B, 1)},
      {"seed_1x1B_64to128_N32", conv(32, 28, 28, 64, 128, 1, B, 1)},
      // RGB: three colour groups
      {"rgb_7x7A_3to120_G3_N8", conv(8, 28, 28, 3, 120, 7, A, 3)},
      {"rgb_3x3B_60to60_G3_N8", conv(8, 28, 28, 60, 60, 3, B, 3)},
      // small odd shapes: uneven colour groups, k=5, non-square, k > image
      {"odd_N1_9x6_5to7_k5A", conv(1, 9, 6, 5, 7, 5, A, 1)},
      {"odd_N1_9x6_5to7_k5B_G3", conv(1, 9, 6, 5, 7, 5, B, 3)},
      {"odd_N2_9x6_6to9_k3A_G3", conv(2, 9, 6, 6, 9, 3, A, 3)},
      {"odd_N3_5x7_3to6_k1A_G3", conv(3, 5, 7, 3, 6, 1, A, 3)},
      {"odd_N2_4x3_7to5_k7B", conv(2, 4, 3, 7, 5, 7, B, 1)},
  };
  std::vector<Case> v;
  for (const auto &s : shapes)
    for (Layout l : {Layout::plain, Layout::blocked}) v.push_back({s.name, s.c, l});
  return v;
}

std::string case_name(const ::testing::TestParamInfo<Case> &i) {
  return std::string(i.param.name) + "_" + pdnnl::layout_name(i.param.layout);
}

void log_line(const Case &p, const char *dir, const std::string &impl, double e1, double e2 = -1) {
  if (e2 < 0)
    printf("[ dnnl     ] %s %s %s: %s, rel_err %.2g\n", p.name, pdnnl::layout_name(p.layout), dir,
           impl.c_str(), e1);
  else
    printf("[ dnnl     ] %s %s %s: %s, rel_err dw %.2g db %.2g\n", p.name,
           pdnnl::layout_name(p.layout), dir, impl.c_str(), e1, e2);
}

class DnnlConv : public ::testing::TestWithParam<Case> {};

TEST_P(DnnlConv, Forward) {
  const Case &p = GetParam();
  SCOPED_TRACE(pt::conv_str(p.c));
  ConvData d(p.c);
  std::vector<float> ref(pt::conv_out_size(p.c)), got = nans(ref.size());
  pcnn_conv_fwd__ref(ref.data(), d.in.data(), d.wm.data(), d.b.data(), &p.c);
  pdnnl::Conv dn(p.c, p.layout, pdnnl::kFwdBit);
  dn.forward(got.data(), d.in.data(), d.wm.data(), d.b.data());
  log_line(p, "fwd", dn.impl(pdnnl::kFwd), expect_match(got, ref, "out"));
}

TEST_P(DnnlConv, BackwardData) {
  const Case &p = GetParam();
  SCOPED_TRACE(pt::conv_str(p.c));
  ConvData d(p.c);
  std::vector<float> ref(pt::conv_in_size(p.c), 0.f), got = nans(ref.size());
  pcnn_conv_bwd_data__ref(ref.data(), d.dout.data(), d.wm.data(), &p.c);
  pdnnl::Conv dn(p.c, p.layout, pdnnl::kBwdDataBit);
  dn.backward_data(got.data(), d.dout.data(), d.wm.data());
  log_line(p, "bwd_data", dn.impl(pdnnl::kBwdData), expect_match(got, ref, "din"));
}

TEST_P(DnnlConv, BackwardWeights) {
  const Case &p = GetParam();
  SCOPED_TRACE(pt::conv_str(p.c));
  ConvData d(p.c);
  std::vector<float> dw(pt::conv_w_size(p.c), 0.f), db(p.c.cout, 0.f);
  std::vector<float> gw = nans(dw.size()), gb = nans(db.size());
  pcnn_conv_bwd_weights__ref(dw.data(), db.data(), d.dout.data(), d.in.data(), &p.c);
  pdnnl::Conv dn(p.c, p.layout, pdnnl::kBwdWeightsBit);
  dn.backward_weights(gw.data(), gb.data(), d.dout.data(), d.in.data());
  const double ew = expect_match(times(gw, d.mask), dw, "dw * mask");
  const double eb = expect_match(gb, db, "db");
  log_line(p, "bwd_weights", dn.impl(pdnnl::kBwdWeights), ew, eb);
}

INSTANTIATE_TEST_SUITE_P(Shapes, DnnlConv, ::testing::ValuesIn(cases()), case_name);

// The cross-check can fail: with the mask left out, oneDNN's results differ.
TEST(DnnlConvSanity, UnmaskedWeightsDoNotMatch) {
  const pcnn_conv_t c = conv(2, 9, 6, 6, 9, 3, PCNN_MASK_A, 3);
  ConvData d(c);
  std::vector<float> ref(pt::conv_out_size(c)), got(ref.size());
  pcnn_conv_fwd__ref(ref.data(), d.in.data(), d.wm.data(), d.b.data(), &c);
  pdnnl::Conv dn(c, Layout::plain, pdnnl::kFwdBit | pdnnl::kBwdDataBit | pdnnl::kBwdWeightsBit);
  dn.forward(got.data(), d.in.data(), d.w.data(), d.b.data());  // dense, unmasked
  EXPECT_GT(pt::rel_err(got.data(), ref.data(), ref.size()), 0.05);
  EXPECT_FALSE(pt::AllClose(got.data(), ref.data(), ref.size(), kAbsFrac * max_abs(ref), kRelTol));

  std::vector<float> din(pt::conv_in_size(c), 0.f), gdin(din.size());
  pcnn_conv_bwd_data__ref(din.data(), d.dout.data(), d.wm.data(), &c);
  dn.backward_data(gdin.data(), d.dout.data(), d.w.data());
  EXPECT_GT(pt::rel_err(gdin.data(), din.data(), din.size()), 0.05);

  // and the weight gradient without the mask has the masked taps' sums
  std::vector<float> dw(pt::conv_w_size(c), 0.f), db(c.cout, 0.f), gw(dw.size()), gb(db.size());
  pcnn_conv_bwd_weights__ref(dw.data(), db.data(), d.dout.data(), d.in.data(), &c);
  dn.backward_weights(gw.data(), gb.data(), d.dout.data(), d.in.data());
  EXPECT_GT(pt::rel_err(gw.data(), dw.data(), dw.size()), 0.05);
  EXPECT_LE(pt::rel_err(times(gw, d.mask).data(), dw.data(), dw.size()), kRelTol);
}

// A wrong bias, or weights off by one tap, are caught by the same tolerance.
TEST(DnnlConvSanity, SmallPerturbationIsCaught) {
  const pcnn_conv_t c = conv(2, 9, 6, 5, 7, 5, PCNN_MASK_B, 1);
  ConvData d(c);
  std::vector<float> ref(pt::conv_out_size(c)), got(ref.size());
  pcnn_conv_fwd__ref(ref.data(), d.in.data(), d.wm.data(), d.b.data(), &c);
  std::vector<float> b2 = d.b;
  b2[3] += 1e-2f;  // one bias, ~1e-3 of the outputs' magnitude
  pdnnl::Conv dn(c, Layout::blocked, pdnnl::kFwdBit);
  dn.forward(got.data(), d.in.data(), d.wm.data(), b2.data());
  EXPECT_GT(pt::rel_err(got.data(), ref.data(), ref.size()), kRelTol);
}

// ---- PReLU and the 1x1 conv with a PReLU post-op ----

struct PreluCase {
  const char *name;
  int n, h, w, ch;
};

class DnnlPrelu : public ::testing::TestWithParam<PreluCase> {};

TEST_P(DnnlPrelu, ForwardBackward) {
  const PreluCase &p = GetParam();
  const size_t px = (size_t)p.n * p.h * p.w, n = px * p.ch;
  const std::vector<float> x = pt::rand_vec(n, 11), alpha = pt::rand_vec(p.ch, 12, 0.f, 0.5f),
                           dout = pt::rand_vec(n, 13);
  std::vector<float> ref(n), got = nans(n);
  pcnn_prelu_fwd__ref(ref.data(), x.data(), alpha.data(), px, p.ch);
  pdnnl::Prelu dn(p.n, p.h, p.w, p.ch);
  dn.forward(got.data(), x.data(), alpha.data());
  const double ef = expect_match(got, ref, "out");

  std::vector<float> dx(n, 0.f), da(p.ch, 0.f), gdx = nans(n), gda = nans(p.ch);
  pcnn_prelu_bwd__ref(dx.data(), da.data(), dout.data(), x.data(), alpha.data(), px, p.ch);
  dn.backward(gdx.data(), gda.data(), dout.data(), x.data(), alpha.data());
  const double ex = expect_match(gdx, dx, "dx"), ea = expect_match(gda, da, "dalpha");
  printf("[ dnnl     ] prelu %s: fwd %s rel_err %.2g; bwd %s rel_err dx %.2g dalpha %.2g\n", p.name,
         dn.impl(pdnnl::kFwd).c_str(), ef, dn.impl(pdnnl::kBwdData).c_str(), ex, ea);
}

INSTANTIATE_TEST_SUITE_P(Shapes, DnnlPrelu,
                         ::testing::Values(PreluCase{"seed_N32_28x28_C64", 32, 28, 28, 64},
                                           PreluCase{"odd_N3_5x7_C33", 3, 5, 7, 33},
                                           PreluCase{"odd_N1_1x1_C1", 1, 1, 1, 1}),
                         [](const ::testing::TestParamInfo<PreluCase> &i) { return i.param.name; });

// oneDNN 2.6 runs a PReLU post-op only in its reference conv ("ref:any", ~7 s
// at N=32 on 2 cores), hence the seed 1x1 shape at N=2 here.
class DnnlConv1x1Prelu : public ::testing::TestWithParam<Case> {};

TEST_P(DnnlConv1x1Prelu, Forward) {
  const Case &p = GetParam();
  SCOPED_TRACE(pt::conv_str(p.c));
  ConvData d(p.c);
  const std::vector<float> alpha = pt::rand_vec(p.c.cout, 21, 0.f, 0.5f);
  std::vector<float> pre(pt::conv_out_size(p.c)), ref(pre.size()), got = nans(pre.size());
  pcnn_conv1x1_prelu_fwd__ref(pre.data(), ref.data(), d.in.data(), d.wm.data(), d.b.data(),
                              alpha.data(), &p.c);
  pdnnl::Conv1x1PreluFwd dn(p.c, p.layout);
  dn.forward(got.data(), d.in.data(), d.wm.data(), d.b.data(), alpha.data());
  log_line(p, "conv1x1+prelu fwd", dn.impl(), expect_match(got, ref, "out"));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DnnlConv1x1Prelu,
    ::testing::Values(Case{"seed_1x1B_128to64_N2", conv(2, 28, 28, 128, 64, 1, PCNN_MASK_B, 1), Layout::plain},
                      Case{"seed_1x1B_128to64_N2", conv(2, 28, 28, 128, 64, 1, PCNN_MASK_B, 1), Layout::blocked},
                      Case{"odd_N3_5x7_3to6_k1A_G3", conv(3, 5, 7, 3, 6, 1, PCNN_MASK_A, 3), Layout::plain},
                      Case{"odd_N3_5x7_3to6_k1A_G3", conv(3, 5, 7, 3, 6, 1, PCNN_MASK_A, 3), Layout::blocked}),
    case_name);

// The wrapper refuses what it cannot do, loudly.
TEST(DnnlConvSanity, BadRequestsThrow) {
  const pcnn_conv_t c3 = conv(1, 4, 4, 2, 2, 3, PCNN_MASK_B, 1);
  EXPECT_THROW(pdnnl::Conv1x1PreluFwd(c3, Layout::plain), std::runtime_error);
  pdnnl::Conv fwd_only(c3, Layout::plain, pdnnl::kFwdBit);
  EXPECT_THROW(fwd_only.impl(pdnnl::kBwdData), std::runtime_error);
  EXPECT_THROW(pdnnl::Conv(conv(1, 4, 4, 2, 2, 4, PCNN_MASK_B, 1), Layout::plain), std::runtime_error);
  // a status other than dnnl_success names the call
  try {
    PDNNL_CHECK(dnnl_invalid_arguments);
    ADD_FAILURE() << "no throw";
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("invalid_arguments"), std::string::npos) << e.what();
  }
}

}  // namespace
