/* gemm_acc__avx2.c: c[m][n] += a[m][k] b[k][n] (row-major, leading
 * dimensions lda, ldb, ldc), AVX2 + FMA.
 *
 * Register tile: MR = 6 rows x NV = 2 vectors of 8 columns (12 accumulators
 * + 2 rows of b + 1 broadcast of a <= 16 ymm); otherwise as the AVX-512
 * kernel. The column-tail lane mask is built once per column tile from
 * scalar bits (no store-forwarding stall) and used by maskload/maskstore. */
#include <immintrin.h>

#include "pcnn_kernels.h"

#define INL static inline __attribute__((always_inline))
enum { MR = 6, NV = 2, VL = 8 };

INL void tile(float *c, const float *a, const float *b, int k, int lda, int ldb, int ldc,
              const int mr, const int nv, __m256i last) {
  __m256 acc[MR][NV];
  #pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
      acc[r][v] = v == nv - 1 ? _mm256_maskload_ps(c + (size_t)r * ldc + v * VL, last)
                              : _mm256_loadu_ps(c + (size_t)r * ldc + v * VL);
  for (int p = 0; p < k; p++) {
    const float *bp = b + (size_t)p * ldb;
    __m256 bv[NV];
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
      bv[v] = v == nv - 1 ? _mm256_maskload_ps(bp + v * VL, last) : _mm256_loadu_ps(bp + v * VL);
    #pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      const __m256 av = _mm256_broadcast_ss(a + (size_t)r * lda + p);
      #pragma GCC unroll 8
      for (int v = 0; v < nv; v++) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
    #pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
      float *cp = c + (size_t)r * ldc + v * VL;
      if (v == nv - 1)
        _mm256_maskstore_ps(cp, last, acc[r][v]);
      else
        _mm256_storeu_ps(cp, acc[r][v]);
    }
}

#define TILE_NV(MR_)                                                 \
  switch (nv) {                                                      \
    case 1: tile(c, a, b, k, lda, ldb, ldc, MR_, 1, last); break;    \
    default: tile(c, a, b, k, lda, ldb, ldc, MR_, 2, last); break;   \
  }

static void tile_any(float *c, const float *a, const float *b, int k, int lda, int ldb, int ldc,
                     int mr, int nv, __m256i last) {
  switch (mr) {
    case 1: TILE_NV(1); break;
    case 2: TILE_NV(2); break;
    case 3: TILE_NV(3); break;
    case 4: TILE_NV(4); break;
    case 5: TILE_NV(5); break;
    default: TILE_NV(6); break;
  }
}

void pcnn_gemm_acc__avx2(float *c, const float *a, const float *b, int m, int n, int k, int lda,
                         int ldb, int ldc) {
  for (int j = 0; j < n; j += NV * VL) {
    const int nc = n - j < NV * VL ? n - j : NV * VL;
    const int nv = (nc + VL - 1) / VL;
    const int tail = nc % VL ? nc % VL : VL; /* lanes of the last vector */
    int bits[VL];
    for (int l = 0; l < VL; l++) bits[l] = l < tail ? -1 : 0;
    const __m256i last = _mm256_setr_epi32(bits[0], bits[1], bits[2], bits[3], bits[4], bits[5],
                                           bits[6], bits[7]);
    for (int i = 0; i < m; i += MR) {
      const int mr = m - i < MR ? m - i : MR;
      tile_any(c + (size_t)i * ldc + j, a + (size_t)i * lda, b + j, k, lda, ldb, ldc, mr, nv, last);
    }
  }
}
