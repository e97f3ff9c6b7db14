/* prelu_bwd_body.h: the body of pcnn_prelu_bwd__avx512 and __avx2, included by
 * kernels/prelu_bwd__avx512.c and __avx2.c after their pw_simd__<isa>.h, which
 * sets the vector width; PW_KERNEL(op) names the function for the ISA.
 * dx += dout (x > 0 ? 1 : alpha[c]); dalpha[c] += sum
 * over pixels of dout x (x <= 0).
 * Pixel-major, so every array streams once. Work split: PARTS (PW_PAR_ITEMS,
 * 64) fixed, contiguous pixel ranges, whatever the size and the thread count
 * (threads take them statically, and only above 65,536 elements); each range
 * sums its slope partials in pixel order into its own row of the calling
 * thread's grow-once scratch (kernel_scratch.h), and the rows are added to
 * dalpha in range order afterwards: bitwise the same at any thread count. dx
 * has one writer per element. Without the scratch, the reference. (The
 * ranges were per thread, so the slope gradient changed with the thread
 * count. Channel-vector-major with one running sum was latency-bound on the
 * sum and re-read every cache line once per channel vector.) */
#include "kernel_scratch.h"
#include "pcnn_kernels.h"
#include "pw_gemm.h"

enum { PARTS = PW_PAR_ITEMS };

void PW_KERNEL(prelu_bwd)(float *dx, float *dalpha, const float *dout, const float *x,
                            const float *alpha, size_t p, int ch) {
  /* dx, dout, x (P, C); dalpha, alpha (C) */
  const int cpad = (ch + PW_VL - 1) / PW_VL * PW_VL;
  float *const partial = pcnn_scratch((size_t)PARTS * cpad); /* [PARTS][cpad] */
  if (!partial) {
    pcnn_prelu_bwd__ref(dx, dalpha, dout, x, alpha, p, ch);
    return;
  }
#pragma omp parallel for schedule(static) if (p * (size_t)ch > 65536)
  for (int t = 0; t < PARTS; t++) {
    float *sa = partial + (size_t)t * cpad;
    for (int c = 0; c < cpad; c += PW_VL) pw_store(sa + c, pw_zero());
    const size_t i0 = p * (size_t)t / PARTS, i1 = p * (size_t)(t + 1) / PARTS;
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
  pw_add_partials(dalpha, partial, cpad, PARTS, 1, ch, 0);
}
