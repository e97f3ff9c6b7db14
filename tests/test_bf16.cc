// test_bf16.cc: the bf16 precision's foundations.
//  - rounding to bf16 (pcnn_bf16.h): known values, ties to even, NaN, inf,
//    subnormals, and against the hardware's VCVTNEPS2BF16 where the CPU has it;
//  - each bf16 reference (pcnn_<op>__ref_bf16) is exactly the FP32 reference
//    on operands rounded to bf16 (bitwise, where the rounded operand is an
//    input), and within PCNN_TOL_BF16 x sum |a||b| of the FP32 reference on
//    the unrounded inputs, and not equal to it (the rounding happens);
//  - the kernel table in bf16 takes the bf16 rows for exactly the ops that
//    have them, at every level, and the FP32 rows elsewhere;
//  - the model in bf16 (on the best bf16 level this CPU runs, the bf16
//    reference if none): training tracks FP32 within 1% on a small model and
//    differs from it, gives the same bits at 1, 2 and 3 threads, and the
//    caching sampler's logits equal the bf16 forward's (PCNN_TOL_CACHED);
//  - the program: --precision is recorded in the checkpoint, a resume
//    continues in it bit for bit, a contradicting --precision or plan is
//    refused naming the flag.
#include <omp.h>

#include <cmath>
#include <cstring>

#include "cli_util.h"
#include "config_name.h"
#include "test_util.h"

extern "C" {
#include "checkpoint.h"
#include "pcnn_bf16.h"
#include "plan.h"
#include "sample.h"
}

namespace {

float bits(uint32_t u) { return pcnn_f32_of_bits(u); }

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(pcnn_f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(pcnn_f32_to_bf16(-2.0f), 0xc000);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0)
  EXPECT_EQ(pcnn_f32_to_bf16(bits(0x3f808000u)), 0x3f80);
  // 1 + 3 x 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up
  EXPECT_EQ(pcnn_f32_to_bf16(bits(0x3f818000u)), 0x3f82);
  // just above halfway rounds up, just below down
  EXPECT_EQ(pcnn_f32_to_bf16(bits(0x3f808001u)), 0x3f81);
  EXPECT_EQ(pcnn_f32_to_bf16(bits(0x3f807fffu)), 0x3f80);
  // the largest float rounds to infinity; infinities stay
  EXPECT_EQ(pcnn_f32_to_bf16(bits(0x7f7fffffu)), 0x7f80);
  EXPECT_EQ(pcnn_f32_to_bf16(INFINITY), 0x7f80);
  EXPECT_EQ(pcnn_f32_to_bf16(-INFINITY), 0xff80);
  // NaN stays NaN (quiet), even one whose payload sits in the low 16 bits
  EXPECT_TRUE(std::isnan(pcnn_bf16_round(bits(0x7f800001u))));
  EXPECT_TRUE(std::isnan(pcnn_bf16_round(NAN)));
  // subnormals become zeros of their sign, as the hardware reads them
  EXPECT_EQ(pcnn_f32_to_bf16(bits(0x00000001u)), 0x0000);
  EXPECT_EQ(pcnn_f32_to_bf16(bits(0x807fffffu)), 0x8000);
  // the bound: |round(x) - x| <= 2^-8 |x| on random normal values
  pt::Rng r(5);
  for (int i = 0; i < 100000; i++) {
    const float x = r.uniform(-1e3f, 1e3f);
    EXPECT_LE(std::fabs((double)pcnn_bf16_round(x) - x), std::ldexp(std::fabs((double)x), -8)) << x;
  }
}

// the FP32 reference of op and its bf16 twin, from the kernel list
void (*row_fn(int op, pcnn_prec_t prec))(void) {
  const pcnn_kernel_row_t *rows = prec == PCNN_PREC_BF16 ? pcnn_kernel_rows_bf16 : pcnn_kernel_rows;
  const int n = prec == PCNN_PREC_BF16 ? pcnn_kernel_row_count_bf16 : pcnn_kernel_row_count;
  for (int i = 0; i < n; i++)
    if (rows[i].op == op && rows[i].isa == PCNN_ISA_REF) return rows[i].fn;
  return nullptr;
}

std::vector<float> rounded(std::vector<float> v) {
  for (float &x : v) x = pcnn_bf16_round(x);
  return v;
}
std::vector<float> absv(std::vector<float> v) {
  for (float &x : v) x = std::fabs(x);
  return v;
}
std::vector<float> masked(std::vector<float> w, const pcnn_conv_t &c) {
  std::vector<float> m(w.size());
  pcnn_mask_fill(m.data(), &c);
  for (size_t i = 0; i < w.size(); i++) w[i] *= m[i];
  return w;
}

bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// y_bf16 within PCNN_TOL_BF16 x s of y32 everywhere (s: the sum of |products|,
// plus the magnitude of what was there before, for accumulating outputs), and
// different somewhere by more than 2^-12 s: the rounding is really applied
::testing::AssertionResult within_bound(const std::vector<float> &y16, const std::vector<float> &y32,
                                        const std::vector<float> &s, const std::string &what) {
  size_t bad = 0, moved = 0;
  for (size_t i = 0; i < y16.size(); i++) {
    const double d = std::fabs((double)y16[i] - y32[i]);
    if (!(d <= PCNN_TOL_BF16 * s[i])) bad++;
    if (d > std::ldexp((double)s[i], -12)) moved++;
  }
  if (bad) return ::testing::AssertionFailure() << what << ": " << bad << " outputs beyond the bf16 bound";
  if (!moved) return ::testing::AssertionFailure() << what << ": no output moved: bf16 rounding not applied?";
  return ::testing::AssertionSuccess();
}

// a weight gradient: masked taps are 0 in both, so the bound is checked on
// the kept entries only
::testing::AssertionResult kept_within_bound(const std::vector<float> &dw16, const std::vector<float> &dw32,
                                             const std::vector<float> &dws, const pcnn_conv_t &c,
                                             const std::string &what) {
  std::vector<float> m(dw16.size()), k16, k32, ks;
  pcnn_mask_fill(m.data(), &c);
  for (size_t i = 0; i < m.size(); i++)
    if (m[i] != 0.f) k16.push_back(dw16[i]), k32.push_back(dw32[i]), ks.push_back(dws[i]);
  return within_bound(k16, k32, ks, what);
}

pcnn_conv_t Cv(int n, int h, int w, int cin, int cout, int k, int mask, int groups) {
  pcnn_conv_t c{};
  c.n = n, c.h = h, c.w = w, c.cin = cin, c.cout = cout, c.k = k, c.mask = mask, c.groups = groups;
  return c;
}

const pcnn_conv_t kShapes[] = {Cv(2, 7, 9, 13, 21, 3, PCNN_MASK_B, 1), Cv(1, 6, 5, 3, 30, 7, PCNN_MASK_A, 3),
                               Cv(2, 5, 6, 33, 17, 1, PCNN_MASK_B, 3), Cv(1, 8, 8, 64, 64, 3, PCNN_MASK_B, 1),
                               Cv(1, 4, 7, 32, 48, 1, PCNN_MASK_B, 1)};

