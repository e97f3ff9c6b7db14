/* pw_simd.h: the ISA-neutral part of the vector layer, included by
 * pw_simd__avx512.h and pw_simd__avx2.h once they have set PW_VL (do not
 * include it directly). Those two headers are the one vector layer of every
 * SIMD kernel file (*__avx2.c, *__avx512.c: the masked k x k convs, the fused
 * 1x1 + PReLU kernels, gemm_acc, the element-wise ops, losses and Nadam);
 * the pw_ prefix dates from when only the pointwise kernels used them. */
#ifndef PW_SIMD_NEUTRAL_H
#define PW_SIMD_NEUTRAL_H

/* for register-tile functions whose tile sizes must be literals after
 * inlining (the accumulators then live in registers) */
#define PW_INLINE inline __attribute__((always_inline))

/* Every reduction over pixels (the weight, bias and slope gradients, the
 * losses) splits its work into fixed items, a function of the shape and the
 * ISA only, never of the thread count: at least PW_PAR_ITEMS of them where
 * the shape has the work (enough for 64 cores). Each item sums its own pixels
 * in order into its own partial (or owns its outputs), and partials are added
 * in item order, so the result is bitwise the same at any thread count. */
#define PW_PAR_ITEMS 64

/* bits l of the lanes lo <= l < hi, lo and hi clamped to [0, PW_VL], as a
 * plain integer: scalar code can compute lane masks once and keep them
 * (pw_mask_bits turns them into a vector mask) */
static inline unsigned pw_lane_bits(int lo, int hi) {
  lo = lo < 0 ? 0 : lo > PW_VL ? PW_VL : lo;
  hi = hi < 0 ? 0 : hi > PW_VL ? PW_VL : hi;
  return ((1u << hi) - 1u) & ~((1u << lo) - 1u); /* 0 if hi <= lo */
}
#endif
