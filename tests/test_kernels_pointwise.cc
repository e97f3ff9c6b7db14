// test_kernels_pointwise.cc: every SIMD row of the kernel list for the
// pointwise ops (fused 1x1 conv + PReLU, PReLU, add, loss heads, Nadam) against
// its reference twin on seeded random data: forward within 1e-5, gradients
// within 1e-4 (atol scaled to the tensor's magnitude), gradients accumulate
// into pre-filled buffers, masked weight taps are neither read nor written,
// and two runs give bitwise identical results (the fused 1x1 ops: one at 1
// thread, one at 2). The bf16 rows of the fused 1x1 ops are checked the same
// way against the bf16 reference (pcnn_<op>__ref_bf16).
#include <algorithm>
#include <cstring>

#include <omp.h>

#include "test_util.h"

namespace {

// the ops tested here; the convs and gemm_acc have their own files
bool is_pointwise(int op) {
  switch ((pcnn_op_t)op) {
    case PCNN_OP_conv1x1_prelu_fwd:
    case PCNN_OP_conv1x1_prelu_bwd_data:
    case PCNN_OP_conv1x1_prelu_bwd_weights:
    case PCNN_OP_prelu_fwd:
    case PCNN_OP_prelu_bwd:
    case PCNN_OP_add_fwd:
    case PCNN_OP_add_bwd:
    case PCNN_OP_nadam_update:
    case PCNN_OP_bernoulli_loss:
    case PCNN_OP_softmax256_loss: return true;
    case PCNN_OP_conv_fwd:
    case PCNN_OP_conv_bwd_data:
    case PCNN_OP_conv_bwd_weights:
    case PCNN_OP_conv_prelu_fwd:
    case PCNN_OP_gemm_acc:
    case PCNN_OP_COUNT: return false;
  }
  return false;
}

// the SIMD rows of the pointwise ops: every FP32 row, and the bf16 rows of
// the fused 1x1 ops (checked against the bf16 reference, pcnn_kernels.h,
// "precision": only the order of the fp32 additions differs, so the FP32
// tolerances hold)
std::vector<const pcnn_kernel_row_t *> simd_rows() {
  std::vector<const pcnn_kernel_row_t *> r;
  for (int i = 0; i < pcnn_kernel_row_count; i++)
    if (pcnn_kernel_rows[i].isa != PCNN_ISA_REF && is_pointwise(pcnn_kernel_rows[i].op))
      r.push_back(&pcnn_kernel_rows[i]);
  for (int i = 0; i < pcnn_kernel_row_count_bf16; i++)
    if (pcnn_kernel_rows_bf16[i].isa != PCNN_ISA_REF && is_pointwise(pcnn_kernel_rows_bf16[i].op))
      r.push_back(&pcnn_kernel_rows_bf16[i]);
  return r;
}

// the reference row of op in precision prec
template <class F>
F *ref_of(int op, pcnn_prec_t prec = PCNN_PREC_FP32) {
  const pcnn_kernel_row_t *rows = prec == PCNN_PREC_BF16 ? pcnn_kernel_rows_bf16 : pcnn_kernel_rows;
  const int n = prec == PCNN_PREC_BF16 ? pcnn_kernel_row_count_bf16 : pcnn_kernel_row_count;
  for (int i = 0; i < n; i++)
    if (rows[i].op == op && rows[i].isa == PCNN_ISA_REF) return (F *)rows[i].fn;
  return nullptr;
}

// runs f() with t OpenMP threads
template <class G>
void with_threads(int t, G f) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(t);
  f();
  omp_set_num_threads(saved);
}

double max_abs(const std::vector<float> &v) {
  double m = 0;
  for (float x : v) m = std::max(m, (double)std::fabs(x));
  return m;
}

// y close to ref: |d| <= tol * max|ref| + tol |ref|
::testing::AssertionResult Close(const std::vector<float> &y, const std::vector<float> &ref,
                                 double tol, const std::string &what) {
  return pt::AllClose(y.data(), ref.data(), y.size(), tol * std::max(max_abs(ref), 1e-30), tol,
                      what);
}

bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// ---- fused masked 1x1 conv + PReLU ----

