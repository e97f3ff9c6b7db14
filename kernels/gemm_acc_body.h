/* gemm_acc_body.h: the body of pcnn_gemm_acc__avx512 and __avx2, included by
 * kernels/gemm_acc__avx512.c and __avx2.c after their pw_simd__<isa>.h, which
 * sets the vector width and the tile (PW_MR rows x PW_NV vectors: 6 x 4 zmm,
 * AVX2 6 x 2 ymm); PW_KERNEL(op) names the function for the ISA.
 *   c[m][n] += a[m][k] b[k][n]   (row-major, leading dimensions lda, ldb, ldc)
 * then the epilogue (pcnn_gemm_epi_t). The tile of c is loaded into the
 * accumulators (or the bias, broadcast down the rows, when the epilogue has
 * one), k rank-1 updates are added with FMA (b row: PW_NV loads; a: one
 * broadcast per row), and the tile is stored back, with the residual added
 * first and its PReLU stored to out after (gemm_epi.h), while it is in
 * registers. b and c are not padded, so the last vector of a column tile
 * uses a lane mask (built once per column tile) for its loads and stores; row
 * tiles are ceil(m / PW_MR) of balanced heights. mr and nv are literals
 * after inlining, so the tile lives in registers. Columns are the outer loop
 * so a k x (PW_NV PW_VL) panel of b stays in L1/L2 while the rows of a
 * stream past it.
 * Work split: none, one thread; the caching sampler calls it from each of
 * its threads on that thread's images. Each c element sums over p in order,
 * whatever the tile's row count. */
#include "pcnn_kernels.h"
#include "gemm_epi.h"

static PW_INLINE void tile(float *c, const float *a, const float *b, int k, int lda, int ldb, int ldc,
                 const int mr, const int nv, pw_vm last, const pcnn_gemm_epi_t *e) {
  pw_vf acc[PW_MR][PW_NV];
  ge_load(acc, mr, nv, c, ldc, e ? e->bias : NULL, last);
  for (int p = 0; p < k; p++) {
    const float *bp = b + (size_t)p * ldb;
    pw_vf bv[PW_NV];
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
      bv[v] = v == nv - 1 ? pw_loadm(last, bp + v * PW_VL) : pw_load(bp + v * PW_VL);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      const pw_vf av = pw_bcast(a + (size_t)r * lda + p);
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++) acc[r][v] = pw_fma(av, bv[v], acc[r][v]);
    }
  }
  ge_store(acc, mr, nv, c, ldc, e, last);
}

#if PW_NV > 2
#define GA_NV_MORE(MR_)                                            \
  case 3: tile(c, a, b, k, lda, ldb, ldc, MR_, 3, last, e); break;    \
  case 4: tile(c, a, b, k, lda, ldb, ldc, MR_, 4, last, e); break;
#else
#define GA_NV_MORE(MR_)
#endif
#define GA_NV(MR_)                                                 \
  switch (nv) {                                                    \
    case 1: tile(c, a, b, k, lda, ldb, ldc, MR_, 1, last, e); break;  \
    case 2: tile(c, a, b, k, lda, ldb, ldc, MR_, 2, last, e); break;  \
    GA_NV_MORE(MR_)                                                \
    default: break;                                                \
  }

static void tile_any(float *c, const float *a, const float *b, int k, int lda, int ldb, int ldc,
                     int mr, int nv, pw_vm last, const pcnn_gemm_epi_t *e) {
  switch (mr) {
    case 1: GA_NV(1); break;
    case 2: GA_NV(2); break;
    case 3: GA_NV(3); break;
    case 4: GA_NV(4); break;
    case 5: GA_NV(5); break;
    default: GA_NV(6); break;
  }
}

void PW_KERNEL(gemm_acc)(float *c, const float *a, const void *bv, int m, int n, int k, int lda,
                         int ldb, int ldc, const pcnn_gemm_epi_t *epi) {
  const float *b = bv; /* FP32: the packed form is the row-major floats */
  const int tw = PW_NV * PW_VL;
  for (int j = 0; j < n; j += tw) {
    const int nc = n - j < tw ? n - j : tw;
    const int nv = (nc + PW_VL - 1) / PW_VL;
    const pw_vm last = pw_mask_range(0, nc % PW_VL ? nc % PW_VL : PW_VL);
    /* the rows in ceil(m / PW_MR) tiles of balanced heights (16 rows: 6 5 5,
     * not 6 6 4): a low tile reloads the b row for few FMAs */
    const int nt = (m + PW_MR - 1) / PW_MR;
    for (int t = 0, i = 0; t < nt; t++) {
      const int mr = (m - i) / (nt - t) + ((m - i) % (nt - t) != 0);
      const pcnn_gemm_epi_t e = ge_at(epi, i, j);
      tile_any(c + (size_t)i * ldc + j, a + (size_t)i * lda, b + j, k, lda, ldb, ldc, mr, nv, last,
               epi ? &e : NULL);
      i += mr;
    }
  }
  pcnn_gemm_out16(epi, m, n); /* (the bf16 sampler's; plain C at FP32) */
}
