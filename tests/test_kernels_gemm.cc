// test_kernels_gemm.cc: every SIMD row of the kernel list for gemm_acc
// (c += a b, row-major with leading dimensions) against its reference twin on
// seeded random data, at odd sizes around the register tiles (rows 1..13, 97,
// columns 1..129 around 8/16/64, k 0..33, 600), with leading dimensions larger than
// the widths; c accumulates into a pre-filled buffer and the padding between
// rows of c is never written. The bf16 rows (pcnn_kernel_rows_bf16) are
// checked the same way against the bf16 reference (pcnn_gemm_acc__ref_bf16:
// only the order of the fp32 additions differs, so the tolerance is the
// FP32 one), b packed for each row's precision (pcnn_gemm_pack_b); and on
// blocks of a packed b as the caching sampler takes them (a prefix of the
// rows, odd lengths included, and a range of columns).
#include <cmath>
#include <cstring>

#include "pcnn_bf16.h"
#include "test_util.h"

namespace {

std::vector<const pcnn_kernel_row_t *> gemm_rows() {
  std::vector<const pcnn_kernel_row_t *> r;
  for (int i = 0; i < pcnn_kernel_row_count; i++)
    if (pcnn_kernel_rows[i].isa != PCNN_ISA_REF && pcnn_kernel_rows[i].op == PCNN_OP_gemm_acc)
      r.push_back(&pcnn_kernel_rows[i]);
  for (int i = 0; i < pcnn_kernel_row_count_bf16; i++)
    if (pcnn_kernel_rows_bf16[i].isa != PCNN_ISA_REF && pcnn_kernel_rows_bf16[i].op == PCNN_OP_gemm_acc)
      r.push_back(&pcnn_kernel_rows_bf16[i]);
  return r;
}

TEST(KernelsGemm, EverySimdRowMatchesReference) {
  const auto rows = gemm_rows();
  ASSERT_GE(rows.size(), 2u) << "expected AVX2 and AVX-512 gemm_acc rows in kernel_list.h";
  const int ms[] = {1, 2, 3, 5, 6, 7, 13, 97};  // 97: past the bf16 kernel's 96-row group
  const int ns[] = {1, 3, 5, 7, 8, 13, 16, 17, 31, 33, 64, 65, 129};
  const int ks[] = {0, 1, 3, 17, 33, 600};  // 600: past its 512-long reduction chunk
  int checked = 0;
  for (const pcnn_kernel_row_t *row : rows) {
    if (!pcnn_isa_supported(row->isa)) {
      printf("[  SKIP    ] %s: ISA not supported here\n", row->fn_name);
      continue;
    }
    auto fn = (pcnn_gemm_acc_fn *)row->fn;
    pcnn_gemm_acc_fn *ref = row->prec == PCNN_PREC_BF16 ? pcnn_gemm_acc__ref_bf16 : pcnn_gemm_acc__ref;
    for (int m : ms)
      for (int n : ns)
        for (int k : ks) {
          const int lda = k + 3, ldb = n + 5, ldc = n + 2;
          const uint64_t s = (uint64_t)(m * 1000003 + n * 1009 + k);
          auto a = pt::rand_vec((size_t)m * lda, s);
          auto b = pt::rand_vec((size_t)(k ? k : 1) * ldb, s + 1);
          // b in the row's packed form (bf16: pair words), leading dimension kept
          std::vector<float> bp(pcnn_gemm_packed_len(row->prec, k ? k : 1, ldb));
          pcnn_gemm_pack_b(row->prec, bp.data(), ldb, b.data(), k, n, ldb);
          // c has 64 guard floats after the last row: a full-vector store past
          // column n shows up in the padding check below instead of a crash
          auto c0 = pt::rand_vec((size_t)m * ldc + 64, s + 2);
          std::vector<float> want = c0, got = c0;
          ref(want.data(), a.data(), bp.data(), m, n, k, lda, ldb, ldc, nullptr);
          fn(got.data(), a.data(), bp.data(), m, n, k, lda, ldb, ldc, nullptr);
          char what[128];
          snprintf(what, sizeof what, "%s m%d n%d k%d", row->fn_name, m, n, k);
          // |sum of k products of values in [-1,1]| <= k: tolerance scales with k
          ASSERT_TRUE(pt::AllClose(got.data(), want.data(), got.size(), PCNN_TOL_ELEMENTWISE * (k + 1), PCNN_TOL_ELEMENTWISE, what));
          for (int i = 0; i < m; i++)  // padding columns n..ldc (and the guard) untouched
            ASSERT_EQ(0, memcmp(&got[(size_t)i * ldc + n], &c0[(size_t)i * ldc + n],
                                (size_t)(i == m - 1 ? ldc - n + 64 : ldc - n) * sizeof(float)))
                << what << ": wrote past column n in row " << i;
          checked++;
        }
  }
  EXPECT_GT(checked, 0);
}

// a block of the packed b, as the sampler passes it for a colour group:
// rows [0, k') of a K-row matrix (k' odd: the row after the block shares the
// last pair word and must not count; it holds Inf here, so a kernel that
// multiplied it by a's zero padding would give NaN) and columns [j0, j0 + n)
TEST(KernelsGemm, BlocksOfThePackedMatrix) {
  const auto rows = gemm_rows();
  const int K = 41, N = 120, m = 7, lda = K, ldc = N;
  int checked = 0;
  for (const pcnn_kernel_row_t *row : rows) {
    if (!pcnn_isa_supported(row->isa)) continue;
    auto fn = (pcnn_gemm_acc_fn *)row->fn;
    pcnn_gemm_acc_fn *ref = row->prec == PCNN_PREC_BF16 ? pcnn_gemm_acc__ref_bf16 : pcnn_gemm_acc__ref;
    for (int kb : {1, 20, 21, 40, 41})
      for (int j0 : {0, 40, 80}) {
        const int n = 40;
        auto a = pt::rand_vec((size_t)m * lda, 11), b = pt::rand_vec((size_t)K * N, 12);
        if (kb < K)
          for (int j = 0; j < N; j++) b[(size_t)kb * N + j] = INFINITY;
        std::vector<float> bp(pcnn_gemm_packed_len(row->prec, K, N));
        pcnn_gemm_pack_b(row->prec, bp.data(), N, b.data(), K, N, N);
        const auto c0 = pt::rand_vec((size_t)m * ldc, 13);
        std::vector<float> want = c0, got = c0;
        ref(want.data() + j0, a.data(), bp.data() + j0, m, n, kb, lda, N, ldc, nullptr);
        fn(got.data() + j0, a.data(), bp.data() + j0, m, n, kb, lda, N, ldc, nullptr);
        char what[128];
        snprintf(what, sizeof what, "%s k'%d j0 %d", row->fn_name, kb, j0);
        for (float v : got) ASSERT_TRUE(std::isfinite(v)) << what << ": read the row after the block";
        ASSERT_TRUE(pt::AllClose(got.data(), want.data(), got.size(), PCNN_TOL_ELEMENTWISE * (kb + 1),
                                 PCNN_TOL_ELEMENTWISE, what));
        checked++;
      }
  }
  EXPECT_GT(checked, 0);
}

// the epilogue (pcnn_gemm_epi_t): bias instead of c's old values, the
// residual, the PReLU into out, alone and together, at k = 0 (the epilogue
// alone) and past the bf16 kernel's 512-long chunk (bias in the first chunk,
// the rest in the last); out's padding columns never written
TEST(KernelsGemm, EpilogueMatchesReference) {
  const auto rows = gemm_rows();
  int checked = 0;
  for (const pcnn_kernel_row_t *row : rows) {
    if (!pcnn_isa_supported(row->isa)) continue;
    auto fn = (pcnn_gemm_acc_fn *)row->fn;
    pcnn_gemm_acc_fn *ref = row->prec == PCNN_PREC_BF16 ? pcnn_gemm_acc__ref_bf16 : pcnn_gemm_acc__ref;
    for (int m : {1, 7, 16})
      for (int n : {1, 17, 64, 65})
        for (int k : {0, 5, 600})
          for (int what = 1; what < 8; what++) {  // bits: bias, res, out
            const int lda = k + 1, ldb = n + 3, ldc = n + 2, ldr = n + 4, ldo = n + 5;
            const uint64_t sd = (uint64_t)(m * 7919 + n * 31 + k * 3 + what);
            auto a = pt::rand_vec((size_t)m * lda, sd), b = pt::rand_vec((size_t)(k ? k : 1) * ldb, sd + 1);
            std::vector<float> bp(pcnn_gemm_packed_len(row->prec, k ? k : 1, ldb));
            pcnn_gemm_pack_b(row->prec, bp.data(), ldb, b.data(), k, n, ldb);
            auto bias = pt::rand_vec(n, sd + 2), res = pt::rand_vec((size_t)m * ldr, sd + 3);
            auto alpha = pt::rand_vec(n, sd + 4);
            const auto c0 = pt::rand_vec((size_t)m * ldc, sd + 5), o0 = pt::rand_vec((size_t)m * ldo, sd + 6);
            pcnn_gemm_epi_t e = {what & 1 ? bias.data() : nullptr, what & 2 ? res.data() : nullptr, ldr,
                                 nullptr, ldo, alpha.data(), nullptr, 0};
            std::vector<float> cw = c0, cg = c0, ow = o0, og = o0;
            e.out = what & 4 ? ow.data() : nullptr;
            ref(cw.data(), a.data(), bp.data(), m, n, k, lda, ldb, ldc, &e);
            e.out = what & 4 ? og.data() : nullptr;
            fn(cg.data(), a.data(), bp.data(), m, n, k, lda, ldb, ldc, &e);
            char msg[128];
            snprintf(msg, sizeof msg, "%s m%d n%d k%d epilogue %d", row->fn_name, m, n, k, what);
            const double tol = PCNN_TOL_ELEMENTWISE * (k + 3);
            ASSERT_TRUE(pt::AllClose(cg.data(), cw.data(), cg.size(), tol, PCNN_TOL_ELEMENTWISE, msg));
            ASSERT_TRUE(pt::AllClose(og.data(), ow.data(), og.size(), tol, PCNN_TOL_ELEMENTWISE, msg));
            for (int i = 0; i < m; i++)
              for (int j = n; j < ldo; j++) ASSERT_EQ(og[(size_t)i * ldo + j], o0[(size_t)i * ldo + j]) << msg;
            checked++;
          }
  }
  EXPECT_GT(checked, 0);
}

// out16 (the bf16 bits of out) at every gemm row, the reference's included,
// FP32 and bf16: bit for bit pcnn_f32_to_bf16 of the out it wrote, at widths
// around the vector and the pair of vectors (tails), with Inf, NaN, a tie
// and a subnormal among the results; its padding never written
TEST(KernelsGemm, Out16IsTheBf16OfOut) {
  std::vector<const pcnn_kernel_row_t *> rows;
  for (int i = 0; i < pcnn_kernel_row_count; i++)
    if (pcnn_kernel_rows[i].op == PCNN_OP_gemm_acc) rows.push_back(&pcnn_kernel_rows[i]);
  for (int i = 0; i < pcnn_kernel_row_count_bf16; i++)
    if (pcnn_kernel_rows_bf16[i].op == PCNN_OP_gemm_acc) rows.push_back(&pcnn_kernel_rows_bf16[i]);
  int checked = 0;
  for (const pcnn_kernel_row_t *row : rows) {
    if (!pcnn_isa_supported(row->isa)) continue;
    for (int m : {1, 6, 13})
      for (int n : {1, 15, 16, 17, 31, 32, 33, 64, 70})
        for (int k : {0, 9}) {
          const int lda = k + 1, ldb = n, ldc = n + 1, ldo = n + 2, ld16 = n + 3;
          auto a = pt::rand_vec((size_t)m * lda, 100 + n), b = pt::rand_vec((size_t)(k + 1) * ldb, 200 + n);
          std::vector<float> bp(pcnn_gemm_packed_len(row->prec, k + 1, ldb));
          pcnn_gemm_pack_b(row->prec, bp.data(), ldb, b.data(), k, n, ldb);
          auto res = pt::rand_vec((size_t)m * ldc, 300 + n), alpha = pt::rand_vec(n, 400 + n);
          // k = 0: out = PReLU(0 + res) exactly, so the first row's results are
          // the specials: Inf, NaN, a bf16 tie (1 + 2^-8: to even, 1), a
          // subnormal (to +0), and a value that rounds up
          const float special[] = {INFINITY, NAN, 1.00390625f, 1e-40f, 1.01171875f};
          if (k == 0)
            for (int s = 0; s < 5 && s < n; s++) res[s] = special[s];
          std::vector<float> c((size_t)m * ldc), out((size_t)m * ldo, 7.f);
          std::vector<uint16_t> o16((size_t)m * ld16, 0x1234);
          const pcnn_gemm_epi_t e = {nullptr, res.data(), ldc, out.data(), ldo, alpha.data(), o16.data(), ld16};
          ((pcnn_gemm_acc_fn *)row->fn)(c.data(), a.data(), bp.data(), m, n, k, lda, ldb, ldc, &e);
          for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++)
              ASSERT_EQ(o16[(size_t)i * ld16 + j], pcnn_f32_to_bf16(out[(size_t)i * ldo + j]))
                  << row->fn_name << " m" << m << " n" << n << " at " << i << "," << j << ": out " << out[(size_t)i * ldo + j];
            for (int j = n; j < ld16; j++) ASSERT_EQ(o16[(size_t)i * ld16 + j], 0x1234) << row->fn_name << " padding";
          }
          if (k == 0 && n >= 5) {  // the specials did come through
            EXPECT_TRUE(std::isinf(out[0]) && std::isnan(out[1])) << row->fn_name;
            EXPECT_EQ(o16[2], 0x3f80) << row->fn_name << ": the tie";
            EXPECT_EQ(o16[3], 0x0000) << row->fn_name << ": the subnormal";
            EXPECT_EQ(o16[4], 0x3f82) << row->fn_name << ": rounded up";
          }
          checked++;
        }
  }
  EXPECT_GT(checked, 0);
}