std::vector<pcnn_conv_t> conv1x1_shapes() {
  std::vector<pcnn_conv_t> s;
  auto add = [&](int n, int h, int w, int ci, int co, int mask, int g) {
    s.push_back(pcnn_conv_t{n, h, w, ci, co, 1, mask, g, 0});
  };
  // seed model shapes (the batch cut from 32 to 4 to keep the reference fast)
  add(4, 28, 28, 128, 64, PCNN_MASK_B, 1);
  add(4, 28, 28, 64, 128, PCNN_MASK_B, 1);
  add(4, 28, 28, 128, 128, PCNN_MASK_B, 1);
  // RGB: three colour groups
  add(4, 8, 8, 120, 60, PCNN_MASK_B, 3);
  add(4, 8, 8, 60, 120, PCNN_MASK_B, 3);
  add(4, 8, 8, 120, 120, PCNN_MASK_B, 3);
  add(2, 5, 7, 120, 120, PCNN_MASK_A, 3);
  // odd channel counts x odd pixel counts, grayscale and RGB
  const int chans[] = {1, 3, 5, 7, 13, 17, 31, 33};
  const int pix[] = {1, 2, 7, 15, 17};
  for (int a = 0; a < 8; a++)
    for (int b = 0; b < 8; b += 1) {
      if ((a + b) % 3) continue;  // a spread of pairs, not all 64
      const int p = pix[(a + 2 * b) % 5];
      add(1, 1, p, chans[a], chans[b], PCNN_MASK_B, 1);
      if (chans[a] >= 3 && chans[b] >= 3) add(1, 1, p, chans[a], chans[b], PCNN_MASK_B, 3);
    }
  add(3, 1, 17, 33, 33, PCNN_MASK_B, 3);
  add(1, 1, 7, 64, 48, PCNN_MASK_B, 1);
  // past 8192 pixels (even and odd counts): the bf16 weight gradient's
  // 128-pixel blocks
  add(11, 28, 28, 16, 24, PCNN_MASK_B, 1);
  add(3, 57, 53, 33, 15, PCNN_MASK_B, 3);
  return s;
}

struct Conv1x1Data {
  pcnn_conv_t c{};
  size_t pn;
  std::vector<float> in, w, b, alpha, dout, pre, mask;
  Conv1x1Data(const pcnn_conv_t &c_, uint64_t seed) : c(c_) {
    pn = (size_t)c.n * c.h * c.w;
    in = pt::rand_vec(pn * c.cin, seed + 1);
    w = pt::rand_vec((size_t)c.cin * c.cout, seed + 2);
    b = pt::rand_vec(c.cout, seed + 3);
    alpha = pt::rand_vec(c.cout, seed + 4, 0.f, 0.5f);
    dout = pt::rand_vec(pn * c.cout, seed + 5);
    pre = pt::rand_vec(pn * c.cout, seed + 6);
    mask.resize(w.size());
    pcnn_mask_fill(mask.data(), &c);
    // masked taps hold NaN: a kernel that reads one poisons its output
    for (size_t i = 0; i < w.size(); i++)
      if (mask[i] == 0.f) w[i] = NAN;
  }
};

void check_conv1x1_fwd(pcnn_conv1x1_prelu_fwd_fn *fn, pcnn_conv1x1_prelu_fwd_fn *ref) {
  uint64_t seed = 100;
  for (const pcnn_conv_t &c : conv1x1_shapes()) {
    SCOPED_TRACE(pt::conv_str(c));
    Conv1x1Data d(c, seed += 10);
    const size_t no = d.pn * c.cout;
    std::vector<float> pre_r(no), out_r(no), pre(no, 7.f), out(no, 7.f), pre2(no), out2(no);
    ref(pre_r.data(), out_r.data(), d.in.data(), d.w.data(), d.b.data(), d.alpha.data(), &c);
    with_threads(1, [&] { fn(pre.data(), out.data(), d.in.data(), d.w.data(), d.b.data(), d.alpha.data(), &c); });
    with_threads(2, [&] { fn(pre2.data(), out2.data(), d.in.data(), d.w.data(), d.b.data(), d.alpha.data(), &c); });
    ASSERT_TRUE(Close(pre, pre_r, PCNN_TOL_FWD, "pre"));
    ASSERT_TRUE(Close(out, out_r, PCNN_TOL_FWD, "out"));
    ASSERT_TRUE(same_bits(pre, pre2) && same_bits(out, out2)) << "1 and 2 threads differ";
  }
}

