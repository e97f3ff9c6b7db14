/* pw_simd__avx512.h: the few AVX-512 vector operations the pointwise kernels
 * (kernels/conv1x1_prelu_*__avx512.c) are written with; pw_gemm.h is the
 * ISA-neutral microkernel on top. Include only from *__avx512.c files. */
#ifndef PW_SIMD_H
#define PW_SIMD_H
#include <immintrin.h>

#define PW_VL 16 /* floats per vector */
#define PW_MR 6  /* rows (pixels or input channels) per register tile */
#define PW_NV 4  /* vectors per register tile: 6 x 4 = 24 of 32 zmm accumulate */

typedef __m512 pw_vf;
typedef __mmask16 pw_vm;

/* lanes [lo, hi) of a vector, lo and hi clamped to [0, PW_VL] */
static inline pw_vm pw_mask_range(int lo, int hi) {
  lo = lo < 0 ? 0 : lo > PW_VL ? PW_VL : lo;
  hi = hi < 0 ? 0 : hi > PW_VL ? PW_VL : hi;
  const unsigned a = (1u << hi) - 1u, b = (1u << lo) - 1u;
  return (pw_vm)(a & ~b);
}
static inline pw_vf pw_zero(void) { return _mm512_setzero_ps(); }
static inline pw_vf pw_load(const float *p) { return _mm512_loadu_ps(p); }
static inline pw_vf pw_loadm(pw_vm m, const float *p) { return _mm512_maskz_loadu_ps(m, p); }
static inline void pw_store(float *p, pw_vf v) { _mm512_storeu_ps(p, v); }
static inline void pw_storem(float *p, pw_vm m, pw_vf v) { _mm512_mask_storeu_ps(p, m, v); }
/* non-temporal store (p aligned to a vector), and the fence that orders them */
static inline void pw_stream(float *p, pw_vf v) { _mm512_stream_ps(p, v); }
static inline void pw_fence(void) { _mm_sfence(); }
static inline pw_vf pw_bcast(const float *p) { return _mm512_set1_ps(*p); }
static inline pw_vf pw_fma(pw_vf a, pw_vf b, pw_vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline pw_vf pw_add(pw_vf a, pw_vf b) { return _mm512_add_ps(a, b); }
static inline pw_vf pw_set1(float x) { return _mm512_set1_ps(x); }
static inline pw_vf pw_sub(pw_vf a, pw_vf b) { return _mm512_sub_ps(a, b); }
static inline pw_vf pw_div(pw_vf a, pw_vf b) { return _mm512_div_ps(a, b); }
static inline pw_vf pw_sqrt(pw_vf a) { return _mm512_sqrt_ps(a); }
static inline pw_vf pw_mul(pw_vf a, pw_vf b) { return _mm512_mul_ps(a, b); }
/* x > 0 ? y : alpha * y  (the PReLU and its derivative times y) */
static inline pw_vf pw_prelu_sel(pw_vf x, pw_vf y, pw_vf alpha) {
  const __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ);
  return _mm512_mask_blend_ps(pos, _mm512_mul_ps(alpha, y), y);
}
/* x <= 0 ? g * x : 0  (the slope gradient term; NaN x gives 0 like x > 0) */
static inline pw_vf pw_neg_part(pw_vf x, pw_vf g) {
  const __mmask16 le = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LE_OQ);
  return _mm512_maskz_mul_ps(le, g, x);
}
#endif
