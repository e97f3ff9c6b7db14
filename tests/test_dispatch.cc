// test_dispatch.cc: the kernel table always holds a working kernel in every
// slot, and the list drives it; the tuner's measurement of every level.
#include "test_util.h"

extern "C" {
#include "check.h"  // pcnn_kernel_measure: what `pixelcnn tune` times
}

TEST(Dispatch, EverySlotFilledAtEveryLevel) {
  for (int isa = 0; isa < PCNN_ISA_COUNT; isa++) {
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
  const pcnn_conv_t c = {2, 6, 6, 16, 24, 3, PCNN_MASK_B, 1};
  for (const char *name : {"conv_fwd", "conv_bwd_weights", "conv1x1_prelu_bwd_data", "conv_prelu_fwd"}) {
    const int op = pcnn_op_index(name);
    ASSERT_GE(op, 0) << name;
    double ms[PCNN_ISA_COUNT], err[PCNN_ISA_COUNT];
    int want = 0;
    for (int isa = 0; isa < PCNN_ISA_COUNT; isa++) want += pcnn_isa_supported((pcnn_isa_t)isa);
    EXPECT_EQ(pcnn_kernel_measure(op, &c, 2, ms, err), want) << name;
    EXPECT_EQ(err[PCNN_ISA_REF], 0.0) << name;
    for (int isa = 0; isa < PCNN_ISA_COUNT; isa++) {
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
