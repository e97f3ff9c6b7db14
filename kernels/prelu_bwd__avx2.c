/* prelu_bwd__avx2.c: the AVX2 twin of prelu_bwd__avx512.c (same code on pw_simd__avx2.h).
 * dx += dout (x > 0 ? 1 : alpha[c]); dalpha[c] += sum
 * over pixels of dout x (x <= 0). One vector of channels (masked on the tail)
 * at a time down all pixels, its slope sum in a register; threads split the
 * channel vectors, so each sum runs in pixel order whatever the thread count. */
#include "pcnn_kernels.h"
#include "pw_simd__avx2.h"
#include "pw_gemm.h"

void pcnn_prelu_bwd__avx2(float *dx, float *dalpha, const float *dout, const float *x,
                            const float *alpha, size_t p, int ch) {
  /* dx, dout, x (P, C); dalpha, alpha (C) */
  const int nvec = (ch + PW_VL - 1) / PW_VL;
#pragma omp parallel for schedule(static) if (p * (size_t)ch > 65536)
  for (int cv = 0; cv < nvec; cv++) {
    const int c = cv * PW_VL, left = ch - c;
    const pw_vf a = pw_load_n(alpha + c, left);
    pw_vf sa = pw_zero();
    for (size_t i = 0; i < p; i++) {
      const size_t o = i * (size_t)ch + c;
      const pw_vf g = pw_load_n(dout + o, left), v = pw_load_n(x + o, left);
      pw_store_n(dx + o, left, pw_add(pw_load_n(dx + o, left), pw_prelu_sel(v, g, a)));
      sa = pw_add(sa, pw_neg_part(v, g));
    }
    pw_store_n(dalpha + c, left, pw_add(pw_load_n(dalpha + c, left), sa));
  }
}
