/* gemm_acc__avx512.c: c[m][n] += a[m][k] b[k][n] (row-major, leading
 * dimensions lda, ldb, ldc), AVX-512.
 *
 * Register tile: MR = 6 rows x NV = 4 vectors of 16 columns (24 accumulators
 * + 4 rows of b + 1 broadcast of a <= 32 zmm). The tile of c is loaded into
 * the accumulators, k rank-1 updates are added with FMA (b row: NV loads; a:
 * one broadcast per row), and the tile is stored back. Column tails use a lane
 * mask on the last vector, row tails a smaller MR; mr and nv are literals
 * after inlining, so the tile lives in registers. Columns are the outer loop
 * so a k x 64 panel of b stays in L1/L2 while the rows of a stream past it. */
#include <immintrin.h>

#include "pcnn_kernels.h"

#define INL static inline __attribute__((always_inline))
enum { MR = 6, NV = 4, VL = 16 };

INL void tile(float *c, const float *a, const float *b, int k, int lda, int ldb, int ldc,
              const int mr, const int nv, __mmask16 last) {
  __m512 acc[MR][NV];
  #pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
      acc[r][v] = v == nv - 1 ? _mm512_maskz_loadu_ps(last, c + (size_t)r * ldc + v * VL)
                              : _mm512_loadu_ps(c + (size_t)r * ldc + v * VL);
  for (int p = 0; p < k; p++) {
    const float *bp = b + (size_t)p * ldb;
    __m512 bv[NV];
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
      bv[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(last, bp + v * VL) : _mm512_loadu_ps(bp + v * VL);
    #pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      const __m512 av = _mm512_set1_ps(a[(size_t)r * lda + p]);
      #pragma GCC unroll 8
      for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
      float *cp = c + (size_t)r * ldc + v * VL;
      if (v == nv - 1)
        _mm512_mask_storeu_ps(cp, last, acc[r][v]);
      else
        _mm512_storeu_ps(cp, acc[r][v]);
    }
}

#define TILE_NV(MR_)                                                 \
  switch (nv) {                                                      \
    case 1: tile(c, a, b, k, lda, ldb, ldc, MR_, 1, last); break;    \
    case 2: tile(c, a, b, k, lda, ldb, ldc, MR_, 2, last); break;    \
    case 3: tile(c, a, b, k, lda, ldb, ldc, MR_, 3, last); break;    \
    default: tile(c, a, b, k, lda, ldb, ldc, MR_, 4, last); break;   \
  }

static void tile_any(float *c, const float *a, const float *b, int k, int lda, int ldb, int ldc,
                     int mr, int nv, __mmask16 last) {
  switch (mr) {
    case 1: TILE_NV(1); break;
    case 2: TILE_NV(2); break;
    case 3: TILE_NV(3); break;
    case 4: TILE_NV(4); break;
    case 5: TILE_NV(5); break;
    default: TILE_NV(6); break;
  }
}

void pcnn_gemm_acc__avx512(float *c, const float *a, const float *b, int m, int n, int k, int lda,
                           int ldb, int ldc) {
  for (int j = 0; j < n; j += NV * VL) {
    const int nc = n - j < NV * VL ? n - j : NV * VL;
    const int nv = (nc + VL - 1) / VL;
    const __mmask16 last = (__mmask16)(nc % VL ? (1u << (nc % VL)) - 1 : 0xFFFFu);
    for (int i = 0; i < m; i += MR) {
      const int mr = m - i < MR ? m - i : MR;
      tile_any(c + (size_t)i * ldc + j, a + (size_t)i * lda, b + j, k, lda, ldb, ldc, mr, nv, last);
    }
  }
}
