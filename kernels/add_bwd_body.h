/* add_bwd_body.h: the body of pcnn_add_bwd__avx512 and __avx2, included by
 * kernels/add_bwd__avx512.c and __avx2.c after their pw_simd__<isa>.h, which
 * sets the vector width; PW_KERNEL(op) names the function for the ISA.
 * da += dout, db += dout, PW_VL floats at a time, masked tail.
 * Work split: the vectors, statically over threads above 65,536 floats; one
 * writer per element, no sums: the same bits at any thread count. */
#include "pcnn_kernels.h"
#include "pw_gemm.h"

void PW_KERNEL(add_bwd)(float *da, float *db, const float *dout, size_t n) {
  /* da, db, dout (n) */
  const long nv = (long)(n / PW_VL);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (long i = 0; i < nv; i++) {
    const size_t o = (size_t)i * PW_VL;
    const pw_vf g = pw_load(dout + o);
    pw_store(da + o, pw_add(pw_load(da + o), g));
    pw_store(db + o, pw_add(pw_load(db + o), g));
  }
  const size_t o = (size_t)nv * PW_VL;
  if (o < n) {
    const int left = (int)(n - o);
    const pw_vf g = pw_load_n(dout + o, left);
    pw_store_n(da + o, left, pw_add(pw_load_n(da + o, left), g));
    pw_store_n(db + o, left, pw_add(pw_load_n(db + o, left), g));
  }
}