TEST(Bf16, ConvReferenceIsTheFp32ReferenceOnRoundedOperands) {
  auto *f32 = (pcnn_conv_fwd_fn *)row_fn(PCNN_OP_conv_fwd, PCNN_PREC_FP32);
  auto *f16 = (pcnn_conv_fwd_fn *)row_fn(PCNN_OP_conv_fwd, PCNN_PREC_BF16);
  auto *d32 = (pcnn_conv_bwd_data_fn *)row_fn(PCNN_OP_conv_bwd_data, PCNN_PREC_FP32);
  auto *d16 = (pcnn_conv_bwd_data_fn *)row_fn(PCNN_OP_conv_bwd_data, PCNN_PREC_BF16);
  auto *w32 = (pcnn_conv_bwd_weights_fn *)row_fn(PCNN_OP_conv_bwd_weights, PCNN_PREC_FP32);
  auto *w16 = (pcnn_conv_bwd_weights_fn *)row_fn(PCNN_OP_conv_bwd_weights, PCNN_PREC_BF16);
  ASSERT_TRUE(f32 && f16 && d32 && d16 && w32 && w16);
  ASSERT_NE((void *)f32, (void *)f16);
  uint64_t seed = 10;
  for (const pcnn_conv_t &c : kShapes) {
    SCOPED_TRACE(pt::conv_str(c));
    const auto in = pt::rand_vec(pt::conv_in_size(c), seed++), dout = pt::rand_vec(pt::conv_out_size(c), seed++);
    const auto w = masked(pt::rand_vec(pt::conv_w_size(c), seed++, -0.3f, 0.3f), c);
    const auto b = pt::rand_vec(c.cout, seed++);
    const std::vector<float> zb(c.cout, 0.f);
    const size_t no = pt::conv_out_size(c), ni = pt::conv_in_size(c), nw = pt::conv_w_size(c);
    // forward
    std::vector<float> y16(no), y32(no), yr(no), s(no);
    f16(y16.data(), in.data(), w.data(), b.data(), &c);
    f32(yr.data(), rounded(in).data(), rounded(w).data(), b.data(), &c);
    EXPECT_TRUE(same_bits(y16, yr)) << "forward";
    f32(y32.data(), in.data(), w.data(), b.data(), &c);
    f32(s.data(), absv(in).data(), absv(w).data(), zb.data(), &c);
    EXPECT_TRUE(within_bound(y16, y32, s, "forward"));
    // data gradient (accumulates into zeros here)
    std::vector<float> g16(ni, 0.f), g32(ni, 0.f), gr(ni, 0.f), gs(ni, 0.f);
    d16(g16.data(), dout.data(), w.data(), &c);
    d32(gr.data(), rounded(dout).data(), rounded(w).data(), &c);
    EXPECT_TRUE(same_bits(g16, gr)) << "backward data";
    d32(g32.data(), dout.data(), w.data(), &c);
    d32(gs.data(), absv(dout).data(), absv(w).data(), &c);
    EXPECT_TRUE(within_bound(g16, g32, gs, "backward data"));
    // weight gradient: dw on rounded operands, db (a sum of dout) in fp32
    std::vector<float> dw16(nw, 0.f), dwr(nw, 0.f), dw32(nw, 0.f), dws(nw, 0.f);
    std::vector<float> db16(c.cout, 0.f), dbr(c.cout, 0.f), db32(c.cout, 0.f), dbs(c.cout, 0.f);
    w16(dw16.data(), db16.data(), dout.data(), in.data(), &c);
    w32(dwr.data(), dbr.data(), rounded(dout).data(), rounded(in).data(), &c);
    w32(dw32.data(), db32.data(), dout.data(), in.data(), &c);
    w32(dws.data(), dbs.data(), absv(dout).data(), absv(in).data(), &c);
    EXPECT_TRUE(same_bits(dw16, dwr)) << "backward weights";
    EXPECT_TRUE(same_bits(db16, db32)) << "bias gradient is fp32";
    EXPECT_TRUE(kept_within_bound(dw16, dw32, dws, c, "backward weights"));
  }
}

