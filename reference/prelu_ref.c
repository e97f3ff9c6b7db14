/* prelu_ref.c: PReLU with one learned slope per channel, the fused masked
 * 1x1 conv + PReLU (forward and backward), and the k x k conv with residual
 * add + PReLU epilogue (forward), plain C.
 * Threads (OpenMP): the fused 1x1 forward and data gradient split the
 * pixels, its weight gradient the input channels (rows of dw); the bias and
 * slope gradients and prelu_bwd are one serial pass over the pixels. Every
 * output has one writer summing in a fixed order: the result does not
 * depend on the thread count. */
#include "pcnn_bf16.h"
#include "pcnn_kernels.h"

/* bf: 1 for the bf16 precision (the __ref_bf16 twins): both operands of
 * every product of the conv rounded to bf16 (pcnn_bf16.h); the PReLU, its
 * derivative dpre, the bias and slope gradients in FP32 */
#define BF(x) (bf ? pcnn_bf16_round(x) : (x))

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

static void conv1x1_prelu_fwd(const int bf, float *pre, float *out, const float *in, const float *w,
                              const float *b, const float *alpha, const pcnn_conv_t *c) {
  /* pre, out (P, cout); in (P, cin); w [cin][cout]; b, alpha (cout) */
  const int cin = c->cin, cout = c->cout;
  const long p = (long)c->n * c->h * c->w;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < p; i++) {
    float *o = pre + i * cout;
    for (int co = 0; co < cout; co++) o[co] = b[co];
    for (int ci = 0; ci < cin; ci++) {
      const float v = BF(in[i * cin + ci]);
      for (int co = pcnn_mask_co_begin(c, 0, 0, ci); co < cout; co++) o[co] += v * BF(w[(size_t)ci * cout + co]);
    }
    for (int co = 0; co < cout; co++) out[i * cout + co] = o[co] > 0.f ? o[co] : alpha[co] * o[co];
  }
}

static void conv1x1_prelu_bwd_data(const int bf, float *din, const float *dout, const float *pre,
                                   const float *w, const float *alpha, const pcnn_conv_t *c0) {
  const pcnn_conv_t cz = pcnn_conv_zero_din(din, c0), *c = &cz; /* OVERWRITE: zeroed, then += */
  /* din (P, cin) += w (dout * prelu'(pre)) */
  const int cin = c->cin, cout = c->cout;
  const long p = (long)c->n * c->h * c->w;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < p; i++)
    for (int ci = 0; ci < cin; ci++) {
      float s = 0.f;
      for (int co = pcnn_mask_co_begin(c, 0, 0, ci); co < cout; co++)
        s += BF(w[(size_t)ci * cout + co]) * BF(dpre_of(dout[i * cout + co], pre[i * cout + co], alpha[co]));
      din[i * cin + ci] += s;
    }
}

static void conv1x1_prelu_bwd_weights(const int bf, float *dw, float *db, float *dalpha,
                                      const float *dout, const float *pre, const float *in,
                                      const float *alpha, const pcnn_conv_t *c) {
  /* dw [cin][cout] += in (x) dpre; db (cout) += sum dpre; dalpha (cout) += sum dout*pre*(pre<=0) */
  const int cin = c->cin, cout = c->cout;
  const size_t p = (size_t)c->n * c->h * c->w;
#pragma omp parallel for schedule(static)
  for (int ci = 0; ci < cin; ci++) {
    const int co0 = pcnn_mask_co_begin(c, 0, 0, ci);
    for (size_t i = 0; i < p; i++) {
      const float v = BF(in[i * cin + ci]);
      for (int co = co0; co < cout; co++)
        dw[(size_t)ci * cout + co] += v * BF(dpre_of(dout[i * cout + co], pre[i * cout + co], alpha[co]));
    }
  }
  for (size_t i = 0; i < p; i++)
    for (int co = 0; co < cout; co++) {
      const float g = dout[i * cout + co], v = pre[i * cout + co];
      db[co] += dpre_of(g, v, alpha[co]);
      if (v <= 0.f) dalpha[co] += g * v;
    }
}

static void conv_prelu_fwd(const int bf, float *pre, float *out, const float *in, const float *w,
                           const float *b, const float *res, const float *alpha, const pcnn_conv_t *c) {
  /* pre, out, res (P, cout); in (P, cin); w [k][k][cin][cout]; b, alpha (cout):
   * the conv, then (pre + res), then the PReLU, as three plain passes */
  const int cout = c->cout;
  const size_t p = (size_t)c->n * c->h * c->w;
  (bf ? pcnn_conv_fwd__ref_bf16 : pcnn_conv_fwd__ref)(pre, in, w, b, c);
  if (res)
    for (size_t i = 0; i < p * cout; i++) pre[i] += res[i];
  pcnn_prelu_fwd__ref(out, pre, alpha, p, cout);
}

void pcnn_conv1x1_prelu_fwd__ref(float *pre, float *out, const float *in, const float *w, const float *b,
                                 const float *alpha, const pcnn_conv_t *c) {
  conv1x1_prelu_fwd(0, pre, out, in, w, b, alpha, c);
}
void pcnn_conv1x1_prelu_bwd_data__ref(float *din, const float *dout, const float *pre, const float *w,
                                      const float *alpha, const pcnn_conv_t *c) {
  conv1x1_prelu_bwd_data(0, din, dout, pre, w, alpha, c);
}
void pcnn_conv1x1_prelu_bwd_weights__ref(float *dw, float *db, float *dalpha, const float *dout,
                                         const float *pre, const float *in, const float *alpha,
                                         const pcnn_conv_t *c) {
  conv1x1_prelu_bwd_weights(0, dw, db, dalpha, dout, pre, in, alpha, c);
}
void pcnn_conv_prelu_fwd__ref(float *pre, float *out, const float *in, const float *w, const float *b,
                              const float *res, const float *alpha, const pcnn_conv_t *c) {
  conv_prelu_fwd(0, pre, out, in, w, b, res, alpha, c);
}
void pcnn_conv1x1_prelu_fwd__ref_bf16(float *pre, float *out, const float *in, const float *w,
                                      const float *b, const float *alpha, const pcnn_conv_t *c) {
  conv1x1_prelu_fwd(1, pre, out, in, w, b, alpha, c);
}
void pcnn_conv1x1_prelu_bwd_data__ref_bf16(float *din, const float *dout, const float *pre, const float *w,
                                           const float *alpha, const pcnn_conv_t *c) {
  conv1x1_prelu_bwd_data(1, din, dout, pre, w, alpha, c);
}
void pcnn_conv1x1_prelu_bwd_weights__ref_bf16(float *dw, float *db, float *dalpha, const float *dout,
                                              const float *pre, const float *in, const float *alpha,
                                              const pcnn_conv_t *c) {
  conv1x1_prelu_bwd_weights(1, dw, db, dalpha, dout, pre, in, alpha, c);
}
void pcnn_conv_prelu_fwd__ref_bf16(float *pre, float *out, const float *in, const float *w, const float *b,
                                   const float *res, const float *alpha, const pcnn_conv_t *c) {
  conv_prelu_fwd(1, pre, out, in, w, b, res, alpha, c);
}
