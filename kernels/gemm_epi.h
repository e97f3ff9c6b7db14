/* gemm_epi.h: gemm_acc's epilogue (pcnn_gemm_epi_t, pcnn_kernels.h) on a
 * register tile of rows [0, mr) x vectors [0, nv) of PW_VL columns, the last
 * vector masked by last; for the gemm_acc bodies on pw_simd
 * (gemm_acc_body.h: avx2, avx512; gemm_acc__avx512bf16.c). Include after
 * the ISA's pw_simd header. */
#ifndef GEMM_EPI_H
#define GEMM_EPI_H

#include "pcnn_kernels.h"

/* the epilogue's pointers moved to the tile at row i, column j */
static inline pcnn_gemm_epi_t ge_at(const pcnn_gemm_epi_t *e, int i, int j) {
  pcnn_gemm_epi_t t = {0};
  if (!e) return t;
  t.bias = e->bias ? e->bias + j : NULL;
  t.res = e->res ? e->res + (size_t)i * e->ldr + j : NULL;
  t.ldr = e->ldr;
  t.out = e->out ? e->out + (size_t)i * e->ldo + j : NULL;
  t.ldo = e->ldo;
  t.alpha = e->alpha ? e->alpha + j : NULL;
  t.out16 = e->out16 ? e->out16 + (size_t)i * e->ldo16 + j : NULL;
  t.ldo16 = e->ldo16;
  return t;
}

static PW_INLINE pw_vf ge_ld(const float *p, int v, int nv, pw_vm last) {
  return v == nv - 1 ? pw_loadm(last, p + v * PW_VL) : pw_load(p + v * PW_VL);
}
/* a masked store only where lanes are off (a masked store of a whole
 * vector costs several plain ones on Zen 4: the bf16 sampler's tiles) */
static PW_INLINE void ge_st(float *p, int v, int nv, pw_vm last, pw_vf x) {
  if (v == nv - 1 && !pw_mask_full(last))
    pw_storem(p + v * PW_VL, last, x);
  else
    pw_store(p + v * PW_VL, x);
}

/* the accumulators' start: c (rows of ldc), or bias down every row */
static PW_INLINE void ge_load(pw_vf acc[PW_MR][PW_NV], const int mr, const int nv, const float *c, int ldc,
                              const float *bias, pw_vm last) {
  if (bias) {
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
      const pw_vf b = ge_ld(bias, v, nv, last);
#pragma GCC unroll 8
      for (int r = 0; r < mr; r++) acc[r][v] = b;
    }
    return;
  }
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) acc[r][v] = ge_ld(c + (size_t)r * ldc, v, nv, last);
}

/* stores the tile to c, with e's residual added first and its PReLU stored
 * to out after (e NULL, or its res / out NULL: that step skipped; e->bias
 * is ge_load's). With GE_OUT16 defined (the bf16 body, which has
 * VCVTNE2PS2BF16) also out's bf16 bits to out16, from the registers;
 * without it, the body calls pcnn_gemm_out16 after the tiles. */
static PW_INLINE void ge_store(pw_vf acc[PW_MR][PW_NV], const int mr, const int nv, float *c, int ldc,
                               const pcnn_gemm_epi_t *e, pw_vm last) {
  const float *res = e ? e->res : NULL;
  float *out = e ? e->out : NULL;
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    pw_vf y[PW_NV];
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
      pw_vf x = acc[r][v];
      if (res) x = pw_add(x, ge_ld(res + (size_t)r * e->ldr, v, nv, last));
      ge_st(c + (size_t)r * ldc, v, nv, last, x);
      y[v] = out ? pw_prelu_sel(x, x, ge_ld(e->alpha, v, nv, last)) : x;
      if (out) ge_st(out + (size_t)r * e->ldo, v, nv, last, y[v]);
    }
#ifdef GE_OUT16
    if (out && e->out16) { /* pairs of vectors: one conversion, 32 words */
      uint16_t *d = e->out16 + (size_t)r * e->ldo16;
#pragma GCC unroll 4
      for (int v = 0; v < nv; v += 2) {
        const __m512i w = (__m512i)_mm512_cvtne2ps_pbh(v + 1 < nv ? y[v + 1] : _mm512_setzero_ps(), y[v]);
        const int nw = v + 1 < nv ? (v + 1 == nv - 1 ? 16 + __builtin_popcount((unsigned)last) : 32)
                                  : __builtin_popcount((unsigned)last);
        if (nw == 32)
          _mm512_storeu_si512(d + v * 16, w);
        else
          _mm512_mask_storeu_epi16(d + v * 16, (__mmask32)((1u << nw) - 1u), w);
      }
    }
#endif
  }
}

#endif