TEST(Bf16, FusedReferencesWithinTheBound) {
  auto *f32 = (pcnn_conv1x1_prelu_fwd_fn *)row_fn(PCNN_OP_conv1x1_prelu_fwd, PCNN_PREC_FP32);
  auto *f16 = (pcnn_conv1x1_prelu_fwd_fn *)row_fn(PCNN_OP_conv1x1_prelu_fwd, PCNN_PREC_BF16);
  auto *d32 = (pcnn_conv1x1_prelu_bwd_data_fn *)row_fn(PCNN_OP_conv1x1_prelu_bwd_data, PCNN_PREC_FP32);
  auto *d16 = (pcnn_conv1x1_prelu_bwd_data_fn *)row_fn(PCNN_OP_conv1x1_prelu_bwd_data, PCNN_PREC_BF16);
  auto *w32 = (pcnn_conv1x1_prelu_bwd_weights_fn *)row_fn(PCNN_OP_conv1x1_prelu_bwd_weights, PCNN_PREC_FP32);
  auto *w16 = (pcnn_conv1x1_prelu_bwd_weights_fn *)row_fn(PCNN_OP_conv1x1_prelu_bwd_weights, PCNN_PREC_BF16);
  auto *p32 = (pcnn_conv_prelu_fwd_fn *)row_fn(PCNN_OP_conv_prelu_fwd, PCNN_PREC_FP32);
  auto *p16 = (pcnn_conv_prelu_fwd_fn *)row_fn(PCNN_OP_conv_prelu_fwd, PCNN_PREC_BF16);
  ASSERT_TRUE(f32 && f16 && d32 && d16 && w32 && w16 && p32 && p16);
  uint64_t seed = 40;
  for (const pcnn_conv_t &c : kShapes) {
    SCOPED_TRACE(pt::conv_str(c));
    const size_t no = pt::conv_out_size(c), ni = pt::conv_in_size(c), nw = pt::conv_w_size(c);
    const auto in = pt::rand_vec(ni, seed++), dout = pt::rand_vec(no, seed++), pre = pt::rand_vec(no, seed++);
    const auto res = pt::rand_vec(no, seed++);
    const auto w = masked(pt::rand_vec(nw, seed++, -0.3f, 0.3f), c);
    const auto b = pt::rand_vec(c.cout, seed++), alpha = pt::rand_vec(c.cout, seed++, 0.1f, 0.4f);
    // conv + residual + PReLU: pre bitwise the FP32 one on rounded operands
    std::vector<float> q16(no), o16(no), qr(no), orr(no);
    p16(q16.data(), o16.data(), in.data(), w.data(), b.data(), res.data(), alpha.data(), &c);
    p32(qr.data(), orr.data(), rounded(in).data(), rounded(w).data(), b.data(), res.data(), alpha.data(), &c);
    EXPECT_TRUE(same_bits(q16, qr) && same_bits(o16, orr)) << "conv_prelu_fwd";
    if (c.k != 1) continue;
    // the fused 1x1: forward bitwise on rounded operands
    std::vector<float> y16(no), a16(no), yr(no), ar(no);
    f16(y16.data(), a16.data(), in.data(), w.data(), b.data(), alpha.data(), &c);
    f32(yr.data(), ar.data(), rounded(in).data(), rounded(w).data(), b.data(), alpha.data(), &c);
    EXPECT_TRUE(same_bits(y16, yr) && same_bits(a16, ar)) << "conv1x1_prelu_fwd";
    // backward: dpre = prelu'(pre) dout is rounded after it is formed, so the
    // bound (S from |dpre| <= max(1, alpha) |dout| = |dout| here)
    std::vector<float> g16(ni, 0.f), g32(ni, 0.f), gs(ni, 0.f);
    const std::vector<float> ones(c.cout, 1.f), pos(no, 1.f);
    d16(g16.data(), dout.data(), pre.data(), w.data(), alpha.data(), &c);
    d32(g32.data(), dout.data(), pre.data(), w.data(), alpha.data(), &c);
    d32(gs.data(), absv(dout).data(), pos.data(), absv(w).data(), ones.data(), &c);
    EXPECT_TRUE(within_bound(g16, g32, gs, "conv1x1_prelu_bwd_data"));
    std::vector<float> dw16(nw, 0.f), dw32(nw, 0.f), dws(nw, 0.f);
    std::vector<float> db16(c.cout, 0.f), db32(c.cout, 0.f), da16(c.cout, 0.f), da32(c.cout, 0.f), x(2 * c.cout);
    w16(dw16.data(), db16.data(), da16.data(), dout.data(), pre.data(), in.data(), alpha.data(), &c);
    w32(dw32.data(), db32.data(), da32.data(), dout.data(), pre.data(), in.data(), alpha.data(), &c);
    w32(dws.data(), x.data(), x.data() + c.cout, absv(dout).data(), pos.data(), absv(in).data(), ones.data(), &c);
    EXPECT_TRUE(same_bits(db16, db32) && same_bits(da16, da32)) << "bias and slope gradients are fp32";
    EXPECT_TRUE(kept_within_bound(dw16, dw32, dws, c, "conv1x1_prelu_bwd_weights"));
  }
}

TEST(Bf16, GemmReferenceIsTheFp32OneOnRoundedOperands) {
  auto *g32 = (pcnn_gemm_acc_fn *)row_fn(PCNN_OP_gemm_acc, PCNN_PREC_FP32);
  auto *g16 = (pcnn_gemm_acc_fn *)row_fn(PCNN_OP_gemm_acc, PCNN_PREC_BF16);
  ASSERT_TRUE(g32 && g16);
  const int m = 5, n = 37, k = 70;
  const auto a = pt::rand_vec(m * k, 1), b = pt::rand_vec(k * n, 2), c0 = pt::rand_vec(m * n, 3);
  std::vector<float> c16 = c0, cr = c0, c32 = c0, cs = absv(c0);
  std::vector<uint32_t> bw(pcnn_gemm_packed_len(PCNN_PREC_BF16, k, n));  // b as bf16 pair words
  pcnn_gemm_pack_b(PCNN_PREC_BF16, bw.data(), n, b.data(), k, n, n);
  g16(c16.data(), a.data(), bw.data(), m, n, k, k, n, n, nullptr);
  g32(cr.data(), rounded(a).data(), rounded(b).data(), m, n, k, k, n, n, nullptr);
  EXPECT_TRUE(same_bits(c16, cr));
  g32(c32.data(), a.data(), b.data(), m, n, k, k, n, n, nullptr);
  g32(cs.data(), absv(a).data(), absv(b).data(), m, n, k, k, n, n, nullptr);
  EXPECT_TRUE(within_bound(c16, c32, cs, "gemm_acc"));
}

