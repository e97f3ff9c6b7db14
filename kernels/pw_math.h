/* pw_math.h: e^x and ln x on the pw_simd__<isa>.h vector ops (include one of
 * those first), for the loss heads. Cephes-style (expf.c, logf.c): range
 * reduction with ln 2 split in two, then the Cephes minimax polynomial, all
 * in float with FMA; about 1 to 2 ulp. No fast-math: NaN stays NaN. */
#ifndef PW_MATH_H
#define PW_MATH_H
#include <math.h>

/* e^x, x = n ln2 + r with n = round(x / ln2), |r| <= ln2 / 2:
 * e^x = 2^n (1 + r + r^2 P(r)). Within about 2 ulp on [-87.33, 88.37]; below
 * -87.33 (where e^x leaves the normal range) 0, above 88.37 (e^x > 2.5e38) +inf. */
static inline pw_vf pw_exp(pw_vf x) {
  const pw_vf lo = pw_set1(-87.3365478515625f), hi = pw_set1(88.3762626647949f);
  const pw_vf xc = pw_min(hi, pw_max(lo, x)); /* a NaN x passes through */
  const pw_vf n = pw_round(pw_mul(xc, pw_set1(1.44269504088896341f)));
  pw_vf r = pw_fma(n, pw_set1(-0.693359375f), xc); /* exact: 0.693359375 has 10 bits */
  r = pw_fma(n, pw_set1(2.12194440e-4f), r);       /* ln2 = 0.693359375 - 2.12194440e-4 */
  pw_vf p = pw_set1(1.9875691500e-4f);
  p = pw_fma(p, r, pw_set1(1.3981999507e-3f));
  p = pw_fma(p, r, pw_set1(8.3334519073e-3f));
  p = pw_fma(p, r, pw_set1(4.1665795894e-2f));
  p = pw_fma(p, r, pw_set1(1.6666665459e-1f));
  p = pw_fma(p, r, pw_set1(5.0000001201e-1f));
  p = pw_add(pw_fma(p, pw_mul(r, r), r), pw_set1(1.f));
  const pw_vf y = pw_select(pw_lt(x, lo), pw_zero(), pw_ldexp(p, n));
  return pw_select(pw_lt(hi, x), pw_set1(INFINITY), y);
}

/* ln x for positive normal x: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * z = m - 1 (exact), ln x = e ln2 + z - z^2 / 2 + z^3 P(z). About 1 ulp. */
static inline pw_vf pw_log(pw_vf x) {
  pw_vf e = pw_exponent(x), m = pw_mantissa(x); /* m in [1, 2) */
  const pw_vm big = pw_lt(pw_set1(1.41421356237f), m);
  m = pw_select(big, pw_mul(m, pw_set1(0.5f)), m);
  e = pw_select(big, pw_add(e, pw_set1(1.f)), e);
  const pw_vf z = pw_sub(m, pw_set1(1.f)), z2 = pw_mul(z, z);
  pw_vf p = pw_set1(7.0376836292e-2f);
  p = pw_fma(p, z, pw_set1(-1.1514610310e-1f));
  p = pw_fma(p, z, pw_set1(1.1676998740e-1f));
  p = pw_fma(p, z, pw_set1(-1.2420140846e-1f));
  p = pw_fma(p, z, pw_set1(1.4249322787e-1f));
  p = pw_fma(p, z, pw_set1(-1.6668057665e-1f));
  p = pw_fma(p, z, pw_set1(2.0000714765e-1f));
  p = pw_fma(p, z, pw_set1(-2.4999993993e-1f));
  p = pw_fma(p, z, pw_set1(3.3333331174e-1f));
  pw_vf y = pw_mul(pw_mul(p, z), z2);
  y = pw_fma(e, pw_set1(-2.12194440e-4f), y);
  y = pw_fma(z2, pw_set1(-0.5f), y);
  return pw_fma(e, pw_set1(0.693359375f), pw_add(z, y));
}
#endif
