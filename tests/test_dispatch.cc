// test_dispatch.cc: the kernel table always holds a working kernel in every
// slot, and the list drives it; the tuner's measurement of every level.
#include <cstring>

#include "test_util.h"

extern "C" {
#include "check.h"  // pcnn_kernel_measure: what `pixelcnn tune` times
}

TEST(Dispatch, EverySlotFilledAtEveryLevel) {
  for (int isa = 0; isa < PCNN_ISA_FP32_COUNT; isa++) {
    if (!pcnn_isa_supported((pcnn_isa_t)isa)) continue;
    pcnn_kernels_t t;
    pcnn_kernels_fill(&t, (pcnn_isa_t)isa);
#define CHECK_SLOT(op) EXPECT_NE(t.op, nullptr) << #op << " at " << pcnn_isa_name((pcnn_isa_t)isa);
    PCNN_OPS(CHECK_SLOT)
#undef CHECK_SLOT
  }
}

TEST(Dispatch, RefLevelIsAllReference) {
  pcnn_kernels_t t;
  pcnn_kernels_fill(&t, PCNN_ISA_REF);
  EXPECT_EQ(t.conv_fwd, &pcnn_conv_fwd__ref);
  EXPECT_EQ(t.nadam_update, &pcnn_nadam_update__ref);
  for (int op = 0; op < pcnn_op_count(); op++) EXPECT_EQ(t.isa_of[op], PCNN_ISA_REF);
}

TEST(Dispatch, EveryOpHasAReferenceRow) {
  for (int op = 0; op < pcnn_op_count(); op++) {
    int n = 0;
    for (int i = 0; i < pcnn_kernel_row_count; i++)
      n += pcnn_kernel_rows[i].op == op && pcnn_kernel_rows[i].isa == PCNN_ISA_REF;
    EXPECT_EQ(n, 1) << pcnn_op_name(op);
  }
}

TEST(Dispatch, IsaNames) {
  EXPECT_EQ(pcnn_isa_parse("ref"), PCNN_ISA_REF);
  EXPECT_EQ(pcnn_isa_parse("avx2"), PCNN_ISA_AVX2);
  EXPECT_EQ(pcnn_isa_parse("avx512"), PCNN_ISA_AVX512);
  EXPECT_EQ(pcnn_isa_parse("sse"), -1);
  EXPECT_EQ(pcnn_isa_parse(nullptr), -1);
}

// pcnn_kernel_measure runs every level this CPU has on one problem and
// compares each with the reference's result (computed once): the reference
// itself has error 0, every SIMD level is within the op's tolerance.
TEST(Measure, EveryLevelAgainstTheReference) {
  const pcnn_conv_t c = {2, 6, 6, 16, 24, 3, PCNN_MASK_B, 1, 0};
  for (const char *name : {"conv_fwd", "conv_bwd_weights", "conv1x1_prelu_bwd_data", "conv_prelu_fwd"}) {
    const int op = pcnn_op_index(name);
    ASSERT_GE(op, 0) << name;
    double ms[PCNN_ISA_COUNT], err[PCNN_ISA_COUNT];
    int want = 0;
    for (int isa = 0; isa < PCNN_ISA_FP32_COUNT; isa++) want += pcnn_isa_supported((pcnn_isa_t)isa);
    EXPECT_EQ(pcnn_kernel_measure(op, &c, 2, ms, err), want) << name;
    EXPECT_EQ(err[PCNN_ISA_REF], 0.0) << name;
    for (int isa = 0; isa < PCNN_ISA_FP32_COUNT; isa++) {
      if (!pcnn_isa_supported((pcnn_isa_t)isa)) {
        EXPECT_EQ(ms[isa], -1.0);
        continue;
      }
      EXPECT_GE(ms[isa], 0.0) << name << " " << pcnn_isa_name((pcnn_isa_t)isa);
      EXPECT_GE(err[isa], 0.0) << name << " " << pcnn_isa_name((pcnn_isa_t)isa);
      EXPECT_LE(err[isa], pcnn_op_tolerance(op)) << name << " " << pcnn_isa_name((pcnn_isa_t)isa);
    }
  }
}

// ---- pcnn_kernel_falls_back: the shape limits of kernel_list.h ----

