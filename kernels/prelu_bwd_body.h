/* prelu_bwd_body.h: the body of pcnn_prelu_bwd__avx512 and __avx2, included by
 * kernels/prelu_bwd__avx512.c and __avx2.c after their pw_simd__<isa>.h, which
 * sets the vector width; PW_KERNEL(op) names the function for the ISA.
 * dx += dout (x > 0 ? 1 : alpha[c]); dalpha[c] += sum
 * over pixels of dout x (x <= 0).
 * Pixel-major, so every array streams once: threads take contiguous pixel
 * ranges (fixed by the thread count), each sums its slope partials in a row of
 * a stack array (pixel order within the range), and the rows are added to
 * dalpha in thread order afterwards: bitwise reproducible for a given thread
 * count. (Channel-vector-major with one running sum was latency-bound on the
 * sum and re-read every cache line once per channel vector.) */
#include <omp.h>

#include "pcnn_kernels.h"
#include "pw_gemm.h"

enum { MAX_PARTS = 16 };

void PW_KERNEL(prelu_bwd)(float *dx, float *dalpha, const float *dout, const float *x,
                            const float *alpha, size_t p, int ch) {
  /* dx, dout, x (P, C); dalpha, alpha (C) */
  int parts = p * (size_t)ch > 65536 ? omp_get_max_threads() : 1;
  if (parts > MAX_PARTS) parts = MAX_PARTS;
  if ((size_t)parts > p) parts = p > 0 ? (int)p : 1;
  const int cpad = (ch + PW_VL - 1) / PW_VL * PW_VL;
  float partial[parts * cpad]; /* <= 16 x 4096 floats for the model's sizes */
#pragma omp parallel for schedule(static, 1) num_threads(parts) if (parts > 1)
  for (int t = 0; t < parts; t++) {
    float *sa = partial + (size_t)t * cpad;
    for (int c = 0; c < cpad; c += PW_VL) pw_store(sa + c, pw_zero());
    const size_t i0 = p * (size_t)t / parts, i1 = p * (size_t)(t + 1) / parts;
    for (size_t i = i0; i < i1; i++) {
      const size_t o = i * (size_t)ch;
      for (int c = 0; c < ch; c += PW_VL) {
        const int left = ch - c;
        const pw_vf g = pw_load_n(dout + o + c, left), v = pw_load_n(x + o + c, left);
        const pw_vf a = pw_load_n(alpha + c, left);
        pw_store_n(dx + o + c, left, pw_add(pw_load_n(dx + o + c, left), pw_prelu_sel(v, g, a)));
        pw_store(sa + c, pw_add(pw_load(sa + c), pw_neg_part(v, g)));
      }
    }
  }
  for (int t = 0; t < parts; t++)
    for (int c = 0; c < ch; c += PW_VL) {
      const int left = ch - c;
      pw_store_n(dalpha + c, left, pw_add(pw_load_n(dalpha + c, left), pw_load_n(partial + (size_t)t * cpad + c, left)));
    }
}