void check_conv1x1_bwd_data(pcnn_conv1x1_prelu_bwd_data_fn *fn,
                            pcnn_conv1x1_prelu_bwd_data_fn *ref) {
  uint64_t seed = 200;
  for (const pcnn_conv_t &c : conv1x1_shapes()) {
    SCOPED_TRACE(pt::conv_str(c));
    Conv1x1Data d(c, seed += 10);
    const std::vector<float> fill = pt::rand_vec(d.pn * c.cin, seed + 9);  // accumulate onto this
    std::vector<float> din_r = fill, din = fill, din2 = fill;
    ref(din_r.data(), d.dout.data(), d.pre.data(), d.w.data(), d.alpha.data(), &c);
    with_threads(1, [&] { fn(din.data(), d.dout.data(), d.pre.data(), d.w.data(), d.alpha.data(), &c); });
    with_threads(2, [&] { fn(din2.data(), d.dout.data(), d.pre.data(), d.w.data(), d.alpha.data(), &c); });
    ASSERT_TRUE(Close(din, din_r, PCNN_TOL_GRAD, "din"));
    ASSERT_TRUE(same_bits(din, din2)) << "1 and 2 threads differ";
  }
}

void check_conv1x1_bwd_weights(pcnn_conv1x1_prelu_bwd_weights_fn *fn,
                               pcnn_conv1x1_prelu_bwd_weights_fn *ref) {
  uint64_t seed = 300;
  for (const pcnn_conv_t &c : conv1x1_shapes()) {
    SCOPED_TRACE(pt::conv_str(c));
    Conv1x1Data d(c, seed += 10);
    const std::vector<float> fw = pt::rand_vec(d.w.size(), seed + 7),
                             fb = pt::rand_vec(c.cout, seed + 8),
                             fa = pt::rand_vec(c.cout, seed + 9);
    std::vector<float> dw_r = fw, db_r = fb, da_r = fa, dw = fw, db = fb, da = fa, dw2 = fw,
                       db2 = fb, da2 = fa;
    ref(dw_r.data(), db_r.data(), da_r.data(), d.dout.data(), d.pre.data(), d.in.data(),
        d.alpha.data(), &c);
    with_threads(1, [&] {
      fn(dw.data(), db.data(), da.data(), d.dout.data(), d.pre.data(), d.in.data(), d.alpha.data(), &c);
    });
    with_threads(2, [&] {
      fn(dw2.data(), db2.data(), da2.data(), d.dout.data(), d.pre.data(), d.in.data(), d.alpha.data(), &c);
    });
    // the sums run over all pixels: scale the tolerance by their magnitude
    std::vector<float> ddw(dw.size()), ddw_r(dw.size());
    for (size_t i = 0; i < dw.size(); i++) ddw[i] = dw[i] - fw[i], ddw_r[i] = dw_r[i] - fw[i];
    const double mag = std::max(max_abs(ddw_r), 1e-30);
    ASSERT_TRUE(pt::AllClose(dw.data(), dw_r.data(), dw.size(), PCNN_TOL_GRAD * mag, PCNN_TOL_GRAD, "dw"));
    ASSERT_TRUE(Close(db, db_r, PCNN_TOL_GRAD, "db"));
    ASSERT_TRUE(Close(da, da_r, PCNN_TOL_GRAD, "dalpha"));
    for (size_t i = 0; i < dw.size(); i++) {
      if (d.mask[i] == 0.f) {
        ASSERT_EQ(dw[i], fw[i]) << "masked tap " << i << " written";
      }
    }
    ASSERT_TRUE(same_bits(dw, dw2) && same_bits(db, db2) && same_bits(da, da2))
        << "1 and 2 threads differ";
  }
}

// ---- PReLU, residual add, Nadam: flat or (P, C) loops with masked tails ----

