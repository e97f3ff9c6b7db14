/* gemm_ref.c: the small accumulating GEMM, plain C.
 * c[m][n] += sum_k a[m][k] b[k][n], row-major with leading dimensions
 * lda, ldb, ldc (b in its precision's packed form, pcnn_kernels.h). Used by
 * the caching sampler (model/sample_cached.c) for one position of one layer:
 * m images, k gathered inputs, n outputs.
 * Serial (the sampler calls it from each of its threads). */
#include "pcnn_bf16.h"
#include "pcnn_kernels.h"

void pcnn_gemm_acc__ref(float *c, const float *a, const void *bv, int m, int n, int k, int lda, int ldb,
                        int ldc) {
  const float *b = bv; /* (k, ldb) floats */
  for (int i = 0; i < m; i++)
    for (int p = 0; p < k; p++) {
      const float av = a[(size_t)i * lda + p];
      for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] += av * b[(size_t)p * ldb + j];
    }
}

/* bf16: a rounded to bf16 (pcnn_bf16.h), b read from its pair words (already
 * rounded by pcnn_gemm_pack_b), products summed in fp32 in the FP32
 * reference's order */
void pcnn_gemm_acc__ref_bf16(float *c, const float *a, const void *bv, int m, int n, int k, int lda,
                             int ldb, int ldc) {
  const uint32_t *b = bv; /* (ceil(k/2), ldb) pair words */
  for (int i = 0; i < m; i++)
    for (int p = 0; p < k; p++) {
      const float av = pcnn_bf16_round(a[(size_t)i * lda + p]);
      for (int j = 0; j < n; j++) {
        const uint32_t w = b[(size_t)(p / 2) * ldb + j];
        const float bf = pcnn_bf16_to_f32((uint16_t)(p % 2 ? w >> 16 : w & 0xffffu));
        c[(size_t)i * ldc + j] += av * bf;
      }
    }
}
