/* pw_simd__avx2.h: the few AVX2 + FMA vector operations the pointwise kernels
 * (kernels/conv1x1_prelu_*__avx2.c) are written with; pw_gemm.h is the
 * ISA-neutral microkernel on top. Include only from *__avx2.c files. */
#ifndef PW_SIMD_H
#define PW_SIMD_H
#include <immintrin.h>

#define PW_VL 8 /* floats per vector */
#define PW_MR 6 /* rows (pixels or input channels) per register tile */
#define PW_NV 2 /* vectors per register tile: 6 x 2 = 12 of 16 ymm accumulate */

typedef __m256 pw_vf;
typedef __m256i pw_vm; /* lane i active if its sign bit is set (vmaskmovps) */

/* lanes [lo, hi) of a vector */
static inline pw_vm pw_mask_range(int lo, int hi) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i below_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), iota);
  const __m256i below_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(lo), iota);
  return _mm256_andnot_si256(below_lo, below_hi);
}
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
#endif