// the a16 twins (pcnn_gemm_a16_of): only the bf16 rows have one; on a given
// as bf16 bits, c and the whole epilogue bit for bit those of the row on the
// floats the bits stand for (an odd k, a 512-long chunk and its tail, odd
// widths, lda > k)
TEST(KernelsGemm, A16TwinsEqualTheirRows) {
  for (int i = 0; i < pcnn_kernel_row_count; i++) {
    if (pcnn_kernel_rows[i].op != PCNN_OP_gemm_acc) continue;
    EXPECT_EQ(pcnn_gemm_a16_of((pcnn_gemm_acc_fn *)pcnn_kernel_rows[i].fn), nullptr) << pcnn_kernel_rows[i].fn_name;
  }
  int checked = 0;
  for (int i = 0; i < pcnn_kernel_row_count_bf16; i++) {
    const pcnn_kernel_row_t *row = &pcnn_kernel_rows_bf16[i];
    if (row->op != PCNN_OP_gemm_acc) continue;
    pcnn_gemm_acc_a16_fn *tw = pcnn_gemm_a16_of((pcnn_gemm_acc_fn *)row->fn);
    ASSERT_NE(tw, nullptr) << row->fn_name << ": a bf16 gemm_acc row without an a16 twin";
    if (!pcnn_isa_supported(row->isa)) continue;
    for (int m : {1, 7, 16})
      for (int n : {5, 64, 70})
        for (int k : {3, 64, 191, 600}) {
          const int lda = k + (k % 2 ? 1 : 2), ldb = n, ldc = n + 1, ldo = n + 3;
          std::vector<float> a = pt::rand_vec((size_t)m * lda, 500 + k);
          std::vector<uint16_t> a16(a.size());
          for (size_t j = 0; j < a.size(); j++) {
            a16[j] = pcnn_f32_to_bf16(a[j]);
            a[j] = pcnn_bf16_to_f32(a16[j]);
          }
          auto b = pt::rand_vec((size_t)k * ldb, 600 + n);
          std::vector<float> bp(pcnn_gemm_packed_len(PCNN_PREC_BF16, k, ldb));
          pcnn_gemm_pack_b(PCNN_PREC_BF16, bp.data(), ldb, b.data(), k, n, ldb);
          auto bias = pt::rand_vec(n, 700), res = pt::rand_vec((size_t)m * ldc, 701), alpha = pt::rand_vec(n, 702);
          std::vector<float> c1((size_t)m * ldc, 3.f), c2 = c1, o1((size_t)m * ldo, 5.f), o2 = o1;
          std::vector<uint16_t> h1((size_t)m * ldo, 9), h2 = h1;
          pcnn_gemm_epi_t e = {bias.data(), res.data(), ldc, o1.data(), ldo, alpha.data(), h1.data(), ldo};
          ((pcnn_gemm_acc_fn *)row->fn)(c1.data(), a.data(), bp.data(), m, n, k, lda, ldb, ldc, &e);
          e.out = o2.data(), e.out16 = h2.data();
          tw(c2.data(), a16.data(), bp.data(), m, n, k, lda, ldb, ldc, &e);
          const std::string what = std::string(row->fn_name) + " m" + std::to_string(m) + " n" + std::to_string(n) +
                                   " k" + std::to_string(k);
          ASSERT_EQ(0, memcmp(c1.data(), c2.data(), c1.size() * sizeof(float))) << what << ": c";
          ASSERT_EQ(0, memcmp(o1.data(), o2.data(), o1.size() * sizeof(float))) << what << ": out";
          ASSERT_EQ(0, memcmp(h1.data(), h2.data(), h1.size() * sizeof(uint16_t))) << what << ": out16";
          checked++;
        }
  }
  EXPECT_GT(checked, 0);
}

