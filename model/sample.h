/* sample.h: drawing images from a PixelCNN.
 *
 * Draw order (both samplers, so that the same seed draws the same images):
 * positions in raster order, within a position the colours R, G, B, and for
 * each (position, colour) one draw per image, image 0 first, from one
 * pcnn_rng_t seeded with the seed. A draw is never an argmax:
 *   bernoulli:  v = 1 if u < sigmoid(logit / T) else 0
 *   softmax256: class j with probability softmax(logits / T)_j; v = j / 255
 * with u uniform in [0, 1) and T the temperature (> 0).
 */
#ifndef PCNN_SAMPLE_H
#define PCNN_SAMPLE_H

#include "model.h"
#include "rng.h"

/* one draw from the K logits of one colour of one pixel; returns v in [0, 1] */
float pcnn_draw(const float *logits, int k_out, float temperature, pcnn_rng_t *r);

/* progress callback: rows done of rows total */
typedef void (*pcnn_progress_fn)(void *ctx, int rows_done, int rows_total);

/* The seed's sampler: for each position and colour, one full forward pass of
 * the batch, then the draws. img (n,H,W,C) in [0,1]: rows < prime_rows are
 * kept (image completion), the rest are overwritten with samples. n <=
 * m->batch_cap. */
void pcnn_sample_naive(pcnn_model_t *m, float *img, int n, int prime_rows, float temperature,
                       uint64_t seed, pcnn_progress_fn progress, void *ctx);
/* The same for images [first, first + n) of a batch of `total` images drawn
 * with this seed: img holds just those n; the generator is advanced past the
 * other images' draws, so they are the images one call for the whole batch
 * would draw (a rank's share under mpirun). */
void pcnn_sample_naive_part(pcnn_model_t *m, float *img, int n, int first, int total, int prime_rows,
                            float temperature, uint64_t seed, pcnn_progress_fn progress, void *ctx);

/* ---- the caching sampler (model/sample_cached.c) ----
 * Exact incremental generation (Ramachandran et al. 2017): each layer's
 * output is computed once, at the position being drawn (only colour g's
 * channel group for colour g), from cached activations, so a batch costs
 * about one forward pass instead of H*W*C of them. Same arguments, draw
 * order and images as pcnn_sample_naive (up to float rounding flipping a
 * near-tie draw). n may exceed m->batch_cap: the model's activations are used
 * only to prime (rows < prime_rows, in chunks of batch_cap images). */

/* debug hook: colour `colour` of pixel (y, x) of image `image` is about to be
 * drawn from these k_out logits. Called from worker threads (each image from
 * one thread, in draw order for that image). */
typedef void (*pcnn_logits_hook_fn)(void *ctx, int image, int y, int x, int colour,
                                     const float *logits);
typedef struct {
  pcnn_logits_hook_fn hook; /* or NULL */
  void *hook_ctx;
  /* 1: prime by running the primed rows position by position (no draws)
   * instead of one batched forward; also used when m->batch_cap is 0 */
  int prime_incremental;
  /* total > 0: the n images are [first, first + n) of a batch of total drawn
   * with this seed (the generator skips the others' draws), as for
   * pcnn_sample_naive_part; 0: the n images are the batch */
  int first, total;
  /* 1: no bf16 twins of the windows (the bf16 GEMMs convert the fp32
   * windows at each call, as before them; for tests: the same bits) */
  int no_twins;
} pcnn_cached_opts_t;

/* Returns 0, or -1 if out of memory (img then holds no samples). opt may be NULL. */
int pcnn_sample_cached(pcnn_model_t *m, float *img, int n, int prime_rows, float temperature,
                       uint64_t seed, pcnn_progress_fn progress, void *ctx,
                       const pcnn_cached_opts_t *opt);

#endif
