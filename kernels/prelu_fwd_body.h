/* prelu_fwd_body.h: the body of pcnn_prelu_fwd__avx512 and __avx2, included by
 * kernels/prelu_fwd__avx512.c and __avx2.c after their pw_simd__<isa>.h, which
 * sets the vector width; PW_KERNEL(op) names the function for the ISA.
 * out = x > 0 ? x : alpha[c] x over (P, C), each pixel's
 * channels PW_VL at a time with a masked tail.
 * Work split: the pixels, statically over threads above 65,536 elements;
 * one writer per element: the same bits at any thread count. */
#include "pcnn_kernels.h"
#include "pw_gemm.h"

void PW_KERNEL(prelu_fwd)(float *out, const float *x, const float *alpha, size_t p, int ch) {
  /* out, x (P, C); alpha (C) */
#pragma omp parallel for schedule(static) if (p * (size_t)ch > 65536)
  for (long i = 0; i < (long)p; i++) {
    const float *xi = x + (size_t)i * ch;
    float *oi = out + (size_t)i * ch;
    for (int c = 0; c < ch; c += PW_VL) {
      const pw_vf v = pw_load_n(xi + c, ch - c);
      pw_store_n(oi + c, ch - c, pw_prelu_sel(v, v, pw_load_n(alpha + c, ch - c)));
    }
  }
}
