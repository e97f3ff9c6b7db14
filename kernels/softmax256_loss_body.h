/* softmax256_loss_body.h: the body of pcnn_softmax256_loss__avx512 and __avx2,
 * included by kernels/softmax256_loss__avx512.c and __avx2.c after their
 * pw_simd__<isa>.h; PW_KERNEL(op) names the function for the ISA.
 * One row of 256 logits per (pixel, channel), rows contiguous: per row the max,
 * e_j = e^(x_j - max) (<= 1, so large logits cannot overflow) stored in dx and
 * summed, lse = max + ln(sum) in double, then dx_j = e_j (scale / sum) and
 * dx[class] -= scale. Work split: LOSS_PARTS (PW_PAR_ITEMS, 64) fixed row
 * ranges, statically over threads above 256 rows; the NLL is summed in
 * double over each range in order and the ranges are added in order: dx has
 * one writer per element and the returned loss is bitwise the same for any
 * thread count. */
#include <math.h>

#include "pcnn_kernels.h"
#include "pw_math.h"

enum { LOSS_PARTS = PW_PAR_ITEMS };

/* class of a target in [0, 1]: round(t * 255), clamped (as the reference) */
static int class_of(float t) {
  long v = lrintf(t * 255.f);
  return v < 0 ? 0 : v > 255 ? 255 : (int)v;
}

double PW_KERNEL(softmax256_loss)(float *dx, const float *x, const float *t, size_t p, int ch,
                                  float scale) {
  /* dx, x (P, C*256); t (P, C) */
  const size_t rows = p * (size_t)ch;
  double part[LOSS_PARTS];
#pragma omp parallel for schedule(static) if (rows > 256)
  for (int b = 0; b < LOSS_PARTS; b++) {
    double nll = 0.0;
    const size_t r1 = rows * (b + 1) / LOSS_PARTS;
    for (size_t r = rows * b / LOSS_PARTS; r < r1; r++) {
      const float *l = x + r * 256;
      float *d = dx + r * 256;
      pw_vf m0 = pw_load(l), m1 = pw_load(l + PW_VL);
      for (int j = 2 * PW_VL; j < 256; j += 2 * PW_VL) {
        m0 = pw_max(m0, pw_load(l + j));
        m1 = pw_max(m1, pw_load(l + j + PW_VL));
      }
      const float mx = pw_hmax(pw_max(m0, m1));
      const pw_vf vmx = pw_set1(mx);
      pw_vf s0 = pw_zero(), s1 = pw_zero();
      for (int j = 0; j < 256; j += 2 * PW_VL) {
        const pw_vf e0 = pw_exp(pw_sub(pw_load(l + j), vmx));
        const pw_vf e1 = pw_exp(pw_sub(pw_load(l + j + PW_VL), vmx));
        pw_store(d + j, e0);
        pw_store(d + j + PW_VL, e1);
        s0 = pw_add(s0, e0);
        s1 = pw_add(s1, e1);
      }
      const double se = pw_hsum_d(pw_add(s0, s1)); /* >= 1: the max's term is 1 */
      const int k = class_of(t[r]);
      nll += ((double)mx + log(se)) - l[k];
      const pw_vf f = pw_set1((float)(scale / se));
      for (int j = 0; j < 256; j += PW_VL) pw_store(d + j, pw_mul(pw_load(d + j), f));
      d[k] -= scale;
    }
    part[b] = nll;
  }
  double nll = 0.0;
  for (int b = 0; b < LOSS_PARTS; b++) nll += part[b];
  return nll;
}