const int kChans[] = {1, 3, 5, 7, 13, 16, 17, 31, 33, 64, 128};
const size_t kPix[] = {1, 2, 7, 15, 17, 100};
const size_t kLens[] = {1, 2, 7, 15, 16, 17, 31, 33, 100, 1000, 70001};

void check_prelu_fwd(pcnn_prelu_fwd_fn *fn, pcnn_prelu_fwd_fn *ref) {
  uint64_t seed = 400;
  for (int ch : kChans)
    for (size_t p : kPix) {
      SCOPED_TRACE("P " + std::to_string(p) + " C " + std::to_string(ch));
      const auto x = pt::rand_vec(p * ch, ++seed), a = pt::rand_vec(ch, ++seed, 0.f, 0.5f);
      std::vector<float> o_r(p * ch), o(p * ch, 7.f);
      ref(o_r.data(), x.data(), a.data(), p, ch);
      fn(o.data(), x.data(), a.data(), p, ch);
      ASSERT_TRUE(Close(o, o_r, PCNN_TOL_FWD, "out"));
    }
}

void check_prelu_bwd(pcnn_prelu_bwd_fn *fn, pcnn_prelu_bwd_fn *ref) {
  uint64_t seed = 500;
  for (int ch : kChans)
    for (size_t p : kPix) {
      SCOPED_TRACE("P " + std::to_string(p) + " C " + std::to_string(ch));
      const auto x = pt::rand_vec(p * ch, ++seed), g = pt::rand_vec(p * ch, ++seed),
                 a = pt::rand_vec(ch, ++seed, 0.f, 0.5f), fx = pt::rand_vec(p * ch, ++seed),
                 fa = pt::rand_vec(ch, ++seed);
      std::vector<float> dx_r = fx, da_r = fa, dx = fx, da = fa, dx2 = fx, da2 = fa;
      ref(dx_r.data(), da_r.data(), g.data(), x.data(), a.data(), p, ch);
      fn(dx.data(), da.data(), g.data(), x.data(), a.data(), p, ch);
      fn(dx2.data(), da2.data(), g.data(), x.data(), a.data(), p, ch);
      ASSERT_TRUE(Close(dx, dx_r, PCNN_TOL_GRAD, "dx"));
      ASSERT_TRUE(Close(da, da_r, PCNN_TOL_GRAD, "dalpha"));
      ASSERT_TRUE(same_bits(dx, dx2) && same_bits(da, da2)) << "two runs differ";
    }
}

void check_add_fwd(pcnn_add_fwd_fn *fn, pcnn_add_fwd_fn *ref) {
  uint64_t seed = 600;
  for (size_t n : kLens) {
    SCOPED_TRACE("n " + std::to_string(n));
    const auto a = pt::rand_vec(n, ++seed), b = pt::rand_vec(n, ++seed);
    std::vector<float> o_r(n), o(n, 7.f), alias = a;
    ref(o_r.data(), a.data(), b.data(), n);
    fn(o.data(), a.data(), b.data(), n);
    fn(alias.data(), alias.data(), b.data(), n);  // out aliases a
    ASSERT_TRUE(Close(o, o_r, PCNN_TOL_FWD, "out"));
    ASSERT_TRUE(Close(alias, o_r, PCNN_TOL_FWD, "out aliasing a"));
  }
}

void check_add_bwd(pcnn_add_bwd_fn *fn, pcnn_add_bwd_fn *ref) {
  uint64_t seed = 700;
  for (size_t n : kLens) {
    SCOPED_TRACE("n " + std::to_string(n));
    const auto g = pt::rand_vec(n, ++seed), fa = pt::rand_vec(n, ++seed),
               fb = pt::rand_vec(n, ++seed);
    std::vector<float> da_r = fa, db_r = fb, da = fa, db = fb;
    ref(da_r.data(), db_r.data(), g.data(), n);
    fn(da.data(), db.data(), g.data(), n);
    ASSERT_TRUE(Close(da, da_r, PCNN_TOL_GRAD, "da"));
    ASSERT_TRUE(Close(db, db_r, PCNN_TOL_GRAD, "db"));
  }
}