TEST(Bf16, TableTakesBf16RowsForTheirOpsOnly) {
  int n16 = 0;
  for (int op = 0; op < PCNN_OP_COUNT; op++) n16 += pcnn_op_has_bf16(op);
  EXPECT_EQ(n16, 8) << "the convolutions, the fused 1x1 and conv + PReLU, the sampler's GEMM";
  for (int isa = 0; isa < PCNN_ISA_COUNT; isa++) {
    if (!pcnn_isa_supported((pcnn_isa_t)isa)) continue;
    SCOPED_TRACE(pcnn_isa_name((pcnn_isa_t)isa));
    pcnn_kernels_t t32, t16;
    pcnn_kernels_fill_prec(&t32, (pcnn_isa_t)isa, PCNN_PREC_FP32);
    pcnn_kernels_fill_prec(&t16, (pcnn_isa_t)isa, PCNN_PREC_BF16);
#define CHECK_SLOT(op) EXPECT_NE(t16.op, nullptr) << #op;
    PCNN_OPS(CHECK_SLOT)
#undef CHECK_SLOT
    for (int op = 0; op < PCNN_OP_COUNT; op++) {
      EXPECT_EQ(t32.prec_of[op], PCNN_PREC_FP32) << pcnn_op_name(op);
      EXPECT_EQ(t16.prec_of[op], pcnn_op_has_bf16(op) ? PCNN_PREC_BF16 : PCNN_PREC_FP32) << pcnn_op_name(op);
      if (!pcnn_op_has_bf16(op)) {
        EXPECT_EQ(t16.isa_of[op], t32.isa_of[op]) << pcnn_op_name(op);
      }
      // an FP32 table never holds a bf16-only level
      EXPECT_LT(t32.isa_of[op], PCNN_ISA_FP32_COUNT) << pcnn_op_name(op);
    }
    EXPECT_EQ((void *)t16.conv_fwd == (void *)t32.conv_fwd, false);
  }
  EXPECT_EQ(pcnn_bf16_level(PCNN_ISA_REF), PCNN_ISA_REF);
  EXPECT_EQ(pcnn_prec_parse("bf16"), PCNN_PREC_BF16);
  EXPECT_EQ(pcnn_prec_parse("fp32"), PCNN_PREC_FP32);
  EXPECT_EQ(pcnn_prec_parse("fp16"), -1);
  EXPECT_EQ(pcnn_isa_parse("avx512bf16"), PCNN_ISA_AVX512BF16);
}

// the shape limits of the bf16 rows answer through pcnn_kernel_falls_back
TEST(Bf16, FallsBackAnswersForBf16Rows) {
  if (!pcnn_isa_supported(PCNN_ISA_AVX512BF16)) GTEST_SKIP() << "this CPU has no AVX512_BF16";
  const pcnn_conv_t seed = Cv(32, 28, 28, 128, 64, 1, PCNN_MASK_B, 1), wide = Cv(1, 1, 2, 600, 64, 1, PCNN_MASK_B, 1);
  for (int op : {PCNN_OP_conv1x1_prelu_fwd, PCNN_OP_conv1x1_prelu_bwd_data, PCNN_OP_conv1x1_prelu_bwd_weights})
    EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op, PCNN_ISA_AVX512BF16, &seed), 0) << pcnn_op_name(op);
  // the weight gradient takes cin <= 512
  EXPECT_EQ(pcnn_kernel_falls_back(PCNN_OP_conv1x1_prelu_bwd_weights, PCNN_ISA_AVX512BF16, &wide), 1);
  // no such row: not answerable
  EXPECT_EQ(pcnn_kernel_falls_back(PCNN_OP_prelu_fwd, PCNN_ISA_AVX512BF16, &seed), -1);
}

// ---- the model in bf16 ----

// the process-wide level, and the bf16 level a model of it runs
pcnn_isa_t bf16_level() { return pcnn_bf16_level(pcnn_kernels_isa()); }

pcnn_plan_t plan_of(pcnn_prec_t prec) {
  pcnn_plan_t p;
  pcnn_plan_default_prec(&p, prec);
  if (prec == PCNN_PREC_BF16 && bf16_level() == PCNN_ISA_REF)  // no bf16 SIMD level: the bf16 reference
    for (int r = 0; r < PCNN_ROLES; r++)
      for (int d = 0; d < PCNN_DIRS; d++) p.isa[r][d] = PCNN_ISA_REF;
  return p;
}