namespace {

pcnn_conv_t Cv(int n, int h, int w, int cin, int cout, int k, int mask, int groups) {
  return pcnn_conv_t{n, h, w, cin, cout, k, mask, groups, 0};
}

// the SIMD ISAs this CPU runs
std::vector<pcnn_isa_t> simd_isas() {
  std::vector<pcnn_isa_t> v;
  for (int isa = PCNN_ISA_REF + 1; isa < PCNN_ISA_FP32_COUNT; isa++)
    if (pcnn_isa_supported((pcnn_isa_t)isa)) v.push_back((pcnn_isa_t)isa);
  return v;
}

int op_of(const char *name) {
  const int op = pcnn_op_index(name);
  EXPECT_GE(op, 0) << name;
  return op;
}

void (*row_fn(int op, pcnn_isa_t isa))(void) {
  for (int i = 0; i < pcnn_kernel_row_count; i++)
    if (pcnn_kernel_rows[i].op == op && pcnn_kernel_rows[i].isa == isa) return pcnn_kernel_rows[i].fn;
  return nullptr;
}

// One call of op's kernel fn on seeded data for shape c; returns every
// output, gradients accumulated into a fixed pre-fill. Masked weights are 0.
std::vector<float> run_op(int op, void (*fn)(void), const pcnn_conv_t &c) {
  const size_t p = (size_t)c.n * c.h * c.w, nin = p * c.cin, nout = p * c.cout;
  const size_t nw = (size_t)c.k * c.k * c.cin * c.cout;
  const std::vector<float> in = pt::rand_vec(nin, 11), dout = pt::rand_vec(nout, 12),
                           pre = pt::rand_vec(nout, 13), res = pt::rand_vec(nout, 14),
                           b = pt::rand_vec(c.cout, 15), alpha = pt::rand_vec(c.cout, 16, 0.f, 0.5f);
  std::vector<float> w = pt::rand_vec(nw, 17, -0.2f, 0.2f), mask(nw);
  pcnn_mask_fill(mask.data(), &c);
  for (size_t i = 0; i < nw; i++) w[i] *= mask[i];
  std::vector<float> y;
  const std::string name = pcnn_op_name(op);
  if (name == "conv_fwd") {
    y.assign(nout, 0.f);
    ((pcnn_conv_fwd_fn *)fn)(y.data(), in.data(), w.data(), b.data(), &c);
  } else if (name == "conv_prelu_fwd") {
    y.assign(2 * nout, 0.f);
    ((pcnn_conv_prelu_fwd_fn *)fn)(y.data(), y.data() + nout, in.data(), w.data(), b.data(),
                                   res.data(), alpha.data(), &c);
  } else if (name == "conv_bwd_data") {
    y = pt::rand_vec(nin, 18);
    ((pcnn_conv_bwd_data_fn *)fn)(y.data(), dout.data(), w.data(), &c);
  } else if (name == "conv_bwd_weights") {
    y = pt::rand_vec(nw + c.cout, 19);
    ((pcnn_conv_bwd_weights_fn *)fn)(y.data(), y.data() + nw, dout.data(), in.data(), &c);
  } else if (name == "conv1x1_prelu_fwd") {
    y.assign(2 * nout, 0.f);
    ((pcnn_conv1x1_prelu_fwd_fn *)fn)(y.data(), y.data() + nout, in.data(), w.data(), b.data(),
                                      alpha.data(), &c);
  } else if (name == "conv1x1_prelu_bwd_data") {
    y = pt::rand_vec(nin, 20);
    ((pcnn_conv1x1_prelu_bwd_data_fn *)fn)(y.data(), dout.data(), pre.data(), w.data(), alpha.data(), &c);
  } else if (name == "conv1x1_prelu_bwd_weights") {
    y = pt::rand_vec(nw + 2 * (size_t)c.cout, 21);
    ((pcnn_conv1x1_prelu_bwd_weights_fn *)fn)(y.data(), y.data() + nw, y.data() + nw + c.cout,
                                              dout.data(), pre.data(), in.data(), alpha.data(), &c);
  } else {
    ADD_FAILURE() << "no harness for " << name;
  }
  return y;
}

const char *const kLimitedOps[] = {"conv_fwd",          "conv_prelu_fwd",         "conv_bwd_data",
                                   "conv_bwd_weights",  "conv1x1_prelu_fwd",      "conv1x1_prelu_bwd_data",
                                   "conv1x1_prelu_bwd_weights"};
bool is_1x1_op(const std::string &name) { return name.rfind("conv1x1", 0) == 0; }

}  // namespace

