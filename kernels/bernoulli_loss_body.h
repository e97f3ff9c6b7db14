/* bernoulli_loss_body.h: the body of pcnn_bernoulli_loss__avx512 and __avx2,
 * included by kernels/bernoulli_loss__avx512.c and __avx2.c after their
 * pw_simd__<isa>.h; PW_KERNEL(op) names the function for the ISA.
 * Flat over the P*C logits, PW_VL at a time with a masked tail. With
 * e = e^-|x| in (0, 1] (no overflow for any x):
 *   loss = max(x, 0) - t x + log1p(e),  sigmoid(x) = (x < 0 ? e : 1) / (1 + e),
 *   dx = scale (sigmoid(x) - t).
 * Work split: LOSS_PARTS (PW_PAR_ITEMS, 64) fixed ranges of vectors,
 * statically over threads above 65,536 logits (the seed model's 25,088 at
 * batch 32 run on one thread); each sums its losses in double in order,
 * and the ranges are added in order: dx has one writer per element and the
 * returned loss is bitwise the same for any thread count. */
#include "pcnn_kernels.h"
#include "pw_gemm.h"
#include "pw_math.h"

enum { LOSS_PARTS = PW_PAR_ITEMS };

double PW_KERNEL(bernoulli_loss)(float *dx, const float *x, const float *t, size_t p, int ch,
                                 float scale) {
  /* dx, x, t (P, C) */
  const size_t n = p * (size_t)ch, nv = (n + PW_VL - 1) / PW_VL;
  double part[LOSS_PARTS];
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int b = 0; b < LOSS_PARTS; b++) {
    const pw_vf one = pw_set1(1.f), zero = pw_zero(), vs = pw_set1(scale);
    pw_vd acc = pw_dzero();
    const size_t v1 = nv * (b + 1) / LOSS_PARTS;
    for (size_t v = nv * b / LOSS_PARTS; v < v1; v++) {
      const size_t i = v * PW_VL;
      const int left = n - i < PW_VL ? (int)(n - i) : PW_VL;
      const pw_vf xv = pw_load_n(x + i, left), tv = pw_load_n(t + i, left);
      const pw_vf e = pw_exp(pw_sub(zero, pw_abs(xv)));
      const pw_vf u = pw_add(one, e), r = pw_div(one, u);
      /* log1p(e) = ln(u) + (e - (u - 1)) / u: the second term restores the
       * low bits of e that rounding u = 1 + e lost */
      const pw_vf l1p = pw_fma(pw_sub(e, pw_sub(u, one)), r, pw_log(u));
      /* max(x, 0) - t x with one rounding (FMA), >= 0 for t in [0, 1] */
      pw_vf loss = pw_add(pw_fma(pw_sub(zero, tv), xv, pw_max(xv, zero)), l1p);
      const pw_vf s = pw_mul(pw_select(pw_lt(xv, zero), e, one), r);
      pw_store_n(dx + i, left, pw_mul(vs, pw_sub(s, tv)));
      if (left < PW_VL) loss = pw_select(pw_mask_range(0, left), loss, zero);
      acc = pw_dadd(acc, loss);
    }
    part[b] = pw_dsum(acc);
  }
  double nll = 0.0;
  for (int b = 0; b < LOSS_PARTS; b++) nll += part[b];
  return nll;
}