struct Trained {
  std::vector<double> nll;
  std::vector<float> params;
};

Trained train_model(const pcnn_config_t &cfg, int n, int steps, pcnn_prec_t prec, int threads) {
  Trained r;
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  const int keep = omp_get_max_threads();
  omp_set_num_threads(threads);
  EXPECT_EQ(pcnn_model_init(&m, &cfg, 5, n, err), 0) << err;
  const pcnn_plan_t plan = plan_of(prec);
  pcnn_model_set_plan(&m, &plan);
  // images with structure to learn: vertical stripes with a random phase and noise
  pt::Rng g(9);
  std::vector<float> in((size_t)n * cfg.height * cfg.width * cfg.channels);
  for (int i = 0; i < n; i++) {
    const int phase = (int)(g.next() % 3);
    for (int y = 0; y < cfg.height; y++)
      for (int x = 0; x < cfg.width; x++)
        in[((size_t)i * cfg.height + y) * cfg.width + x] = ((x + phase) % 3 == 0) ^ (g.next() % 16 == 0) ? 1.f : 0.f;
  }
  for (int s = 0; s < steps; s++) r.nll.push_back(pcnn_model_train_step(&m, in.data(), n));
  r.params.assign(m.params, m.params + m.nparams);
  pcnn_model_free(&m);
  omp_set_num_threads(keep);
  return r;
}

const pcnn_config_t kSmall = {1, 16, 2, PCNN_HEAD_BERNOULLI, 10, 10};

TEST(Bf16Model, TrainingTracksFp32WithinOnePercent) {
  const int steps = 60;
  const Trained a = train_model(kSmall, 8, steps, PCNN_PREC_FP32, 2);
  const Trained b = train_model(kSmall, 8, steps, PCNN_PREC_BF16, 2);
  ASSERT_EQ(a.nll.size(), b.nll.size());
  // the arithmetic really differs (rounded operands), from the first step
  EXPECT_NE(a.nll[0], b.nll[0]);
  EXPECT_NE(0, memcmp(a.params.data(), b.params.data(), a.params.size() * sizeof(float)));
  // and learns as much: the loss fell, and the last 10 steps' mean is within 1% of FP32's
  double ma = 0, mb = 0;
  for (int s = steps - 10; s < steps; s++) ma += a.nll[s] / 10, mb += b.nll[s] / 10;
  EXPECT_LT(ma, 0.7 * a.nll[0]) << "FP32 did not learn: " << a.nll[0] << " -> " << ma;
  EXPECT_LE(std::fabs(mb - ma), 0.01 * ma) << "bf16 " << mb << " vs fp32 " << ma << " nats";
}

TEST(Bf16Model, SameBitsAt1_2_3Threads) {
  const Trained one = train_model(kSmall, 6, 3, PCNN_PREC_BF16, 1);
  for (int t : {2, 3}) {
    const Trained r = train_model(kSmall, 6, 3, PCNN_PREC_BF16, t);
    EXPECT_EQ(0, memcmp(one.params.data(), r.params.data(), one.params.size() * sizeof(float))) << t << " threads";
    EXPECT_EQ(0, memcmp(one.nll.data(), r.nll.data(), one.nll.size() * sizeof(double))) << t << " threads";
  }
}

struct Hook {
  int H, W, C, K;
  std::vector<float> logits;
  static void fn(void *p, int i, int y, int x, int c, const float *lg) {
    Hook *h = (Hook *)p;
    memcpy(&h->logits[((((size_t)i * h->H + y) * h->W + x) * h->C + c) * h->K], lg, sizeof(float) * h->K);
  }
};

// a small model for the sampler tests, its weights doubled (logits away
// from 0), on the bf16 plan
void sampler_model(pcnn_model_t *m, const pcnn_config_t &cfg, uint64_t seed, int n) {
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_model_init(m, &cfg, seed, n, err), 0) << err;
  for (size_t i = 0; i < m->nparams; i++) m->params[i] *= 2.f;
  const pcnn_plan_t plan = plan_of(PCNN_PREC_BF16);
  pcnn_model_set_plan(m, &plan);
}

