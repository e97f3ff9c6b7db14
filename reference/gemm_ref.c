/* gemm_ref.c: the small accumulating GEMM, plain C.
 * c[m][n] += sum_k a[m][k] b[k][n], row-major with leading dimensions
 * lda, ldb, ldc (in floats). Used by the caching sampler (model/sample_cached.c)
 * for one position of one layer: m images, k gathered inputs, n outputs.
 * Serial (the sampler calls it from each of its threads). */
#include "pcnn_bf16.h"
#include "pcnn_kernels.h"

static void gemm_acc(const int bf, float *c, const float *a, const float *b, int m, int n, int k, int lda,
                     int ldb, int ldc) {
  for (int i = 0; i < m; i++)
    for (int p = 0; p < k; p++) {
      const float av = bf ? pcnn_bf16_round(a[(size_t)i * lda + p]) : a[(size_t)i * lda + p];
      for (int j = 0; j < n; j++) {
        const float bv = b[(size_t)p * ldb + j];
        c[(size_t)i * ldc + j] += av * (bf ? pcnn_bf16_round(bv) : bv);
      }
    }
}

void pcnn_gemm_acc__ref(float *c, const float *a, const float *b, int m, int n, int k, int lda, int ldb,
                        int ldc) {
  gemm_acc(0, c, a, b, m, n, k, lda, ldb, ldc);
}
/* bf16: a and b rounded to bf16 (pcnn_bf16.h), products summed in fp32 */
void pcnn_gemm_acc__ref_bf16(float *c, const float *a, const float *b, int m, int n, int k, int lda,
                             int ldb, int ldc) {
  gemm_acc(1, c, a, b, m, n, k, lda, ldb, ldc);
}