void check_nadam(pcnn_nadam_update_fn *fn, pcnn_nadam_update_fn *ref) {
  uint64_t seed = 800;
  const pcnn_nadam_hparams_t hp = pcnn_nadam_defaults();
  for (size_t n : kLens) {
    SCOPED_TRACE("n " + std::to_string(n));
    std::vector<float> p_r = pt::rand_vec(n, ++seed), m_r(n, 0.f), v_r(n, 0.f);
    std::vector<float> p = p_r, m = m_r, v = v_r;
    pcnn_nadam_state_t st = {0, 1.0};
    for (int step = 0; step < 3; step++) {  // from zero moments, then from non-zero ones
      const auto g = pt::rand_vec(n, ++seed, -2.f, 2.f);
      const pcnn_nadam_coef_t k = pcnn_nadam_begin_step(&st, &hp);
      ref(p_r.data(), m_r.data(), v_r.data(), g.data(), n, &k);
      fn(p.data(), m.data(), v.data(), g.data(), n, &k);
      ASSERT_TRUE(pt::AllClose(m.data(), m_r.data(), n, 0, PCNN_TOL_ELEMENTWISE, "m"));
      ASSERT_TRUE(pt::AllClose(v.data(), v_r.data(), n, 0, PCNN_TOL_ELEMENTWISE, "v"));
      ASSERT_TRUE(pt::AllClose(p.data(), p_r.data(), n, 0, PCNN_TOL_ELEMENTWISE, "param"));
    }
  }
}

// ---- loss heads: both share one signature; loss within 1e-5 relative, dx within
// 1e-5 (computed per element, no long sums); the loss and dx are bitwise the
// same at 1 and 2 threads (fixed partial-sum ranges, added in order) ----

// targets: a third 0, a third 1, a third fractional; `out` adds a few outside [0, 1]
std::vector<float> loss_targets(size_t n, uint64_t seed, bool out = false) {
  pt::Rng r(seed);
  std::vector<float> t(n);
  for (float &v : t) {
    const uint64_t k = r.next() % 3;
    v = k == 0 ? 0.f : k == 1 ? 1.f : r.uniform(0.f, 1.f);
    if (out && r.next() % 16 == 0) v = r.uniform(-0.2f, 1.2f);
  }
  return t;
}

// loss and dx from fn at 1 thread and at 2: bitwise the same (the result is fn's at 1 thread)
double loss_threads(pcnn_bernoulli_loss_fn *fn, std::vector<float> &dx, const std::vector<float> &x,
                    const std::vector<float> &t, size_t p, int ch, float scale) {
  const int saved = omp_get_max_threads();
  std::vector<float> dx2(dx.size(), 7.f);
  omp_set_num_threads(1);
  const double l1 = fn(dx.data(), x.data(), t.data(), p, ch, scale);
  omp_set_num_threads(2);
  const double l2 = fn(dx2.data(), x.data(), t.data(), p, ch, scale);
  omp_set_num_threads(saved);
  EXPECT_EQ(memcmp(&l1, &l2, sizeof l1), 0) << "loss differs at 1 and 2 threads: " << l1 << " "
                                            << l2;
  EXPECT_TRUE(same_bits(dx, dx2)) << "dx differs at 1 and 2 threads";
  return l1;
}

::testing::AssertionResult LossClose(double l, double ref) {
  const float lf = (float)l, rf = (float)ref;
  return pt::AllClose(&lf, &rf, 1, 0, PCNN_TOL_FWD, "loss");
}

// the kernel (at 1 and 2 threads, dx pre-filled) against the reference:
// loss and dx within 1e-5 (both heads share one signature)
void expect_loss_matches(pcnn_bernoulli_loss_fn *fn, pcnn_bernoulli_loss_fn *ref,
                         const std::vector<float> &x, const std::vector<float> &t, size_t p, int ch) {
  std::vector<float> dx_r(x.size()), dx(x.size(), 7.f);
  const double l_r = ref(dx_r.data(), x.data(), t.data(), p, ch, 0.37f);
  const double l = loss_threads(fn, dx, x, t, p, ch, 0.37f);
  ASSERT_TRUE(LossClose(l, l_r));
  ASSERT_TRUE(Close(dx, dx_r, PCNN_TOL_FWD, "dx"));
}

