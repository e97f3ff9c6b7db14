// test_kernels_conv.cc: every SIMD masked-conv kernel in kernels/kernel_list.h
// (ops conv_fwd, conv_bwd_data, conv_bwd_weights, and conv_prelu_fwd with and
// without its residual input) against its reference twin: the FP32 rows
// against pcnn_<op>__ref, the bf16 rows (pcnn_kernel_rows_bf16) against the
// bf16 reference pcnn_<op>__ref_bf16, with the same FP32 tolerances (a bf16
// kernel differs from its reference only in the order of its fp32 additions).
//
// Driven by the list: one test instance per non-reference row, skipped with a
// message when this CPU lacks the row's ISA. Data are seeded random; weights
// at masked positions are NaN, so a kernel that reads a masked tap fails.
// Tolerance: |y - ref| <= tol (max|ref| + |ref|), tol 1e-5 forward, 1e-4 for
// gradients. Gradients are pre-filled with non-zero values (they accumulate),
// and masked taps of dw must keep their pre-fill bit for bit.
// The reference is computed once per (op, shape) and shared by the rows.
#include <omp.h>

#include <cstring>
#include <map>
#include <memory>

#include "test_util.h"

namespace {

constexpr double kFwdTol = PCNN_TOL_FWD;
constexpr double kGradTol = PCNN_TOL_GRAD;

pcnn_conv_t C(int n, int h, int w, int cin, int cout, int k, int mask, int groups) {
  return pt::conv(n, h, w, cin, cout, k, mask, groups);
}
const int A = PCNN_MASK_A, B = PCNN_MASK_B;

// seed shapes at batch nb (N=32 forward; the gradient tests use N=4 because
// the reference weight gradient is slow), then RGB, odd, tiny and edge shapes
std::vector<pcnn_conv_t> shapes(int nb) {
  std::vector<pcnn_conv_t> s = {
      C(nb, 28, 28, 1, 128, 7, A, 1),   C(nb, 28, 28, 64, 64, 3, B, 1),
      C(nb, 28, 28, 128, 64, 1, B, 1),  C(nb, 28, 28, 64, 128, 1, B, 1),
      C(nb, 28, 28, 128, 128, 1, B, 1),
      // RGB (softmax256 output layer last)
      C(nb, 28, 28, 3, 120, 7, A, 3),   C(nb, 28, 28, 60, 60, 3, B, 3),
      C(nb / 4 > 0 ? nb / 4 : 1, 28, 28, 120, 768, 1, B, 3),
      // batch 1, widths not multiples of the pixel block, cout tails
      C(1, 7, 11, 16, 40, 3, B, 1),     C(2, 6, 29, 20, 70, 5, A, 1),
      C(2, 4, 31, 130, 33, 3, B, 3),    C(1, 5, 9, 7, 65, 7, B, 3),
      // tiny images: every tap of a big kernel falls in the padding somewhere
      C(2, 1, 1, 17, 13, 7, A, 1),      C(1, 2, 3, 5, 31, 7, B, 3),
      C(1, 5, 4, 33, 17, 5, A, 3),      C(3, 1, 7, 3, 3, 3, A, 3),
      // more input channels than the zero row (CV_ZMAX) holds
      C(1, 3, 5, 1100, 20, 3, B, 1),
      // 1x1 (the pointwise GEMM path): mask A with 1 group (every tap masked)
      // and 3 groups, cin / cout tails, a cout of 9 vectors, batch 1, and a
      // cout too wide for the backward pack buffers (the fallback path)
      C(1, 5, 7, 13, 33, 1, A, 3),      C(2, 3, 9, 31, 17, 1, A, 1),
      C(1, 4, 6, 33, 70, 1, A, 3),      C(1, 7, 5, 17, 9, 1, B, 3),
      C(2, 5, 5, 70, 130, 1, B, 3),     C(1, 2, 3, 5, 4100, 1, B, 3),
      // 1x1 with few outputs (the Bernoulli head; the bf16 dot-product path):
      // masks A and B, 1 and 3 groups, cin tails around 32
      C(2, 3, 9, 31, 1, 1, A, 1),       C(1, 4, 6, 130, 1, 1, B, 1),
      C(1, 5, 7, 13, 3, 1, A, 3),       C(2, 3, 5, 33, 4, 1, B, 3),
      // k = 17: more kept taps than CV_MAX_TAPS (the FP32 kernels hand it to
      // the reference; the bf16 ones keep their tap lists in scratch), the
      // row-im2col (cin 3) and the direct path (cin 20)
      C(1, 4, 5, 3, 5, 17, A, 1),       C(1, 3, 18, 20, 9, 17, B, 3),
  };
  const int odd[] = {1, 3, 5, 7, 13, 17, 31, 33};
  int i = 0;
  for (int ci : odd)
    for (int co : odd) {
      const int k = 1 + 2 * (i % 4);
      const int g = (ci >= 3 && co >= 3 && (i / 4) % 2) ? 3 : 1;
      s.push_back(C(1 + i % 2, 3 + i % 3, 5 + i % 7, ci, co, k, (i / 2) % 2 ? A : B, g));
      i++;
    }
  return s;
}

struct Data {
  std::vector<float> in, w, b, dout, res, alpha;
};

Data make_data(const pcnn_conv_t &c, uint64_t seed) {
  Data d;
  d.in = pt::rand_vec(pt::conv_in_size(c), seed * 4 + 1);
  d.w = pt::rand_vec(pt::conv_w_size(c), seed * 4 + 2, -0.2f, 0.2f);
  d.b = pt::rand_vec(c.cout, seed * 4 + 3);
  d.dout = pt::rand_vec(pt::conv_out_size(c), seed * 4 + 4);
  d.res = pt::rand_vec(pt::conv_out_size(c), seed * 4 + 5);
  d.alpha = pt::rand_vec(c.cout, seed * 4 + 6, -0.5f, 0.5f);
  std::vector<float> m(pt::conv_w_size(c));
  pcnn_mask_fill(m.data(), &c);
  for (size_t i = 0; i < m.size(); i++)
    if (m[i] == 0.f) d.w[i] = NAN;  // masked weights must never be read
  return d;
}

// kFwdPrelu: conv_prelu_fwd with a residual input; kFwdPreluNoRes: res NULL
enum Dir { kFwd, kBwdData, kBwdWeights, kFwdPrelu, kFwdPreluNoRes };

// runs one direction; gradients start from a fixed non-zero pre-fill
struct Result {
  std::vector<float> y, db, act;  // act: conv_prelu_fwd's second output
};
Result run(Dir dir, void (*fn)(void), const pcnn_conv_t &c, const Data &d) {
  Result r;
  if (dir == kFwd) {
    r.y.assign(pt::conv_out_size(c), NAN);  // forward must overwrite
    ((pcnn_conv_fwd_fn *)fn)(r.y.data(), d.in.data(), d.w.data(), d.b.data(), &c);
  } else if (dir == kFwdPrelu || dir == kFwdPreluNoRes) {
    r.y.assign(pt::conv_out_size(c), NAN);  // both outputs must be overwritten
    r.act.assign(pt::conv_out_size(c), NAN);
    ((pcnn_conv_prelu_fwd_fn *)fn)(r.y.data(), r.act.data(), d.in.data(), d.w.data(), d.b.data(),
                                   dir == kFwdPrelu ? d.res.data() : nullptr, d.alpha.data(), &c);
  } else if (dir == kBwdData) {
    r.y = pt::rand_vec(pt::conv_in_size(c), 77);
    ((pcnn_conv_bwd_data_fn *)fn)(r.y.data(), d.dout.data(), d.w.data(), &c);
  } else {
    r.y = pt::rand_vec(pt::conv_w_size(c), 78);
    r.db = pt::rand_vec(c.cout, 79);
    ((pcnn_conv_bwd_weights_fn *)fn)(r.y.data(), r.db.data(), d.dout.data(), d.in.data(), &c);
  }
  return r;
}

pcnn_op_t op_of(Dir d) {
  switch (d) {
    case kFwd: return PCNN_OP_conv_fwd;
    case kFwdPrelu:
    case kFwdPreluNoRes: return PCNN_OP_conv_prelu_fwd;
    case kBwdData: return PCNN_OP_conv_bwd_data;
    case kBwdWeights: return PCNN_OP_conv_bwd_weights;
  }
  return PCNN_OP_COUNT;
}

// the reference of a direction in a precision (bf16: the __ref_bf16 rows)
void (*ref_of(Dir d, pcnn_prec_t prec))(void) {
  const pcnn_kernel_row_t *rows = prec == PCNN_PREC_BF16 ? pcnn_kernel_rows_bf16 : pcnn_kernel_rows;
  const int n = prec == PCNN_PREC_BF16 ? pcnn_kernel_row_count_bf16 : pcnn_kernel_row_count;
  for (int i = 0; i < n; i++)
    if (rows[i].isa == PCNN_ISA_REF && rows[i].op == op_of(d)) return rows[i].fn;
  return nullptr;
}

// reference results, computed once per (direction, precision, shape)
const Result &reference(Dir dir, pcnn_prec_t prec, const pcnn_conv_t &c, const Data &d) {
  static std::map<std::string, std::unique_ptr<Result>> cache;
  const std::string key = std::to_string(dir) + pcnn_prec_name(prec) + pt::conv_str(c);
  auto &slot = cache[key];
  if (!slot) slot.reset(new Result(run(dir, ref_of(dir, prec), c, d)));
  return *slot;
}

double max_abs(const std::vector<float> &v) {
  double m = 0;
  for (float x : v) m = std::fmax(m, std::fabs((double)x));
  return m;
}

::testing::AssertionResult close(const std::vector<float> &y, const std::vector<float> &ref,
                                 double tol, const std::string &what) {
  return pt::AllClose(y.data(), ref.data(), ref.size(), tol * max_abs(ref), tol, what);
}

// the non-reference rows of op, FP32 then bf16
std::vector<const pcnn_kernel_row_t *> rows_of(pcnn_op_t op) {
  std::vector<const pcnn_kernel_row_t *> v;
  for (int i = 0; i < pcnn_kernel_row_count; i++)
    if (pcnn_kernel_rows[i].isa != PCNN_ISA_REF && pcnn_kernel_rows[i].op == op)
      v.push_back(&pcnn_kernel_rows[i]);
  for (int i = 0; i < pcnn_kernel_row_count_bf16; i++)
    if (pcnn_kernel_rows_bf16[i].isa != PCNN_ISA_REF && pcnn_kernel_rows_bf16[i].op == op)
      v.push_back(&pcnn_kernel_rows_bf16[i]);
  return v;
}

std::string row_name(const ::testing::TestParamInfo<const pcnn_kernel_row_t *> &i) {
  return i.param->fn_name;
}

class ConvKernel : public ::testing::TestWithParam<const pcnn_kernel_row_t *> {
 protected:
  void SetUp() override {
    if (!pcnn_isa_supported(GetParam()->isa))
      GTEST_SKIP() << GetParam()->fn_name << ": this CPU has no " << pcnn_isa_name(GetParam()->isa);
  }
  // compare with the reference on every shape; for dw also the masked taps
  void check_all(Dir dir, int nb) {
    uint64_t seed = 1;
    for (const pcnn_conv_t &c : shapes(nb)) {
      ASSERT_EQ(pcnn_conv_check(&c), nullptr) << pt::conv_str(c);
      const Data d = make_data(c, seed++);
      const Result &ref = reference(dir, GetParam()->prec, c, d);
      const Result got = run(dir, GetParam()->fn, c, d);
      const std::string what = std::string(GetParam()->fn_name) + " " + pt::conv_str(c);
      const bool fwd = dir == kFwd || dir == kFwdPrelu || dir == kFwdPreluNoRes;
      const double tol = fwd ? kFwdTol : kGradTol;
      EXPECT_TRUE(close(got.y, ref.y, tol, what));
      if (!ref.act.empty()) {
        EXPECT_TRUE(close(got.act, ref.act, tol, what + " act"));
      }
      if (dir == kBwdWeights) {
        EXPECT_TRUE(close(got.db, ref.db, tol, what + " db"));
        // masked taps keep the pre-fill exactly
        const std::vector<float> pre = pt::rand_vec(pt::conv_w_size(c), 78);
        std::vector<float> m(pt::conv_w_size(c));
        pcnn_mask_fill(m.data(), &c);
        size_t touched = 0;
        for (size_t i = 0; i < m.size(); i++)
          touched += m[i] == 0.f && memcmp(&got.y[i], &pre[i], sizeof(float)) != 0;
        EXPECT_EQ(touched, 0u) << what << ": masked dw entries written";
      }
    }
  }
  // bitwise equal across two runs with 2 threads, and with 1 vs 2 threads
  void check_deterministic(Dir dir) {
    const pcnn_conv_t shp[] = {C(3, 9, 13, 24, 40, 3, B, 3), C(2, 8, 10, 1, 36, 7, A, 1),
                               C(3, 9, 13, 24, 40, 1, B, 3), C(2, 8, 10, 37, 64, 1, A, 3)};
    const int nt0 = omp_get_max_threads();
    for (const pcnn_conv_t &c : shp) {
      const Data d = make_data(c, 99);
      omp_set_num_threads(2);
      const Result a = run(dir, GetParam()->fn, c, d), b = run(dir, GetParam()->fn, c, d);
      omp_set_num_threads(1);
      const Result one = run(dir, GetParam()->fn, c, d);
      omp_set_num_threads(nt0);
      EXPECT_EQ(memcmp(a.y.data(), b.y.data(), a.y.size() * sizeof(float)), 0) << pt::conv_str(c);
      EXPECT_EQ(memcmp(a.y.data(), one.y.data(), a.y.size() * sizeof(float)), 0)
          << pt::conv_str(c) << ": 1 vs 2 threads";
      EXPECT_EQ(a.db, b.db);
      if (!a.act.empty()) {  // conv_prelu_fwd's second output
        EXPECT_EQ(memcmp(a.act.data(), one.act.data(), a.act.size() * sizeof(float)), 0)
            << pt::conv_str(c) << ": act, 1 vs 2 threads";
      }
    }
  }
};

class ConvFwd : public ConvKernel {};
class ConvPreluFwd : public ConvKernel {};
class ConvBwdData : public ConvKernel {};
class ConvBwdWeights : public ConvKernel {};

TEST_P(ConvFwd, MatchesReferenceSeedN32RgbOddTiny) { check_all(kFwd, 32); }
TEST_P(ConvFwd, BitwiseDeterministic) { check_deterministic(kFwd); }
TEST_P(ConvPreluFwd, ResidualMatchesReferenceSeedN8RgbOddTiny) { check_all(kFwdPrelu, 8); }
TEST_P(ConvPreluFwd, NoResidualMatchesReferenceSeedN8RgbOddTiny) { check_all(kFwdPreluNoRes, 8); }
TEST_P(ConvPreluFwd, BitwiseDeterministic) { check_deterministic(kFwdPrelu); }
TEST_P(ConvBwdData, AccumulatesMatchesReferenceSeedN4RgbOddTiny) { check_all(kBwdData, 4); }
TEST_P(ConvBwdData, BitwiseDeterministic) { check_deterministic(kBwdData); }
TEST_P(ConvBwdWeights, AccumulatesMaskedTapsUntouchedSeedN4RgbOddTiny) {
  check_all(kBwdWeights, 4);
}
TEST_P(ConvBwdWeights, BitwiseDeterministic) { check_deterministic(kBwdWeights); }

INSTANTIATE_TEST_SUITE_P(List, ConvFwd, ::testing::ValuesIn(rows_of(PCNN_OP_conv_fwd)), row_name);
INSTANTIATE_TEST_SUITE_P(List, ConvPreluFwd, ::testing::ValuesIn(rows_of(PCNN_OP_conv_prelu_fwd)),
                         row_name);
INSTANTIATE_TEST_SUITE_P(List, ConvBwdData, ::testing::ValuesIn(rows_of(PCNN_OP_conv_bwd_data)),
                         row_name);
INSTANTIATE_TEST_SUITE_P(List, ConvBwdWeights, ::testing::ValuesIn(rows_of(PCNN_OP_conv_bwd_weights)),
                         row_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ConvFwd);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ConvPreluFwd);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ConvBwdData);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ConvBwdWeights);

}  // namespace