// the bf16 windows' twins (sample_cached.c: the k x k layers multiply from
// bf16 copies their writers' epilogue made) give the logits and images of
// the sampler without them bit for bit, unprimed, primed by the batched
// forward (the twins filled from the model's activations) and incrementally
TEST(Bf16Model, CachedSamplerTwinsChangeNoBit) {
  for (const pcnn_config_t &cfg : {pcnn_config_t{1, 16, 2, PCNN_HEAD_BERNOULLI, 9, 8},
                                   pcnn_config_t{3, 24, 1, PCNN_HEAD_SOFTMAX256, 6, 5}}) {
    const int n = 3;
    pcnn_model_t m;
    ASSERT_NO_FATAL_FAILURE(sampler_model(&m, cfg, 12, n));
    const size_t npix = (size_t)n * cfg.height * cfg.width * cfg.channels;
    const std::vector<float> start = pt::rand_vec(npix, 33, 0.f, 1.f);
    for (int prime : {0, 3})
      for (int incremental : {0, 1}) {
        std::vector<float> logit[2], img[2];
        for (int no_twins = 0; no_twins < 2; no_twins++) {
          Hook h{cfg.height, cfg.width, cfg.channels, m.k_out, {}};
          h.logits.assign(npix * m.k_out, 0.f);
          img[no_twins] = start;
          pcnn_cached_opts_t o = {Hook::fn, &h, incremental, 0, 0, no_twins};
          ASSERT_EQ(pcnn_sample_cached(&m, img[no_twins].data(), n, prime, 1.0f, 9, nullptr, nullptr, &o), 0);
          logit[no_twins] = h.logits;
        }
        const std::string what = "C" + std::to_string(cfg.channels) + " prime " + std::to_string(prime) +
                                 (incremental ? " incremental" : "");
        EXPECT_EQ(0, memcmp(logit[0].data(), logit[1].data(), logit[0].size() * sizeof(float))) << what;
        EXPECT_EQ(0, memcmp(img[0].data(), img[1].data(), img[0].size() * sizeof(float))) << what;
      }
    pcnn_model_free(&m);
  }
}

TEST(Bf16Model, CachedSamplerLogitsEqualTheBf16Forward) {
  for (const pcnn_config_t &cfg : {pcnn_config_t{1, 16, 1, PCNN_HEAD_BERNOULLI, 7, 6},
                                   pcnn_config_t{3, 24, 1, PCNN_HEAD_SOFTMAX256, 5, 4}}) {
    const int n = 3;
    pcnn_model_t m;
    ASSERT_NO_FATAL_FAILURE(sampler_model(&m, cfg, 11, n));
    Hook h{cfg.height, cfg.width, cfg.channels, m.k_out, {}};
    h.logits.assign((size_t)n * cfg.height * cfg.width * cfg.channels * m.k_out, 0.f);
    std::vector<float> img((size_t)n * cfg.height * cfg.width * cfg.channels, 0.f);
    pcnn_cached_opts_t o = {Hook::fn, &h, 0, 0, 0, 0};
    ASSERT_EQ(pcnn_sample_cached(&m, img.data(), n, 0, 1.0f, 7, nullptr, nullptr, &o), 0);
    pcnn_model_forward(&m, img.data(), n);  // bf16 forward of the finished images
    double worst = 0;
    for (size_t i = 0; i < h.logits.size(); i++) worst = std::max(worst, (double)std::fabs(h.logits[i] - m.logits[i]));
    EXPECT_LE(worst, PCNN_TOL_CACHED) << "C" << cfg.channels << ": max |cached - forward| in bf16";
    // and the FP32 forward of the same images is further away than that: bf16 is in use
    pcnn_plan_t p32;
    pcnn_plan_default(&p32);
    pcnn_model_set_plan(&m, &p32);
    pcnn_model_forward(&m, img.data(), n);
    double moved = 0;
    for (size_t i = 0; i < h.logits.size(); i++) moved = std::max(moved, (double)std::fabs(h.logits[i] - m.logits[i]));
    EXPECT_GT(moved, 10 * worst) << "bf16 and fp32 logits should differ by more than the sampler's rounding";
    pcnn_model_free(&m);
  }
}

// ---- the program ----
using namespace pt::cli;
using pt::TmpDir;

// "--isa ref" when this CPU has no bf16 SIMD level (the bf16 reference then runs)
std::string bf16_isa() { return bf16_level() == PCNN_ISA_REF ? " --isa ref" : ""; }