// Known answers: the seed model's shapes run in SIMD everywhere; k >= 17 (more
// than 128 kept taps) falls back in the conv kernels; the fused 1x1 kernels
// fall back past their pack buffers (256 -> 256 backward-data, cout > 4096
// weight gradient, cin > 1022 forward on AVX-512 / > 4094 on AVX2).
TEST(Dispatch, FallsBackNamesTheShapesHandedToTheReference) {
  // the seed model's layers (the RGB softmax head 120 -> 768 is a plain conv:
  // its fused 1x1 backward-data would not fit the pack, the plain one does
  // not run the reference but the direct engine)
  const pcnn_conv_t seed[] = {Cv(32, 28, 28, 1, 128, 7, PCNN_MASK_A, 1), Cv(32, 28, 28, 64, 64, 3, PCNN_MASK_B, 1),
                              Cv(32, 28, 28, 128, 64, 1, PCNN_MASK_B, 1), Cv(32, 28, 28, 64, 128, 1, PCNN_MASK_B, 1),
                              Cv(32, 28, 28, 128, 128, 1, PCNN_MASK_B, 1), Cv(32, 28, 28, 3, 120, 7, PCNN_MASK_A, 3),
                              Cv(32, 28, 28, 120, 60, 1, PCNN_MASK_B, 3), Cv(8, 28, 28, 120, 768, 1, PCNN_MASK_B, 3)};
  const pcnn_conv_t k17 = Cv(1, 8, 8, 16, 16, 17, PCNN_MASK_B, 1), k15 = Cv(1, 8, 8, 16, 16, 15, PCNN_MASK_B, 1);
  for (pcnn_isa_t isa : simd_isas()) {
    SCOPED_TRACE(pcnn_isa_name(isa));
    for (int op = 0; op < PCNN_OP_COUNT; op++)
      for (const pcnn_conv_t &c : seed) {
        if (is_1x1_op(pcnn_op_name(op)) && (c.k != 1 || c.cout == 768)) continue;
        EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op, isa, &c), 0) << pcnn_op_name(op) << " " << pt::conv_str(c);
      }
    for (const char *name : {"conv_fwd", "conv_prelu_fwd", "conv_bwd_data", "conv_bwd_weights"}) {
      EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of(name), isa, &k17), 1) << name;
      EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of(name), isa, &k15), 0) << name;
      // the reference never "falls back"
      EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of(name), PCNN_ISA_REF, &k17), 0) << name;
    }
    const pcnn_conv_t wide_in = Cv(1, 2, 3, 1100, 8, 1, PCNN_MASK_B, 1);
    const pcnn_conv_t wider_in = Cv(1, 2, 3, 5000, 8, 1, PCNN_MASK_B, 1);
    EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("conv1x1_prelu_fwd"), isa, &wide_in),
              isa == PCNN_ISA_AVX512 ? 1 : 0);
    EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("conv1x1_prelu_fwd"), isa, &wider_in), 1);
    const pcnn_conv_t f256 = Cv(1, 2, 3, 256, 256, 1, PCNN_MASK_B, 1), f240 = Cv(1, 2, 3, 240, 240, 1, PCNN_MASK_B, 1);
    EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("conv1x1_prelu_bwd_data"), isa, &f256), 1);
    EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("conv1x1_prelu_bwd_data"), isa, &f240), 0);
    const pcnn_conv_t co4100 = Cv(1, 1, 2, 8, 4100, 1, PCNN_MASK_B, 1), co4096 = Cv(1, 1, 2, 8, 4096, 1, PCNN_MASK_B, 1);
    EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("conv1x1_prelu_bwd_weights"), isa, &co4100), 1);
    EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("conv1x1_prelu_bwd_weights"), isa, &co4096), 0);
    // ops without a shape limit
    EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("prelu_fwd"), isa, &co4100), 0);
    EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("gemm_acc"), isa, &k17), 0);
  }
  // not answerable: a bad descriptor, op or ISA
  const pcnn_conv_t even = Cv(1, 2, 3, 4, 4, 2, PCNN_MASK_B, 1);
  EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("conv_fwd"), PCNN_ISA_REF, &even), -1);
  EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("conv_fwd"), PCNN_ISA_REF, nullptr), -1);
  EXPECT_EQ(pcnn_kernel_falls_back(PCNN_OP_COUNT, PCNN_ISA_REF, &k15), -1);
  EXPECT_EQ(pcnn_kernel_falls_back((pcnn_op_t)op_of("conv_fwd"), PCNN_ISA_COUNT, &k15), -1);
}

