/* pw_simd__avx512.h: the AVX-512 vector layer: the few vector operations every
 * AVX-512 kernel file (*__avx512.c: the masked convs, the fused 1x1 +
 * PReLU kernels, gemm_acc, the element-wise ops, losses, Nadam) is written
 * with, and the register tile they share; pw_simd.h adds the ISA-neutral
 * helpers. pw_simd__avx2.h has the same names for AVX2, so a kernel body is
 * written once. On top: pw_gemm.h (the pointwise GEMM microkernel),
 * pw_math.h (exp, log), conv_direct.h and conv_wgrad.h (the conv engines).
 * Include only from *__avx512.c files. */
#ifndef PW_SIMD_H
#define PW_SIMD_H
#include <immintrin.h>

#define PW_VL 16 /* floats per vector */
#define PW_MR 6  /* rows (pixels or input channels) per register tile */
#define PW_NV 4  /* vectors per register tile: 6 x 4 = 24 of 32 zmm accumulate */
#include "pw_simd.h"

typedef __m512 pw_vf;
typedef __mmask16 pw_vm;

/* the mask of the lanes whose bits are set (pw_lane_bits) */
static inline pw_vm pw_mask_bits(unsigned b) { return (pw_vm)b; }
/* lanes [lo, hi) of a vector, lo and hi clamped to [0, PW_VL] */
static inline pw_vm pw_mask_range(int lo, int hi) { return pw_mask_bits(pw_lane_bits(lo, hi)); }
static inline pw_vm pw_mask_and(pw_vm a, pw_vm b) { return (pw_vm)(a & b); }
/* 1 if every lane is active */
static inline int pw_mask_full(pw_vm m) { return m == (pw_vm)0xffff; }
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

/* ---- for the loss heads (kernels/pw_math.h builds exp and log on these) ---- */
/* max / min; if either is NaN, b (so pw_max(lo, x) keeps a NaN x) */
static inline pw_vf pw_max(pw_vf a, pw_vf b) { return _mm512_max_ps(a, b); }
static inline pw_vf pw_min(pw_vf a, pw_vf b) { return _mm512_min_ps(a, b); }
static inline pw_vf pw_abs(pw_vf a) { return _mm512_abs_ps(a); }
/* nearest integer (ties to even), as a float */
static inline pw_vf pw_round(pw_vf a) {
  return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* y 2^n for integral n in [-126, 127] */
static inline pw_vf pw_ldexp(pw_vf y, pw_vf n) { return _mm512_scalef_ps(y, n); }
/* positive normal x = m 2^e, m in [1, 2): pw_exponent gives e, pw_mantissa m */
static inline pw_vf pw_exponent(pw_vf x) { return _mm512_getexp_ps(x); }
static inline pw_vf pw_mantissa(pw_vf x) {
  return _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
}
/* a < b (false if either is NaN); m ? a : b */
static inline pw_vm pw_lt(pw_vf a, pw_vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline pw_vf pw_select(pw_vm m, pw_vf a, pw_vf b) { return _mm512_mask_blend_ps(m, b, a); }
/* horizontal max; horizontal sum in double, lanes added in a fixed order */
static inline float pw_hmax(pw_vf a) { return _mm512_reduce_max_ps(a); }
static inline double pw_hsum_d(pw_vf a) {
  const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(a));
  const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
  return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}
/* a vector of double accumulators for float lanes (loss sums) */
typedef struct {
  __m512d lo, hi;
} pw_vd;
static inline pw_vd pw_dzero(void) {
  pw_vd r = {_mm512_setzero_pd(), _mm512_setzero_pd()};
  return r;
}
static inline pw_vd pw_dadd(pw_vd acc, pw_vf a) {
  acc.lo = _mm512_add_pd(acc.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(a)));
  acc.hi = _mm512_add_pd(
      acc.hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1))));
  return acc;
}
static inline double pw_dsum(pw_vd acc) { return _mm512_reduce_add_pd(_mm512_add_pd(acc.lo, acc.hi)); }
#endif
