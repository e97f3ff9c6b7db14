// test_determinism.cc: the same bits at any thread count.
//  - every weight-gradient kernel (conv_bwd_weights: engine 2, the first
//    layer's im2col path and the 1x1 tile; the fused conv1x1_prelu_bwd_weights;
//    prelu_bwd's slope gradient) at 1, 2, 3, 4, 5, 7 and 8 threads gives the
//    bits it gives at 1 thread, on odd sizes (more threads than cores is
//    fine: the split into items never depends on the thread count);
//  - training a model for a few steps at 1, 2, 3, 4 and 8 threads gives the
//    same parameters, gradients, Nadam moments and losses, bit for bit, at
//    the best level this CPU runs, at avx2 and at ref. The configurations are
//    big enough that every kernel of a training step goes parallel (the
//    element-wise ops, losses and Nadam above 65,536 elements) and the first
//    layer takes its im2col path.
#include <omp.h>

#include <cstring>
#include <string>
#include <vector>

#include "config_name.h"
#include "test_util.h"

extern "C" {
#include "model.h"
}

namespace {

const int kThreads[] = {1, 2, 3, 4, 5, 7, 8};

// restores the thread count when a test ends
struct KeepThreads {
  int n = omp_get_max_threads();
  ~KeepThreads() { omp_set_num_threads(n); }
};

bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
  // empty vectors may have null data(), which memcmp must not see (UBSan)
  return a.size() == b.size() && (a.empty() || memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// first differing index, for the message
size_t first_diff(const std::vector<float> &a, const std::vector<float> &b) {
  for (size_t i = 0; i < a.size() && i < b.size(); i++)
    if (memcmp(&a[i], &b[i], sizeof(float)) != 0) return i;
  return a.size();
}

pcnn_conv_t Cv(int n, int h, int w, int cin, int cout, int k, int mask, int groups) {
  pcnn_conv_t c{};
  c.n = n; c.h = h; c.w = w; c.cin = cin; c.cout = cout; c.k = k; c.mask = mask; c.groups = groups;
  return c;
}
const int A = PCNN_MASK_A, B = PCNN_MASK_B;

// the rows of op, FP32 then bf16 (the bf16 references and SIMD rows too)
std::vector<const pcnn_kernel_row_t *> rows_of(pcnn_op_t op) {
  std::vector<const pcnn_kernel_row_t *> v;
  for (int i = 0; i < pcnn_kernel_row_count; i++)
    if (pcnn_kernel_rows[i].op == op) v.push_back(&pcnn_kernel_rows[i]);
  for (int i = 0; i < pcnn_kernel_row_count_bf16; i++)
    if (pcnn_kernel_rows_bf16[i].op == op) v.push_back(&pcnn_kernel_rows_bf16[i]);
  return v;
}

std::string row_name(const ::testing::TestParamInfo<const pcnn_kernel_row_t *> &i) {
  return i.param->fn_name;
}

// odd shapes that take every path of the weight gradients: engine 2 with
// 1 and several pixel chunks (cin >= 6, and cin < 6 beside the im2col limit),
// the im2col first layer (cin 1 and 3, 7x7 and 5x5), the 1x1 tile (its
// column groups: cout above 256; its chunks: from 1 to the most), batch 1,
// fewer pixels than a chunk needs
std::vector<pcnn_conv_t> wgrad_shapes() {
  return {
      Cv(3, 9, 13, 37, 41, 3, B, 3),  Cv(5, 11, 7, 19, 70, 5, A, 1),  Cv(2, 13, 17, 64, 64, 3, B, 1),
      Cv(1, 5, 120, 3, 33, 7, A, 3),  Cv(7, 9, 11, 1, 37, 7, A, 1),   Cv(3, 15, 13, 3, 65, 5, B, 3),
      Cv(5, 13, 11, 37, 23, 1, B, 3), Cv(3, 17, 19, 33, 300, 1, A, 3), Cv(9, 7, 13, 130, 1, 1, B, 1),
      Cv(1, 3, 5, 7, 9, 1, B, 1),     Cv(1, 2, 3, 5, 31, 7, B, 3),
  };
}

class WgradThreads : public ::testing::TestWithParam<const pcnn_kernel_row_t *> {
 protected:
  void SetUp() override {
    if (!pcnn_isa_supported(GetParam()->isa))
      GTEST_SKIP() << GetParam()->fn_name << ": this CPU has no " << pcnn_isa_name(GetParam()->isa);
  }
};

// dw and db (and dalpha) of one call, from a fixed non-zero pre-fill
struct Grads {
  std::vector<float> dw, db, da;
};

Grads conv_wgrad(const pcnn_kernel_row_t *row, const pcnn_conv_t &c, int threads) {
  const std::vector<float> in = pt::rand_vec(pt::conv_in_size(c), 1);
  const std::vector<float> dout = pt::rand_vec(pt::conv_out_size(c), 2);
  Grads g{pt::rand_vec(pt::conv_w_size(c), 3), pt::rand_vec(c.cout, 4), {}};
  omp_set_num_threads(threads);
  ((pcnn_conv_bwd_weights_fn *)row->fn)(g.dw.data(), g.db.data(), dout.data(), in.data(), &c);
  return g;
}

Grads fused_wgrad(const pcnn_kernel_row_t *row, const pcnn_conv_t &c, int threads) {
  const std::vector<float> in = pt::rand_vec(pt::conv_in_size(c), 1);
  const std::vector<float> dout = pt::rand_vec(pt::conv_out_size(c), 2);
  const std::vector<float> pre = pt::rand_vec(pt::conv_out_size(c), 5);
  const std::vector<float> alpha = pt::rand_vec(c.cout, 6, -0.5f, 0.5f);
  Grads g{pt::rand_vec(pt::conv_w_size(c), 3), pt::rand_vec(c.cout, 4), pt::rand_vec(c.cout, 7)};
  omp_set_num_threads(threads);
  ((pcnn_conv1x1_prelu_bwd_weights_fn *)row->fn)(g.dw.data(), g.db.data(), g.da.data(), dout.data(),
                                                 pre.data(), in.data(), alpha.data(), &c);
  return g;
}

// names: of dw, db, da as the kernel calls them
void expect_same(const Grads &one, const Grads &g, const std::string &what,
                 const char *const names[3] = nullptr) {
  static const char *const wgrad[3] = {"dw", "db", "dalpha"};
  const char *const *nm = names ? names : wgrad;
  EXPECT_TRUE(same_bits(one.dw, g.dw)) << what << ": " << nm[0] << " differs from 1 thread at " << first_diff(one.dw, g.dw);
  EXPECT_TRUE(same_bits(one.db, g.db)) << what << ": " << nm[1] << " differs from 1 thread at " << first_diff(one.db, g.db);
  EXPECT_TRUE(same_bits(one.da, g.da)) << what << ": " << nm[2] << " differs from 1 thread at " << first_diff(one.da, g.da);
}

class ConvWgradThreads : public WgradThreads {};
class FusedWgradThreads : public WgradThreads {};
class PreluBwdThreads : public WgradThreads {};

TEST_P(ConvWgradThreads, SameBitsAtAnyThreadCount) {
  KeepThreads keep;
  for (const pcnn_conv_t &c : wgrad_shapes()) {
    const Grads one = conv_wgrad(GetParam(), c, 1);
    for (int t : kThreads)
      if (t > 1) expect_same(one, conv_wgrad(GetParam(), c, t), pt::conv_str(c) + ", " + std::to_string(t) + " threads");
  }
}

TEST_P(FusedWgradThreads, SameBitsAtAnyThreadCount) {
  KeepThreads keep;
  for (const pcnn_conv_t &c : wgrad_shapes()) {
    if (c.k != 1) continue;
    const Grads one = fused_wgrad(GetParam(), c, 1);
    for (int t : kThreads)
      if (t > 1) expect_same(one, fused_wgrad(GetParam(), c, t), pt::conv_str(c) + ", " + std::to_string(t) + " threads");
  }
}

// the slope gradient sums over pixels; parallel above 65,536 elements
TEST_P(PreluBwdThreads, SameBitsAtAnyThreadCount) {
  KeepThreads keep;
  const size_t shapes[][2] = {{70001, 3}, {4099, 37}, {1031, 130}, {7, 5}, {100, 1000}};
  for (const auto &s : shapes) {
    const size_t p = s[0];
    const int ch = (int)s[1];
    const std::vector<float> dout = pt::rand_vec(p * ch, 1), x = pt::rand_vec(p * ch, 2);
    const std::vector<float> alpha = pt::rand_vec(ch, 3, -0.5f, 0.5f);
    auto run = [&](int threads) {
      Grads g{pt::rand_vec(p * ch, 4), pt::rand_vec(ch, 5), {}};
      omp_set_num_threads(threads);
      ((pcnn_prelu_bwd_fn *)GetParam()->fn)(g.dw.data(), g.db.data(), dout.data(), x.data(),
                                            alpha.data(), p, ch);
      return g;
    };
    static const char *const names[3] = {"dx", "dalpha", "-"};
    const Grads one = run(1);
    for (int t : kThreads)
      if (t > 1)
        expect_same(one, run(t), "P" + std::to_string(p) + " C" + std::to_string(ch) + ", " +
                                     std::to_string(t) + " threads", names);
  }
}

INSTANTIATE_TEST_SUITE_P(List, ConvWgradThreads, ::testing::ValuesIn(rows_of(PCNN_OP_conv_bwd_weights)),
                         row_name);
INSTANTIATE_TEST_SUITE_P(List, FusedWgradThreads,
                         ::testing::ValuesIn(rows_of(PCNN_OP_conv1x1_prelu_bwd_weights)), row_name);
INSTANTIATE_TEST_SUITE_P(List, PreluBwdThreads, ::testing::ValuesIn(rows_of(PCNN_OP_prelu_bwd)), row_name);

// ---- training, end to end ----

// what a few training steps leave: parameters, the last step's gradients,
// Nadam's moments and scalars, and every step's loss
struct Trained {
  std::vector<float> params, grads, m, v;
  std::vector<double> nll;
  long step;
  double mu_product;
};

pcnn_plan_t plan_at(pcnn_isa_t isa) {
  pcnn_plan_t p;
  pcnn_plan_default(&p);
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++) p.isa[r][d] = isa;
  for (int op = 0; op < PCNN_OP_COUNT; op++) p.elem[op] = isa;
  return p;
}

Trained train(const pcnn_config_t &cfg, int n, int steps, pcnn_isa_t isa, int threads) {
  Trained r{};
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  omp_set_num_threads(threads);
  EXPECT_EQ(pcnn_model_init(&m, &cfg, 17, n, err), 0) << err;
  const pcnn_plan_t plan = plan_at(isa);
  pcnn_model_set_plan(&m, &plan);
  const std::vector<float> in = model_batch(n, cfg, 23);
  for (int s = 0; s < steps; s++) r.nll.push_back(pcnn_model_train_step(&m, in.data(), n));
  r.params.assign(m.params, m.params + m.nparams);
  r.grads.assign(m.grads, m.grads + m.nparams);
  r.m.assign(m.m, m.m + m.nparams);
  r.v.assign(m.v, m.v + m.nparams);
  r.step = m.opt.step;
  r.mu_product = m.opt.mu_product;
  pcnn_model_free(&m);
  return r;
}

struct TrainCase {
  pcnn_config_t cfg;
  int n;
};

// (config, batch): each makes some kernel go parallel that another does not
//  - F = 128 at 8x8, batch 10: > 65,536 parameters (Nadam), the F-channel
//    slope gradients and the residual's add (640 pixels x 128);
//  - RGB at 24x24, batch 40, Bernoulli: the loss over 69,120 logits, the
//    im2col first layer with 3 colour groups, every slope gradient;
//  - softmax256 at 12x12: the 256-way head's rows in parallel.
std::vector<TrainCase> train_cases() {
  return {{{1, 128, 1, PCNN_HEAD_BERNOULLI, 8, 8}, 10},
          {{3, 24, 1, PCNN_HEAD_BERNOULLI, 24, 24}, 40},
          {{1, 16, 1, PCNN_HEAD_SOFTMAX256, 12, 12}, 4}};
}

std::string case_str(const TrainCase &t) {
  const pcnn_config_t &c = t.cfg;
  return "C" + std::to_string(c.channels) + " F" + std::to_string(c.filters) + " D" +
         std::to_string(c.depth) + " " + pcnn_head_name(c.head) + " " + std::to_string(c.height) + "x" +
         std::to_string(c.width) + " batch " + std::to_string(t.n);
}

class TrainThreads : public ::testing::TestWithParam<pcnn_isa_t> {
 protected:
  void SetUp() override {
    if (!pcnn_isa_supported(GetParam()))
      GTEST_SKIP() << "this CPU does not run " << pcnn_isa_name(GetParam());
  }
};

TEST_P(TrainThreads, SameBitsAt1_2_3_4_8Threads) {
  KeepThreads keep;
  const pcnn_isa_t isa = GetParam();
  // the reference level is slow: fewer steps (each still runs every kernel)
  const int steps = isa == PCNN_ISA_REF ? 2 : 3;
  for (const TrainCase &tc : train_cases()) {
    const Trained one = train(tc.cfg, tc.n, steps, isa, 1);
    for (int t : {2, 3, 4, 8}) {
      const Trained r = train(tc.cfg, tc.n, steps, isa, t);
      const std::string what = case_str(tc) + " at " + pcnn_isa_name(isa) + ", " + std::to_string(t) +
                               " threads vs 1";
      EXPECT_TRUE(same_bits(one.params, r.params)) << what << ": params differ at " << first_diff(one.params, r.params);
      EXPECT_TRUE(same_bits(one.grads, r.grads)) << what << ": grads differ at " << first_diff(one.grads, r.grads);
      EXPECT_TRUE(same_bits(one.m, r.m)) << what << ": Nadam m differs at " << first_diff(one.m, r.m);
      EXPECT_TRUE(same_bits(one.v, r.v)) << what << ": Nadam v differs at " << first_diff(one.v, r.v);
      EXPECT_EQ(0, memcmp(one.nll.data(), r.nll.data(), one.nll.size() * sizeof(double))) << what << ": losses";
      EXPECT_EQ(one.step, r.step) << what;
      EXPECT_EQ(0, memcmp(&one.mu_product, &r.mu_product, sizeof(double))) << what;
    }
  }
}

pcnn_isa_t best_isa() {
  for (int i = PCNN_ISA_FP32_COUNT - 1; i > 0; i--)
    if (pcnn_isa_supported((pcnn_isa_t)i)) return (pcnn_isa_t)i;
  return PCNN_ISA_REF;
}

std::vector<pcnn_isa_t> train_isas() {
  // the best level this CPU runs, then avx2 and ref (each once)
  std::vector<pcnn_isa_t> v = {best_isa()};
  for (pcnn_isa_t i : {PCNN_ISA_AVX2, PCNN_ISA_REF})
    if (i != v[0]) v.push_back(i);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Levels, TrainThreads, ::testing::ValuesIn(train_isas()),
                         [](const ::testing::TestParamInfo<pcnn_isa_t> &i) {
                           return std::string(pcnn_isa_name(i.param));
                         });

}  // namespace
