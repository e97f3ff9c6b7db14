/* pw_bf16.h: the bf16 layer of the avx512bf16 pointwise kernels (the fused
 * masked 1x1 conv + PReLU and gemm_acc, *__avx512bf16.c), on top of
 * pw_simd__avx512.h and pw_gemm.h. Include only from *__avx512bf16.c files.
 *
 * VDPBF16PS (_mm512_dpbf16_ps) adds to each fp32 lane i the two products
 * a[2i] b[2i] + a[2i+1] b[2i+1] of bf16 words: the reduction dimension comes
 * in adjacent pairs in both operands. A "pair word" is 32 bits holding the
 * bf16 of two consecutive elements of the reduction (low half the first),
 * so a 32-bit broadcast gives one pair and a vector holds 16 pairs.
 * Layouts built here:
 *   natural rows: a float row x[0..n) as bf16 x[0], x[1], ...: word i is the
 *     pair (x[2i], x[2i+1]) (the reduction runs along the row);
 *   interleaved rows: two float rows r0, r1 (the reduction runs across rows)
 *     as words (r0[j], r1[j]), j = 0, 1, ...
 * Rounding: VCVTNE2PS2BF16 rounds to nearest even, makes subnormals zeros of
 * their sign and keeps NaN quiet, as pcnn_f32_to_bf16 (pcnn_bf16.h) does:
 * checked bit for bit on 6.4e8 random floats (a fifth subnormal, inf/NaN or
 * ties) on the AMD EPYC (Zen 4). VDPBF16PS adds the products (exact in fp32)
 * to the accumulator in fp32 with round to nearest even; it flushes a
 * subnormal result to zero (differences below 1.2e-38). */
#ifndef PW_BF16_H
#define PW_BF16_H
#include <stdint.h>

#include "pw_gemm.h"

typedef __m512i pw_vb; /* 32 bf16 words: 16 pair words */

/* 16 pair words (a[j], b[j]) from two float vectors */
static inline pw_vb pw_bf_zip(__m512 a, __m512 b) {
  /* words 0..15: bf16(a), 16..31: bf16(b); then word 2j <- j, 2j+1 <- 16+j */
  const __m512i t = (__m512i)_mm512_cvtne2ps_pbh(b, a);
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                       23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(idx, t);
}

/* 16 pair words (r0[j], r1[j]) from the lanes m0 of float row r0 and m1 of
 * r1 (other lanes are zeros and are not read; r1 == NULL: a zero row) */
static inline pw_vb pw_bf_interleave(const float *r0, pw_vm m0, const float *r1, pw_vm m1) {
  return pw_bf_zip(_mm512_maskz_loadu_ps(m0, r0), r1 ? _mm512_maskz_loadu_ps(m1, r1) : _mm512_setzero_ps());
}

/* x rounded to bf16, as floats (VCVTNEPS2BF16, then the 16 bits back to
 * the top of each lane): a bf16 operand for an fp32 FMA, whose product with
 * another such operand is exact */
static inline __m512 pw_bf_round(__m512 x) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x)), 16));
}

/* 32 bf16 words from the float lanes [0, n) of x (n <= 32; zeros beyond) */
static inline pw_vb pw_bf_row32(const float *x, int n) {
  const __m512 lo = _mm512_maskz_loadu_ps(pw_mask_range(0, n), x);
  const __m512 hi = _mm512_maskz_loadu_ps(pw_mask_range(0, n - 16), x + 16);
  return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}
/* the same from two float vectors */
static inline pw_vb pw_bf_pack2(__m512 lo, __m512 hi) { return (__m512i)_mm512_cvtne2ps_pbh(hi, lo); }

/* x[0..n) as bf16 words at dst[0..np), zeros in [n, np); np a multiple of 32 */
static inline void pw_bf_row(uint16_t *dst, const float *x, int n, int np) {
  for (int i = 0; i < np; i += 32) _mm512_storeu_si512(dst + i, pw_bf_row32(x + i, n - i));
}

/* acc[r][v] += sum_{q < kn} dot2(pair word a[r*ar + q*ak], pair words
 * b[q*ldb + 16 v ..]) for v in [v0, v1); a, b in 32-bit words: a row of b is
 * loaded once per q and reused by the mr rows (a broadcast) */
static PW_INLINE void pw_bf_mac(__m512 acc[PW_MR][PW_NV], const int mr, const int v0, const int v1,
                                const uint32_t *a, ptrdiff_t ar, ptrdiff_t ak, const uint32_t *b,
                                ptrdiff_t ldb, int kn) {
  for (int q = 0; q < kn; q++) {
    __m512bh bv[PW_NV];
#pragma GCC unroll 8
    for (int v = v0; v < v1; v++) bv[v] = (__m512bh)_mm512_loadu_si512(b + v * 16);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r * ar]);
