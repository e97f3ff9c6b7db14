/* checkpoint.h: a model (config, parameters, Nadam state) as one safetensors file.
 *
 * Tensors (float32, our layouts; see README "Checkpoint format"):
 *   <name>            every parameter tensor of pcnn_model_t (model.h), e.g.
 *                     in.weight (7,7,C,F), blocks.0.conv2.weight (3,3,F/2,F/2)
 *   nadam.m.<name>    Nadam first moment, same shape    (only with optimizer state)
 *   nadam.v.<name>    Nadam second moment, same shape
 * __metadata__ (strings): format=pixelcnn-c/1, channels, filters, depth, head,
 *   height, width, nadam.step, nadam.mu_product, nadam.lr, nadam.beta1,
 *   nadam.beta2, nadam.eps, nadam.momentum_decay, and the caller's extra pairs
 *   (epoch, data, binarize, seed, kernels...).
 */
#ifndef PCNN_CHECKPOINT_H
#define PCNN_CHECKPOINT_H

#include "model.h"
#include "pcnn_err.h"

#define PCNN_CKPT_FORMAT "pixelcnn-c/1"
#define PCNN_CKPT_MAX_EXTRA 16

typedef struct {
  int n;
  char key[PCNN_CKPT_MAX_EXTRA][32];
  char value[PCNN_CKPT_MAX_EXTRA][256];
} pcnn_ckpt_extra_t;

void pcnn_ckpt_extra_set(pcnn_ckpt_extra_t *x, const char *key, const char *value);
const char *pcnn_ckpt_extra_get(const pcnn_ckpt_extra_t *x, const char *key);

/* Writes m to path atomically; with_optimizer also writes m, v and the step. */
int pcnn_ckpt_save(const char *path, const pcnn_model_t *m, int with_optimizer,
                   const pcnn_ckpt_extra_t *extra, char err[PCNN_ERR_LEN]);

/* Creates *m from the checkpoint (config from its metadata, every tensor
 * checked by name and shape), reserving activations for batch_cap images.
 * Optimizer state is loaded when present (has_opt tells). extra receives the
 * metadata pairs that are not the model's own (may be NULL). */
int pcnn_ckpt_load(const char *path, pcnn_model_t *m, int batch_cap, int *has_opt,
                   pcnn_ckpt_extra_t *extra, char err[PCNN_ERR_LEN]);

#endif