// the reference's epilogue by hand: c = bias + a b, + res, PReLU into out
TEST(KernelsGemm, ReferenceEpilogueByHand) {
  const float a[] = {1, 2}, b[] = {1, -1, 1, -2}, bias[] = {0.5f, 0.5f}, res[] = {1, -1}, alpha[] = {0.25f, 0.5f};
  float c[] = {100, 100}, out[] = {0, 0};
  const pcnn_gemm_epi_t e = {bias, res, 2, out, 2, alpha, nullptr, 0};
  pcnn_gemm_acc__ref(c, a, b, 1, 2, 2, 2, 2, 2, &e);  // a (1x2) b (2x2): [3, -5]
  EXPECT_EQ(c[0], 4.5f);    // 0.5 + 3 + 1 (c's 100 not read)
  EXPECT_EQ(c[1], -5.5f);   // 0.5 - 5 - 1
  EXPECT_EQ(out[0], 4.5f);
  EXPECT_EQ(out[1], -2.75f);  // 0.5 x -5.5
}

// the bf16 packed form by hand: pairs of rows in one word, the even row in
// the low half, rounded to nearest even; an odd k pads with zero
TEST(KernelsGemm, Bf16PackByHand) {
  const float b[] = {1.0f, -2.0f, 1.00390625f /* 1 + 2^-8: a tie, to even 1.0 */, 3.0f, 0.5f, 1.01171875f};
  uint32_t w[4] = {0};
  pcnn_gemm_pack_b(PCNN_PREC_BF16, w, 2, b, 3, 2, 2);  // b (3, 2) -> 2 pair rows of 2 words
  EXPECT_EQ(w[0], 0x3f800000u | 0x3f80u);  // col 0: low b[0][0] = 1.0 (0x3f80), high b[1][0] -> 1.0
  EXPECT_EQ(w[1], 0x40400000u | 0xc000u);  // col 1: low -2.0 (0xc000), high 3.0 (0x4040)
  EXPECT_EQ(w[2], 0x3f00u);                // col 0: low 0.5, high the zero pad
  EXPECT_EQ(w[3], 0x3f82u);                // col 1: 1 + 2^-7 + 2^-8 (a tie) -> 1 + 2^-6 (even)
  EXPECT_EQ(pcnn_gemm_packed_len(PCNN_PREC_BF16, 3, 2), 4u);
  EXPECT_EQ(pcnn_gemm_packed_len(PCNN_PREC_FP32, 3, 2), 6u);
}

// the reference itself on a hand-worked case: [1 2; 3 4] [5 6; 7 8] + 1
TEST(KernelsGemm, ReferenceByHand) {
  const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};
  float c[] = {1, 1, 1, 1};
  pcnn_gemm_acc__ref(c, a, b, 2, 2, 2, 2, 2, 2, nullptr);
  EXPECT_EQ(c[0], 20.f);
  EXPECT_EQ(c[1], 23.f);
  EXPECT_EQ(c[2], 44.f);
  EXPECT_EQ(c[3], 51.f);
}

}  // namespace
