/* sample.c: the naive (seed) sampler and the shared draw. */
#include "sample.h"

#include <math.h>
#include <string.h>

float pcnn_draw(const float *logits, int k_out, float temperature, pcnn_rng_t *r) {
  const double u = pcnn_rng_double(r);
  if (k_out == 1) {
    const double z = logits[0] / (double)temperature;
    const double p = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
    return u < p ? 1.f : 0.f;
  }
  double mx = logits[0];
  for (int j = 1; j < k_out; j++) mx = logits[j] > mx ? logits[j] : mx;
  double p[256], s = 0;
  for (int j = 0; j < k_out; j++) s += p[j] = exp((logits[j] - mx) / temperature);
  double acc = 0, target = u * s;
  int j = 0;
  for (; j < k_out - 1; j++) {
    acc += p[j];
    if (target < acc) break;
  }
  return (float)j / (float)(k_out - 1);
}

void pcnn_sample_naive(pcnn_model_t *m, float *img, int n, int prime_rows, float temperature,
                       uint64_t seed, pcnn_progress_fn progress, void *ctx) {
  pcnn_sample_naive_part(m, img, n, 0, n, prime_rows, temperature, seed, progress, ctx);
}

void pcnn_sample_naive_part(pcnn_model_t *m, float *img, int n, int first, int total, int prime_rows,
                            float temperature, uint64_t seed, pcnn_progress_fn progress, void *ctx) {
  const int H = m->cfg.height, W = m->cfg.width, C = m->cfg.channels, K = m->k_out;
  pcnn_rng_t r;
  pcnn_rng_seed(&r, seed);
  if (prime_rows < 0) prime_rows = 0;
  if (prime_rows > H) prime_rows = H;
  /* the unprimed rows start at 0 (nothing of them is read before it is drawn) */
  for (int i = 0; i < n; i++)
    memset(img + ((size_t)i * H + prime_rows) * W * C, 0, (size_t)(H - prime_rows) * W * C * sizeof(float));
  for (int y = prime_rows; y < H; y++) {
    for (int x = 0; x < W; x++)
      for (int c = 0; c < C; c++) {
        pcnn_model_infer(m, img, n);
        for (int i = 0; i < first; i++) pcnn_rng_double(&r); /* pcnn_draw takes one each */
        for (int i = 0; i < n; i++) {
          const size_t pix = ((size_t)i * H + y) * W + x;
          img[pix * C + c] = pcnn_draw(m->logits + (pix * C + c) * K, K, temperature, &r);
        }
        for (int i = first + n; i < total; i++) pcnn_rng_double(&r);
      }
    if (progress) progress(ctx, y - prime_rows + 1, H - prime_rows);
  }
}