// The query says what the kernel does: on every shape, a kernel reported as
// falling back gives bitwise the reference's result, and one reported as
// running in SIMD does not (its FMAs round differently somewhere).
TEST(Dispatch, FallsBackMatchesWhatTheKernelDoes) {
  const pcnn_conv_t shapes[] = {
      Cv(1, 3, 4, 5, 6, 17, PCNN_MASK_B, 1),     // k = 17: the conv kernels fall back
      Cv(1, 4, 6, 5, 6, 15, PCNN_MASK_A, 1),     // k = 15: the largest they run
      Cv(2, 4, 5, 16, 24, 3, PCNN_MASK_B, 3),    // an ordinary 3x3
      Cv(1, 2, 3, 5000, 8, 1, PCNN_MASK_B, 1),   // fused 1x1 forward: pack too small
      Cv(1, 2, 3, 1100, 8, 1, PCNN_MASK_B, 1),   // ... on AVX-512 only
      Cv(1, 2, 3, 256, 256, 1, PCNN_MASK_B, 1),  // fused 1x1 backward-data: pack too small
      Cv(1, 2, 3, 240, 240, 1, PCNN_MASK_B, 3),  // ... fits
      Cv(1, 1, 2, 8, 4100, 1, PCNN_MASK_B, 1),   // weight gradient: cout > 4096 (and AVX-512 bwd-data)
      Cv(1, 1, 2, 8, 4096, 1, PCNN_MASK_B, 3),   // ... fits
  };
  int fell_back = 0, ran_simd = 0;
  for (pcnn_isa_t isa : simd_isas())
    for (const char *name : kLimitedOps) {
      const int op = op_of(name);
      void (*fn)(void) = row_fn(op, isa), (*ref)(void) = row_fn(op, PCNN_ISA_REF);
      ASSERT_NE(fn, nullptr) << name << " " << pcnn_isa_name(isa);
      for (const pcnn_conv_t &c : shapes) {
        if (is_1x1_op(name) && c.k != 1) continue;
        const int fb = pcnn_kernel_falls_back((pcnn_op_t)op, isa, &c);
        ASSERT_GE(fb, 0);
        const std::vector<float> y = run_op(op, fn, c), r = run_op(op, ref, c);
        ASSERT_EQ(y.size(), r.size());
        const bool same = memcmp(y.data(), r.data(), y.size() * sizeof(float)) == 0;
        EXPECT_EQ(same, fb == 1) << name << " " << pcnn_isa_name(isa) << " " << pt::conv_str(c)
                                 << ": the query says " << (fb ? "falls back" : "SIMD") << ", the result is "
                                 << (same ? "" : "not ") << "bitwise the reference's";
        (fb ? fell_back : ran_simd)++;
      }
    }
  if (!simd_isas().empty()) {
    EXPECT_GT(fell_back, 0);
    EXPECT_GT(ran_simd, 0);
  }
}

// `pixelcnn check` marks the rows whose kernel runs the reference for that
// shape: the F = 256 fused 1x1 backward-data at every SIMD level, no other row
TEST(Dispatch, CheckMarksTheRowsThatFallBack) {
  if (simd_isas().empty()) GTEST_SKIP() << "no SIMD level on this CPU";
  char *buf = nullptr;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ASSERT_NE(f, nullptr);
  const int fails = pcnn_check_run(f, 1);
  fclose(f);
  const std::string out(buf, len);
  free(buf);
  EXPECT_EQ(fails, 0) << out;
  size_t marked = 0;
  for (size_t a = 0, b; a < out.size(); a = b + 1) {
    b = out.find('\n', a);
    if (b == std::string::npos) b = out.size();
    const std::string line = out.substr(a, b - a);
    if (line.find("falls back to ref for this shape") == std::string::npos) continue;
    marked++;
    EXPECT_EQ(line.rfind("conv1x1_prelu_bwd_data ", 0), 0u) << line;
    EXPECT_NE(line.find("256->256"), std::string::npos) << line;
  }
  EXPECT_EQ(marked, simd_isas().size()) << out;
  for (pcnn_isa_t isa : simd_isas())
    EXPECT_NE(out.find(std::string("(") + pcnn_isa_name(isa) + ": falls back to ref for this shape)"),
              std::string::npos)
        << out;
  EXPECT_NE(out.find(std::to_string(simd_isas().size()) + " of them ran a SIMD kernel that falls back"),
            std::string::npos)
      << out;
}
