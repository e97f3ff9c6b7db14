/* nadam_update_body.h: the body of pcnn_nadam_update__avx512 and __avx2, included by
 * kernels/nadam_update__avx512.c and __avx2.c after their pw_simd__<isa>.h, which
 * sets the vector width; PW_KERNEL(op) names the function for the ISA.
 * the Nadam step, PW_VL parameters at a time, masked
 * tail. The same float operations in the same order as the reference (no
 * FMA contraction, IEEE sqrt and divide), so results match it bitwise.
 * Work split: the vectors, statically over threads above 65,536 parameters;
 * one writer per element, no sums: the same bits at any thread count. */
#include "pcnn_kernels.h"
#include "pw_gemm.h"

static inline void step(float *param, float *m, float *v, const float *grad, int left,
                        const pcnn_nadam_coef_t *k) {
  const pw_vf g = pw_load_n(grad, left);
  const pw_vf mm = pw_add(pw_mul(pw_set1(k->beta1), pw_load_n(m, left)),
                          pw_mul(pw_set1(k->omb1), g));
  const pw_vf vv = pw_add(pw_mul(pw_set1(k->beta2), pw_load_n(v, left)),
                          pw_mul(pw_mul(pw_set1(k->omb2), g), g));
  const pw_vf d = pw_add(pw_sqrt(pw_div(vv, pw_set1(k->bc2))), pw_set1(k->eps));
  const pw_vf up = pw_add(pw_div(pw_mul(pw_set1(k->c_grad), g), d),
                          pw_div(pw_mul(pw_set1(k->c_mom), mm), d));
  pw_store_n(m, left, mm);
  pw_store_n(v, left, vv);
  pw_store_n(param, left, pw_add(pw_load_n(param, left), up));
}

void PW_KERNEL(nadam_update)(float *param, float *m, float *v, const float *grad, size_t n,
                               const pcnn_nadam_coef_t *k) {
  /* param, m, v, grad (n) */
  const long nv = (long)(n / PW_VL);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (long i = 0; i < nv; i++) {
    const size_t o = (size_t)i * PW_VL;
    step(param + o, m + o, v + o, grad + o, PW_VL, k);
  }
  const size_t o = (size_t)nv * PW_VL;
  if (o < n) step(param + o, m + o, v + o, grad + o, (int)(n - o), k);
}
