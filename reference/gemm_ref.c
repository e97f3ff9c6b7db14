/* gemm_ref.c: the small accumulating GEMM, plain C.
 * c[m][n] += sum_k a[m][k] b[k][n], row-major with leading dimensions
 * lda, ldb, ldc (in floats). Used by the caching sampler (model/sample_cached.c)
 * for one position of one layer: m images, k gathered inputs, n outputs.
 * Serial (the sampler calls it from each of its threads). */
#include "pcnn_kernels.h"

void pcnn_gemm_acc__ref(float *c, const float *a, const float *b, int m, int n, int k, int lda,
                        int ldb, int ldc) {
  for (int i = 0; i < m; i++)
    for (int p = 0; p < k; p++) {
      const float av = a[(size_t)i * lda + p];
      for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] += av * b[(size_t)p * ldb + j];
    }
}