#pragma GCC unroll 8
      for (int v = v0; v < v1; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
    }
    a += ak;
    b += ldb;
  }
}

/* pw_bf_mac over vectors [v0, nv) */
static PW_INLINE void pw_bf_mac_from(__m512 acc[PW_MR][PW_NV], const int mr, const int nv, int v0,
                                     const uint32_t *a, ptrdiff_t ar, ptrdiff_t ak,
                                     const uint32_t *b, ptrdiff_t ldb, int kn) {
  switch (v0) {
    case 0: pw_bf_mac(acc, mr, 0, nv, a, ar, ak, b, ldb, kn); break;
    case 1: pw_bf_mac(acc, mr, 1, nv, a, ar, ak, b, ldb, kn); break;
    case 2: pw_bf_mac(acc, mr, 2, nv, a, ar, ak, b, ldb, kn); break;
    case 3: pw_bf_mac(acc, mr, 3, nv, a, ar, ak, b, ldb, kn); break;
    default: break;
  }
}

/* pw_bf_mac over vectors [0, min(v1, nv)) */
static PW_INLINE void pw_bf_mac_to(__m512 acc[PW_MR][PW_NV], const int mr, const int nv, int v1,
                                   const uint32_t *a, ptrdiff_t ar, ptrdiff_t ak, const uint32_t *b,
                                   ptrdiff_t ldb, int kn) {
  if (v1 >= nv) {
    pw_bf_mac(acc, mr, 0, nv, a, ar, ak, b, ldb, kn);
    return;
  }
  switch (v1) {
    case 1: pw_bf_mac(acc, mr, 0, 1, a, ar, ak, b, ldb, kn); break;
    case 2: pw_bf_mac(acc, mr, 0, 2, a, ar, ak, b, ldb, kn); break;
    case 3: pw_bf_mac(acc, mr, 0, 3, a, ar, ak, b, ldb, kn); break;
    default: break;
  }
}

/* Pair segments of a reduction over channel pairs: pairs [q0, q1) all reach
 * the same output range (lim: the first kept output channel for the forward
 * and the weight gradient, the end of the reached input channels for the
 * data gradient). At most 3 colour groups give at most 5 runs. */
typedef struct {
  int q0, q1, lim;
} pw_pseg_t;

/* pair q with limit lim appended to the runs s[0..n): extends the last run
 * if it ends at q with the same limit; returns the new count */
static inline int pw_bf_pseg_add(pw_pseg_t *s, int n, int q, int lim) {
  if (n && s[n - 1].lim == lim && s[n - 1].q1 == q) {
    s[n - 1].q1 = q + 1;
    return n;
  }
  s[n] = (pw_pseg_t){q, q + 1, lim};
  return n + 1;
}
/* most runs: 3 colour groups, a pair across each of the 2 boundaries */
#define PW_PSEG_MAX 5

/* the runs of input channel pairs of a masked 1x1 for the forward and the
 * weight gradient: lim = first output channel either channel of the pair
 * reaches; pairs reaching none are left out */
static inline int pw_bf_psegs_in(pw_pseg_t s[PW_PSEG_MAX], const pw_seg_t *seg, int nseg, int cin,
                                 int cout) {
  int n = 0;
  for (int q = 0; 2 * q < cin; q++) {
    const int a = pw_co_begin(seg, nseg, 2 * q, cout);
    const int b = 2 * q + 1 < cin ? pw_co_begin(seg, nseg, 2 * q + 1, cout) : cout;
    const int lim = a < b ? a : b;
    if (lim < cout) n = pw_bf_pseg_add(s, n, q, lim);
  }
  return n;
}

/* the runs of output channel pairs for the data gradient: lim = end of the
 * input channels [0, lim) either channel of the pair reaches; pairs
 * reaching none are left out */
static inline int pw_bf_psegs_out(pw_pseg_t s[PW_PSEG_MAX], const pw_seg_t *seg, int nseg, int cout) {
  int n = 0;
  for (int q = 0; 2 * q < cout; q++) {
    const int a = pw_ci_end(seg, nseg, 2 * q);
    const int b = 2 * q + 1 < cout ? pw_ci_end(seg, nseg, 2 * q + 1) : 0;
    const int lim = a > b ? a : b;
    if (lim > 0) n = pw_bf_pseg_add(s, n, q, lim);
  }
  return n;
}
#endif
