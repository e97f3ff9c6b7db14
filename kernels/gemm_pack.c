/* gemm_pack.c: gemm_acc's packed b, per precision (the format is in
 * pcnn_kernels.h, "gemm_acc's packed b"); portable C, no ISA flags. The
 * caching sampler packs each layer's weights once per sampling run; the
 * tests, `pixelcnn check` and the bench pack their b the same way. */
#include <string.h>

#include "pcnn_bf16.h"
#include "pcnn_kernels.h"

size_t pcnn_gemm_packed_len(pcnn_prec_t prec, int k, int ldp) {
  const size_t rows = prec == PCNN_PREC_BF16 ? (size_t)(k + 1) / 2 : (size_t)k;
  return rows * (size_t)ldp;
}

void pcnn_gemm_pack_b(pcnn_prec_t prec, void *bp, int ldp, const float *b, int k, int n, int ldb) {
  /* bp (k or ceil(k/2), ldp); b (k, ldb) */
  if (prec != PCNN_PREC_BF16) {
    float *o = bp;
    for (int p = 0; p < k; p++) memcpy(o + (size_t)p * ldp, b + (size_t)p * ldb, sizeof(float) * (size_t)n);
    return;
  }
  uint32_t *o = bp;
  for (int q = 0; q < (k + 1) / 2; q++)
    for (int j = 0; j < n; j++) {
      const uint32_t lo = pcnn_f32_to_bf16(b[(size_t)(2 * q) * ldb + j]);
      const uint32_t hi = 2 * q + 1 < k ? pcnn_f32_to_bf16(b[(size_t)(2 * q + 1) * ldb + j]) : 0;
      o[(size_t)q * ldp + j] = lo | hi << 16;
    }
}

void pcnn_gemm_out16(const pcnn_gemm_epi_t *epi, int m, int n) {
  if (!epi || !epi->out || !epi->out16) return;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++)
      epi->out16[(size_t)i * epi->ldo16 + j] = pcnn_f32_to_bf16(epi->out[(size_t)i * epi->ldo + j]);
}
