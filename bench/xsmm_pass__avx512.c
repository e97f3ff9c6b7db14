/* xsmm_pass__avx512.c: see xsmm_pass.h. Plain loops; `omp simd` asks for
 * vectorisation over channels with this file's AVX-512 flags. */
#include <stddef.h>

#include "xsmm_pass.h"

void xp_bias__avx512(float *out, const float *b, int np, int c) {
  for (int p = 0; p < np; p++) {
    float *o = out + (size_t)p * c;
#pragma omp simd
    for (int j = 0; j < c; j++) o[j] += b[j];
  }
}

void xp_bias_prelu__avx512(float *pre, float *out, const float *b, const float *a, int np, int c) {
  for (int p = 0; p < np; p++) {
    float *q = pre + (size_t)p * c, *o = out + (size_t)p * c;
#pragma omp simd
    for (int j = 0; j < c; j++) {
      const float v = q[j] + b[j];
      q[j] = v;
      o[j] = v > 0.f ? v : a[j] * v;
    }
  }
}

void xp_dprelu__avx512(float *dpre, float *dalpha, const float *dout, const float *pre,
                       const float *a, int np, int c) {
  for (int p = 0; p < np; p++) {
    const float *g = dout + (size_t)p * c, *q = pre + (size_t)p * c;
    float *d = dpre + (size_t)p * c;
#pragma omp simd
    for (int j = 0; j < c; j++) d[j] = q[j] > 0.f ? g[j] : a[j] * g[j];
    if (dalpha) {
#pragma omp simd
      for (int j = 0; j < c; j++) dalpha[j] += q[j] > 0.f ? 0.f : g[j] * q[j];
    }
  }
}

void xp_colsum__avx512(float *db, const float *x, int np, int c) {
  for (int p = 0; p < np; p++) {
    const float *r = x + (size_t)p * c;
#pragma omp simd
    for (int j = 0; j < c; j++) db[j] += r[j];
  }
}

void xp_transpose__avx512(float *dst, const float *src, int np, int c) {
  for (int j = 0; j < c; j++)
    for (int p = 0; p < np; p++) dst[(size_t)j * np + p] = src[(size_t)p * c + j];
}