TEST(Bf16Cli, PrecisionIsRecordedAndResumesBitIdentical) {
  NEED_BIN();
  TmpDir d;
  const std::string base = std::string("train ") + kTiny + " --steps 3 --precision bf16" + bf16_isa() + " ";
  ASSERT_EQ(run(base + "--epochs 2 --out " + (d / "full.st") + " --log " + (d / "a.csv")).code, 0);
  Proc r = run(base + "--epochs 1 --out " + (d / "half.st") + " --log " + (d / "b.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  // no --precision on resume: the checkpoint's
  r = run(std::string("train --epochs 2 --threads 1 --quiet") + bf16_isa() + " --resume " + (d / "half.st") +
          " --out " + (d / "resumed.st") + " --log " + (d / "b.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  pcnn_model_t a, b;
  pcnn_ckpt_extra_t *x = new pcnn_ckpt_extra_t;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_ckpt_load((d / "full.st").c_str(), &a, 0, nullptr, x, err), 0) << err;
  const char *prec = pcnn_ckpt_extra_get(x, "precision");
  ASSERT_TRUE(prec != nullptr);
  EXPECT_STREQ(prec, "bf16");
  const char *plan = pcnn_ckpt_extra_get(x, "plan");
  ASSERT_TRUE(plan != nullptr);
  EXPECT_NE(std::string(plan).find("precision=bf16"), std::string::npos) << plan;
  ASSERT_EQ(pcnn_ckpt_load((d / "resumed.st").c_str(), &b, 0, nullptr, nullptr, err), 0) << err;
  ASSERT_EQ(a.nparams, b.nparams);
  EXPECT_EQ(memcmp(a.params, b.params, a.nparams * 4), 0) << "parameters differ after a bf16 resume";
  EXPECT_EQ(memcmp(a.m, b.m, a.nparams * 4), 0);
  pcnn_model_free(&b);
  // the same run in fp32 ends elsewhere
  ASSERT_EQ(run(std::string("train ") + kTiny + " --steps 3 --epochs 2 --out " + (d / "f32.st") + " --log " +
                (d / "c.csv")).code, 0);
  ASSERT_EQ(pcnn_ckpt_load((d / "f32.st").c_str(), &b, 0, nullptr, x, err), 0) << err;
  EXPECT_STREQ(pcnn_ckpt_extra_get(x, "precision"), "fp32");
  EXPECT_NE(memcmp(a.params, b.params, a.nparams * 4), 0) << "bf16 and fp32 runs gave the same parameters";
  pcnn_model_free(&a);
  pcnn_model_free(&b);
  delete x;
  // a resume that asks for the other precision is refused, nothing written
  r = run(std::string("train --epochs 3 --quiet --precision fp32 --resume ") + (d / "half.st") + " --out " +
          (d / "no.st") + " --log " + (d / "no.csv"));
  EXPECT_TRUE(FailsNaming(r, "--precision"));
  EXPECT_NE(access((d / "no.st").c_str(), F_OK), 0);
  // eval and sample run in bf16 too
  r = run("eval --ckpt " + (d / "full.st") + " --limit 16 --precision bf16" + bf16_isa());
  EXPECT_EQ(r.code, 0) << r.out;
  r = run("sample --ckpt " + (d / "full.st") + " --n 2 --quiet --precision bf16" + bf16_isa() + " --out " +
          (d / "s.png"));
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST(Bf16Cli, BadPrecisionAndPlanMismatchNameTheFlag) {
  NEED_BIN();
  TmpDir d;
  EXPECT_TRUE(FailsNaming(run("train --precision fp16"), "--precision"));
  EXPECT_TRUE(FailsNaming(run("eval --ckpt x --precision half"), "--precision"));
  // a bf16 plan (tune --precision bf16) is refused by an fp32 run, naming --plan
  const std::string plan = d / "bf16.plan";
  Proc r = run("tune --filters 8 --depth 1 --size 6 --batch 2 --reps 1 --threads 1 --precision bf16 --out " + plan);
  ASSERT_EQ(r.code, 0) << r.out;
  pcnn_plan_t p;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_plan_load(plan.c_str(), &p, err), 0) << err;
  EXPECT_EQ(p.prec, PCNN_PREC_BF16);
  r = run(std::string("train ") + kTiny + " --steps 1 --epochs 1 --plan " + plan + " --out " + (d / "m.st") +
          " --log " + (d / "l.csv"));
  EXPECT_TRUE(FailsNaming(r, "--plan"));
  EXPECT_NE(r.out.find("bf16"), std::string::npos) << r.out;
  r = run(std::string("train ") + kTiny + " --steps 1 --epochs 1 --precision bf16 --plan " + plan + " --out " +
          (d / "m.st") + " --log " + (d / "l.csv"));
  EXPECT_EQ(r.code, 0) << r.out;
}

}  // namespace
