/* prelu_ref.c: PReLU with one learned slope per channel, the fused masked
 * 1x1 conv + PReLU (forward and backward), and the k x k conv with residual
 * add + PReLU epilogue (forward), plain C.
 * Threads (OpenMP): the fused 1x1 forward and data gradient split the
 * pixels, its weight gradient the input channels (rows of dw); the bias and
 * slope gradients and prelu_bwd are one serial pass over the pixels. Every
 * output has one writer summing in a fixed order: the result does not
 * depend on the thread count. */
#include "pcnn_kernels.h"

void pcnn_prelu_fwd__ref(float *out, const float *x, const float *alpha, size_t p, int ch) {
  /* out, x (P, C); alpha (C) */
  for (size_t i = 0; i < p; i++)
    for (int c = 0; c < ch; c++) {
      const float v = x[i * ch + c];
      out[i * ch + c] = v > 0.f ? v : alpha[c] * v;
    }
}

void pcnn_prelu_bwd__ref(float *dx, float *dalpha, const float *dout, const float *x,
                         const float *alpha, size_t p, int ch) {
  /* dx (P, C) += dout * prelu'(x); dalpha (C) += sum dout * x * (x <= 0) */
  for (size_t i = 0; i < p; i++)
    for (int c = 0; c < ch; c++) {
      const float v = x[i * ch + c], g = dout[i * ch + c];
      if (v > 0.f) {
        dx[i * ch + c] += g;
      } else {
        dx[i * ch + c] += alpha[c] * g;
        dalpha[c] += g * v;
      }
    }
}

/* prelu'(pre) * dout, the gradient at the 1x1's output */
static inline float dpre_of(float g, float pre, float alpha) { return pre > 0.f ? g : alpha * g; }

void pcnn_conv1x1_prelu_fwd__ref(float *pre, float *out, const float *in, const float *w,
                                 const float *b, const float *alpha, const pcnn_conv_t *c) {
  /* pre, out (P, cout); in (P, cin); w [cin][cout]; b, alpha (cout) */
  const int cin = c->cin, cout = c->cout;
  const long p = (long)c->n * c->h * c->w;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < p; i++) {
    float *o = pre + i * cout;
    for (int co = 0; co < cout; co++) o[co] = b[co];
    for (int ci = 0; ci < cin; ci++) {
      const float v = in[i * cin + ci];
      for (int co = pcnn_mask_co_begin(c, 0, 0, ci); co < cout; co++) o[co] += v * w[(size_t)ci * cout + co];
    }
    for (int co = 0; co < cout; co++) out[i * cout + co] = o[co] > 0.f ? o[co] : alpha[co] * o[co];
  }
}

void pcnn_conv1x1_prelu_bwd_data__ref(float *din, const float *dout, const float *pre,
                                      const float *w, const float *alpha, const pcnn_conv_t *c) {
  /* din (P, cin) += w (dout * prelu'(pre)) */
  const int cin = c->cin, cout = c->cout;
  const long p = (long)c->n * c->h * c->w;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < p; i++)
    for (int ci = 0; ci < cin; ci++) {
      float s = 0.f;
      for (int co = pcnn_mask_co_begin(c, 0, 0, ci); co < cout; co++)
        s += w[(size_t)ci * cout + co] * dpre_of(dout[i * cout + co], pre[i * cout + co], alpha[co]);
      din[i * cin + ci] += s;
    }
}

void pcnn_conv1x1_prelu_bwd_weights__ref(float *dw, float *db, float *dalpha, const float *dout,
                                         const float *pre, const float *in, const float *alpha,
                                         const pcnn_conv_t *c) {
  /* dw [cin][cout] += in (x) dpre; db (cout) += sum dpre; dalpha (cout) += sum dout*pre*(pre<=0) */
  const int cin = c->cin, cout = c->cout;
  const size_t p = (size_t)c->n * c->h * c->w;
#pragma omp parallel for schedule(static)
  for (int ci = 0; ci < cin; ci++) {
    const int co0 = pcnn_mask_co_begin(c, 0, 0, ci);
    for (size_t i = 0; i < p; i++) {
      const float v = in[i * cin + ci];
      for (int co = co0; co < cout; co++)
        dw[(size_t)ci * cout + co] += v * dpre_of(dout[i * cout + co], pre[i * cout + co], alpha[co]);
    }
  }
  for (size_t i = 0; i < p; i++)
    for (int co = 0; co < cout; co++) {
      const float g = dout[i * cout + co], v = pre[i * cout + co];
      db[co] += dpre_of(g, v, alpha[co]);
      if (v <= 0.f) dalpha[co] += g * v;
    }
}

void pcnn_conv_prelu_fwd__ref(float *pre, float *out, const float *in, const float *w,
                              const float *b, const float *res, const float *alpha,
                              const pcnn_conv_t *c) {
  /* pre, out, res (P, cout); in (P, cin); w [k][k][cin][cout]; b, alpha (cout):
   * the conv, then (pre + res), then the PReLU, as three plain passes */
  const int cout = c->cout;
  const size_t p = (size_t)c->n * c->h * c->w;
  pcnn_conv_fwd__ref(pre, in, w, b, c);
  if (res)
    for (size_t i = 0; i < p * cout; i++) pre[i] += res[i];
  pcnn_prelu_fwd__ref(out, pre, alpha, p, cout);
}
