/* add_fwd_body.h: the body of pcnn_add_fwd__avx512 and __avx2, included by
 * kernels/add_fwd__avx512.c and __avx2.c after their pw_simd__<isa>.h, which
 * sets the vector width; PW_KERNEL(op) names the function for the ISA.
 * residual add out = a + b, PW_VL floats at a time, masked
 * tail; out may alias a or b (each vector is read before it is written).
 * Work split: the vectors, statically over threads above 65,536 floats; one
 * writer per element, no sums: the same bits at any thread count. */
#include "pcnn_kernels.h"
#include "pw_gemm.h"

void PW_KERNEL(add_fwd)(float *out, const float *a, const float *b, size_t n) {
  /* out, a, b (n) */
  const long nv = (long)(n / PW_VL);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (long i = 0; i < nv; i++) {
    const size_t o = (size_t)i * PW_VL;
    pw_store(out + o, pw_add(pw_load(a + o), pw_load(b + o)));
  }
  const size_t o = (size_t)nv * PW_VL;
  if (o < n) {
    const int left = (int)(n - o);
    pw_store_n(out + o, left, pw_add(pw_load_n(a + o, left), pw_load_n(b + o, left)));
  }
}
