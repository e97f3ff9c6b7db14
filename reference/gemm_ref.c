/* gemm_ref.c: the small accumulating GEMM, plain C.
 * c[m][n] += sum_k a[m][k] b[k][n], then the epilogue (pcnn_gemm_epi_t:
 * bias first, + res, PReLU into out), row-major with leading dimensions lda,
 * ldb, ldc (b in its precision's packed form, pcnn_kernels.h). Used by the
 * caching sampler (model/sample_cached.c) for one position of one layer: m
 * images, k gathered inputs, n outputs.
 * Serial (the sampler calls it from each of its threads). The a16 twin reads
 * a as bf16 bits (the values the bf16 form rounds a to). */
#include "pcnn_bf16.h"
#include "pcnn_kernels.h"

/* b[p][j] of either packed form */
static float b_at(const int bf, const void *b, int p, int j, int ldb) {
  if (!bf) return ((const float *)b)[(size_t)p * ldb + j];
  const uint32_t w = ((const uint32_t *)b)[(size_t)(p / 2) * ldb + j];
  return pcnn_bf16_to_f32((uint16_t)(p % 2 ? w >> 16 : w & 0xffffu));
}

/* bf: a rounded to bf16 (pcnn_bf16.h), b read from its pair words (already
 * rounded by pcnn_gemm_pack_b); the products summed in fp32 in the same
 * order either way */
static void gemm_acc(const int bf, float *c, const float *a, const uint16_t *a16, const void *b, int m, int n,
                     int k, int lda, int ldb, int ldc, const pcnn_gemm_epi_t *epi) {
  for (int i = 0; i < m; i++) {
    float *ci = c + (size_t)i * ldc;
    if (epi && epi->bias)
      for (int j = 0; j < n; j++) ci[j] = epi->bias[j];
    for (int p = 0; p < k; p++) {
      const float av = a16  ? pcnn_bf16_to_f32(a16[(size_t)i * lda + p])
                       : bf ? pcnn_bf16_round(a[(size_t)i * lda + p])
                            : a[(size_t)i * lda + p];
      for (int j = 0; j < n; j++) ci[j] += av * b_at(bf, b, p, j, ldb);
    }
    if (epi && epi->res)
      for (int j = 0; j < n; j++) ci[j] += epi->res[(size_t)i * epi->ldr + j];
    if (epi && epi->out)
      for (int j = 0; j < n; j++) epi->out[(size_t)i * epi->ldo + j] = ci[j] > 0 ? ci[j] : epi->alpha[j] * ci[j];
  }
  pcnn_gemm_out16(epi, m, n);
}

void pcnn_gemm_acc__ref(float *c, const float *a, const void *b, int m, int n, int k, int lda, int ldb,
                        int ldc, const pcnn_gemm_epi_t *epi) {
  gemm_acc(0, c, a, NULL, b, m, n, k, lda, ldb, ldc, epi);
}

void pcnn_gemm_acc__ref_bf16(float *c, const float *a, const void *b, int m, int n, int k, int lda,
                             int ldb, int ldc, const pcnn_gemm_epi_t *epi) {
  gemm_acc(1, c, a, NULL, b, m, n, k, lda, ldb, ldc, epi);
}

void pcnn_gemm_acc_a16__ref_bf16(float *c, const uint16_t *a, const void *b, int m, int n, int k, int lda,
                                 int ldb, int ldc, const pcnn_gemm_epi_t *epi) {
  gemm_acc(1, c, NULL, a, b, m, n, k, lda, ldb, ldc, epi);
}
