// test_dispatch.cc: the kernel table always holds a working kernel in every
// slot, and the list drives it.
#include "test_util.h"

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
