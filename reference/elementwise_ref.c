/* elementwise_ref.c: residual add, the two output heads with their losses,
 * and the Nadam update, plain C. All serial: the losses are summed over the
 * elements in order, whatever the thread count. */
#include <math.h>

#include "pcnn_kernels.h"

void pcnn_add_fwd__ref(float *out, const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void pcnn_add_bwd__ref(float *da, float *db, const float *dout, size_t n) {
  for (size_t i = 0; i < n; i++) {
    da[i] += dout[i];
    db[i] += dout[i];
  }
}

double pcnn_bernoulli_loss__ref(float *dx, const float *x, const float *t, size_t p, int ch,
                                float scale) {
  /* dx, x, t (P, C). -[t log s(x) + (1-t) log(1-s(x))] = max(x,0) - t x + log1p(exp(-|x|)) */
  double nll = 0.0;
  const size_t n = p * (size_t)ch;
  for (size_t i = 0; i < n; i++) {
    const double v = x[i], tt = t[i];
    nll += (v > 0 ? v : 0) - tt * v + log1p(exp(-fabs(v)));
    const double s = v >= 0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v));
    dx[i] = (float)(scale * (s - tt));
  }
  return nll;
}

/* class of a target in [0, 1]: round(t * 255), clamped */
static int class_of(float t) {
  long v = lrintf(t * 255.f);
  return v < 0 ? 0 : v > 255 ? 255 : (int)v;
}

double pcnn_softmax256_loss__ref(float *dx, const float *x, const float *t, size_t p, int ch,
                                 float scale) {
  /* dx, x (P, C*256); t (P, C) */
  double nll = 0.0;
  for (size_t i = 0; i < p; i++)
    for (int c = 0; c < ch; c++) {
      const float *l = x + (i * ch + c) * 256;
      float *d = dx + (i * ch + c) * 256;
      const int k = class_of(t[i * ch + c]);
      float mx = l[0];
      for (int j = 1; j < 256; j++) mx = l[j] > mx ? l[j] : mx;
      double se = 0.0;
      for (int j = 0; j < 256; j++) se += exp((double)l[j] - mx);
      const double lse = mx + log(se);
      nll += lse - l[k];
      for (int j = 0; j < 256; j++) d[j] = (float)(scale * exp((double)l[j] - lse));
      d[k] -= scale;
    }
  return nll;
}

void pcnn_nadam_update__ref(float *param, float *m, float *v, const float *grad, size_t n,
                            const pcnn_nadam_coef_t *k) {
  /* param, m, v, grad (n): the torch.optim.NAdam step with weight_decay 0 */
  for (size_t i = 0; i < n; i++) {
    const float g = grad[i];
    m[i] = k->beta1 * m[i] + k->omb1 * g;
    v[i] = k->beta2 * v[i] + k->omb2 * g * g;
    const float d = sqrtf(v[i] / k->bc2) + k->eps;
    param[i] += k->c_grad * g / d + k->c_mom * m[i] / d;
  }
}

pcnn_nadam_hparams_t pcnn_nadam_defaults(void) {
  /* lr, betas as Keras' Nadam and torch; eps 1e-7 as Keras; decay as torch */
  pcnn_nadam_hparams_t h = {0.002, 0.9, 0.999, 1e-7, 0.004};
  return h;
}

pcnn_nadam_coef_t pcnn_nadam_begin_step(pcnn_nadam_state_t *st, const pcnn_nadam_hparams_t *hp) {
  /* torch (>= 2.0, and 1.13 with foreach=True): mu_t = b1 (1 - 0.5 * 0.96^(t psi)),
   * mu_{t+1} likewise, mu_product *= mu_t. (torch 1.13's default single-tensor path
   * multiplies mu_t into mu_product twice for the momentum term; later versions fixed it.) */
  const long t = ++st->step;
  const double mu = hp->beta1 * (1.0 - 0.5 * pow(0.96, t * hp->momentum_decay));
  const double mu_next = hp->beta1 * (1.0 - 0.5 * pow(0.96, (t + 1) * hp->momentum_decay));
  st->mu_product *= mu;
  pcnn_nadam_coef_t k;
  k.beta1 = (float)hp->beta1;
  k.beta2 = (float)hp->beta2;
  k.omb1 = (float)(1.0 - hp->beta1);
  k.omb2 = (float)(1.0 - hp->beta2);
  k.eps = (float)hp->eps;
  k.bc2 = (float)(1.0 - pow(hp->beta2, (double)t));
  k.c_grad = (float)(-hp->lr * (1.0 - mu) / (1.0 - st->mu_product));
  k.c_mom = (float)(-hp->lr * mu_next / (1.0 - st->mu_product * mu_next));
  return k;
}
