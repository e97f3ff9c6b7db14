/* pw_simd__avx2.h: the AVX2 + FMA vector layer, the same names as
 * pw_simd__avx512.h (see there) on 8-float vectors. Include only from
 * *__avx2.c files. */
#ifndef PW_SIMD_H
#define PW_SIMD_H
#include <immintrin.h>

#define PW_VL 8 /* floats per vector */
#define PW_MR 6 /* rows (pixels or input channels) per register tile */
#define PW_NV 2 /* vectors per register tile: 6 x 2 = 12 of 16 ymm accumulate */
#include "pw_simd.h"

typedef __m256 pw_vf;
typedef __m256i pw_vm; /* lane i active if its sign bit is set (vmaskmovps) */

/* lanes [lo, hi) of a vector */
static inline pw_vm pw_mask_range(int lo, int hi) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i below_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), iota);
  const __m256i below_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(lo), iota);
  return _mm256_andnot_si256(below_lo, below_hi);
}
/* the mask of the lanes whose bits are set (pw_lane_bits): lane bit l set ->
 * lane l all ones */
static inline pw_vm pw_mask_bits(unsigned b) {
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)b), sel), sel);
}
static inline pw_vm pw_mask_and(pw_vm a, pw_vm b) { return _mm256_and_si256(a, b); }
/* 1 if every lane is active */
static inline int pw_mask_full(pw_vm m) { return _mm256_movemask_ps(_mm256_castsi256_ps(m)) == 0xff; }
static inline pw_vf pw_zero(void) { return _mm256_setzero_ps(); }
static inline pw_vf pw_load(const float *p) { return _mm256_loadu_ps(p); }
static inline pw_vf pw_loadm(pw_vm m, const float *p) { return _mm256_maskload_ps(p, m); }
static inline void pw_store(float *p, pw_vf v) { _mm256_storeu_ps(p, v); }
static inline void pw_storem(float *p, pw_vm m, pw_vf v) { _mm256_maskstore_ps(p, m, v); }
/* non-temporal store (p aligned to a vector), and the fence that orders them */
static inline void pw_stream(float *p, pw_vf v) { _mm256_stream_ps(p, v); }
static inline void pw_fence(void) { _mm_sfence(); }
static inline pw_vf pw_bcast(const float *p) { return _mm256_broadcast_ss(p); }
static inline pw_vf pw_fma(pw_vf a, pw_vf b, pw_vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline pw_vf pw_add(pw_vf a, pw_vf b) { return _mm256_add_ps(a, b); }
static inline pw_vf pw_set1(float x) { return _mm256_set1_ps(x); }
static inline pw_vf pw_sub(pw_vf a, pw_vf b) { return _mm256_sub_ps(a, b); }
static inline pw_vf pw_div(pw_vf a, pw_vf b) { return _mm256_div_ps(a, b); }
static inline pw_vf pw_sqrt(pw_vf a) { return _mm256_sqrt_ps(a); }
static inline pw_vf pw_mul(pw_vf a, pw_vf b) { return _mm256_mul_ps(a, b); }
/* x > 0 ? y : alpha * y */
static inline pw_vf pw_prelu_sel(pw_vf x, pw_vf y, pw_vf alpha) {
  const __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ);
  return _mm256_blendv_ps(_mm256_mul_ps(alpha, y), y, pos);
}
/* x <= 0 ? g * x : 0 */
static inline pw_vf pw_neg_part(pw_vf x, pw_vf g) {
  const __m256 le = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LE_OQ);
  return _mm256_and_ps(le, _mm256_mul_ps(g, x));
}

/* ---- for the loss heads (kernels/pw_math.h builds exp and log on these) ---- */
/* max / min; if either is NaN, b (so pw_max(lo, x) keeps a NaN x) */
static inline pw_vf pw_max(pw_vf a, pw_vf b) { return _mm256_max_ps(a, b); }
static inline pw_vf pw_min(pw_vf a, pw_vf b) { return _mm256_min_ps(a, b); }
static inline pw_vf pw_abs(pw_vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
/* nearest integer (ties to even), as a float */
static inline pw_vf pw_round(pw_vf a) {
  return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* y 2^n for integral n in [-126, 127]: 2^n built in the exponent field */
static inline pw_vf pw_ldexp(pw_vf y, pw_vf n) {
  const __m256i b = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  return _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(b, 23)));
}
/* positive normal x = m 2^e, m in [1, 2): pw_exponent gives e, pw_mantissa m */
static inline pw_vf pw_exponent(pw_vf x) {
  const __m256i b = _mm256_srli_epi32(_mm256_castps_si256(x), 23);
  return _mm256_cvtepi32_ps(_mm256_sub_epi32(b, _mm256_set1_epi32(127)));
}
static inline pw_vf pw_mantissa(pw_vf x) {
  const __m256i b = _mm256_and_si256(_mm256_castps_si256(x), _mm256_set1_epi32(0x007fffff));
  return _mm256_castsi256_ps(_mm256_or_si256(b, _mm256_set1_epi32(0x3f800000)));
}
/* a < b (false if either is NaN); m ? a : b */
static inline pw_vm pw_lt(pw_vf a, pw_vf b) {
  return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
static inline pw_vf pw_select(pw_vm m, pw_vf a, pw_vf b) {
  return _mm256_blendv_ps(b, a, _mm256_castsi256_ps(m));
}
/* horizontal max; horizontal sum in double, lanes added in a fixed order */
static inline float pw_hmax(pw_vf a) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
static inline double pw_hsum4_d(__m256d s) {
  __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
static inline double pw_hsum_d(pw_vf a) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(a));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1));
  return pw_hsum4_d(_mm256_add_pd(lo, hi));
}
/* a vector of double accumulators for float lanes (loss sums) */
typedef struct {
  __m256d lo, hi;
} pw_vd;
static inline pw_vd pw_dzero(void) {
  pw_vd r = {_mm256_setzero_pd(), _mm256_setzero_pd()};
  return r;
}
static inline pw_vd pw_dadd(pw_vd acc, pw_vf a) {
  acc.lo = _mm256_add_pd(acc.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(a)));
  acc.hi = _mm256_add_pd(acc.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)));
  return acc;
}
static inline double pw_dsum(pw_vd acc) { return pw_hsum4_d(_mm256_add_pd(acc.lo, acc.hi)); }
#endif