void check_bernoulli(pcnn_bernoulli_loss_fn *fn, pcnn_bernoulli_loss_fn *ref) {
  uint64_t seed = 900;
  struct Case { size_t p; int ch; float mag; };
  std::vector<Case> cases;
  for (float mag : {1.f, 10.f, 100.f, 1e4f})
    for (int ch : {1, 3})
      for (size_t p : {1, 2, 7, 15, 17, 100, 1001}) cases.push_back({p, ch, mag});
  cases.push_back({30001, 3, 3.f});  // > 65536 logits: the threaded path
  cases.push_back({333, 1, 1e30f});
  for (const Case &c : cases) {
    SCOPED_TRACE("P " + std::to_string(c.p) + " C " + std::to_string(c.ch) + " |x| <= " +
                 std::to_string(c.mag));
    const size_t n = c.p * c.ch;
    const auto x = pt::rand_vec(n, ++seed, -c.mag, c.mag), t = loss_targets(n, ++seed);
    expect_loss_matches(fn, ref, x, t, c.p, c.ch);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

void check_softmax256(pcnn_softmax256_loss_fn *fn, pcnn_softmax256_loss_fn *ref) {
  uint64_t seed = 1000;
  struct Case { size_t p; int ch; float mag, offset; };
  std::vector<Case> cases;
  for (float mag : {1.f, 10.f, 1e4f})
    for (int ch : {1, 3})
      for (size_t p : {1, 2, 7, 17, 100}) cases.push_back({p, ch, mag, 0.f});
  cases.push_back({17, 3, 3.f, 1e4f});    // all logits near 1e4: e^x overflows unless shifted
  cases.push_back({17, 1, 3.f, -1e4f});
  cases.push_back({5, 3, 1e30f, 0.f});
  cases.push_back({400, 3, 3.f, 0.f});    // > 256 rows: the threaded path
  for (const Case &c : cases) {
    SCOPED_TRACE("P " + std::to_string(c.p) + " C " + std::to_string(c.ch) + " |x| <= " +
                 std::to_string(c.mag) + " + " + std::to_string(c.offset));
    const size_t n = c.p * c.ch * 256;
    auto x = pt::rand_vec(n, ++seed, -c.mag, c.mag);
    for (float &v : x) v += c.offset;
    const auto t = loss_targets(c.p * c.ch, ++seed, true);
    expect_loss_matches(fn, ref, x, t, c.p, c.ch);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// The heads' e^x and ln x within a few ulp: element by element over the range
// where e^-|x| is a normal float, relative 5e-7 (8 ulp; the kernels measure <= 3).
void check_bernoulli_ulp(pcnn_bernoulli_loss_fn *fn, pcnn_bernoulli_loss_fn *ref) {
  std::vector<float> l, l_r, s, s_r;  // per-element loss; dx = sigmoid(x) at t = 0
  for (int i = 0; i <= 400; i++)
    for (float sign : {-1.f, 1.f})
      for (float t : {0.f, 0.3f, 1.f}) {
        const float x = sign * 1e-6f * std::pow(87e6f, i / 400.f);  // |x| from 1e-6 to 87
        float dx, dx_r;
        l.push_back((float)fn(&dx, &x, &t, 1, 1, 1.f));
        l_r.push_back((float)ref(&dx_r, &x, &t, 1, 1, 1.f));
        if (t == 0.f) s.push_back(dx), s_r.push_back(dx_r);
      }
  ASSERT_TRUE(pt::AllClose(l.data(), l_r.data(), l.size(), 0, PCNN_TOL_ULP8, "per-element loss"));
  ASSERT_TRUE(pt::AllClose(s.data(), s_r.data(), s.size(), 0, PCNN_TOL_ULP8, "sigmoid"));
}

void check_softmax256_ulp(pcnn_softmax256_loss_fn *fn, pcnn_softmax256_loss_fn *ref) {
  // row r: x_j = -j step_r, e^(x_j - max) from 1 down to e^-80 (normal floats)
  const int rows = 16;
  std::vector<float> x(rows * 256), t(rows), dx(x.size()), dx_r(x.size());
  for (int r = 0; r < rows; r++) {
    for (int j = 0; j < 256; j++) x[r * 256 + j] = -(float)j * 80.f / 255.f * (r + 1) / rows;
    t[r] = (float)r / (rows - 1);
  }
  fn(dx.data(), x.data(), t.data(), rows, 1, 1.f);
  ref(dx_r.data(), x.data(), t.data(), rows, 1, 1.f);
  ASSERT_TRUE(pt::AllClose(dx.data(), dx_r.data(), dx.size(), 0, PCNN_TOL_ULP8, "softmax - onehot"));
}

class PointwiseKernel : public ::testing::TestWithParam<const pcnn_kernel_row_t *> {};

TEST_P(PointwiseKernel, MatchesReference) {
  const pcnn_kernel_row_t &row = *GetParam();
  if (!pcnn_isa_supported(row.isa))
    GTEST_SKIP() << row.fn_name << ": this CPU does not run " << pcnn_isa_name(row.isa);
  switch ((pcnn_op_t)row.op) {
    case PCNN_OP_conv1x1_prelu_fwd:
      check_conv1x1_fwd((pcnn_conv1x1_prelu_fwd_fn *)row.fn, ref_of<pcnn_conv1x1_prelu_fwd_fn>(row.op, row.prec));
      break;
    case PCNN_OP_conv1x1_prelu_bwd_data:
      check_conv1x1_bwd_data((pcnn_conv1x1_prelu_bwd_data_fn *)row.fn,
                             ref_of<pcnn_conv1x1_prelu_bwd_data_fn>(row.op, row.prec));
      break;
    case PCNN_OP_conv1x1_prelu_bwd_weights:
      check_conv1x1_bwd_weights((pcnn_conv1x1_prelu_bwd_weights_fn *)row.fn,
                                ref_of<pcnn_conv1x1_prelu_bwd_weights_fn>(row.op, row.prec));
      break;
    case PCNN_OP_prelu_fwd:
      check_prelu_fwd((pcnn_prelu_fwd_fn *)row.fn, ref_of<pcnn_prelu_fwd_fn>(row.op));
      break;
    case PCNN_OP_prelu_bwd:
      check_prelu_bwd((pcnn_prelu_bwd_fn *)row.fn, ref_of<pcnn_prelu_bwd_fn>(row.op));
      break;
    case PCNN_OP_add_fwd: check_add_fwd((pcnn_add_fwd_fn *)row.fn, ref_of<pcnn_add_fwd_fn>(row.op)); break;
    case PCNN_OP_add_bwd: check_add_bwd((pcnn_add_bwd_fn *)row.fn, ref_of<pcnn_add_bwd_fn>(row.op)); break;
    case PCNN_OP_nadam_update:
      check_nadam((pcnn_nadam_update_fn *)row.fn, ref_of<pcnn_nadam_update_fn>(row.op));
      break;
    case PCNN_OP_bernoulli_loss:
      check_bernoulli((pcnn_bernoulli_loss_fn *)row.fn, ref_of<pcnn_bernoulli_loss_fn>(row.op));
      check_bernoulli_ulp((pcnn_bernoulli_loss_fn *)row.fn, ref_of<pcnn_bernoulli_loss_fn>(row.op));
      break;
    case PCNN_OP_softmax256_loss:
      check_softmax256((pcnn_softmax256_loss_fn *)row.fn, ref_of<pcnn_softmax256_loss_fn>(row.op));
      check_softmax256_ulp((pcnn_softmax256_loss_fn *)row.fn, ref_of<pcnn_softmax256_loss_fn>(row.op));
      break;
    case PCNN_OP_conv_fwd:
    case PCNN_OP_conv_bwd_data:
    case PCNN_OP_conv_bwd_weights:
    case PCNN_OP_conv_prelu_fwd:
    case PCNN_OP_gemm_acc:
    case PCNN_OP_COUNT: FAIL() << "no pointwise test for op " << row.op_name;
  }
}

std::string row_name(const ::testing::TestParamInfo<const pcnn_kernel_row_t *> &i) {
  return i.param->fn_name;
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PointwiseKernel);
INSTANTIATE_TEST_SUITE_P(List, PointwiseKernel, ::testing::ValuesIn(simd_rows()), row_name);

}  // namespace
