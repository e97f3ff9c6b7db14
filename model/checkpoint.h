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
#define PCNN_CKPT_MAX_EXTRA 32 /* a file with more metadata keys of its own is refused */

typedef struct {
  int n;
  char key[PCNN_CKPT_MAX_EXTRA][64];
  char value[PCNN_CKPT_MAX_EXTRA][4096];
} pcnn_ckpt_extra_t;

/* Sets (or replaces) key; -1 if the table is full or the key or value does
 * not fit (never truncates). */
int pcnn_ckpt_extra_set(pcnn_ckpt_extra_t *x, const char *key, const char *value);
const char *pcnn_ckpt_extra_get(const pcnn_ckpt_extra_t *x, const char *key);

/* Writes m to path atomically; with_optimizer also writes m, v and the step. */
int pcnn_ckpt_save(const char *path, const pcnn_model_t *m, int with_optimizer,
                   const pcnn_ckpt_extra_t *extra, char err[PCNN_ERR_LEN]);

/* Creates *m from the checkpoint, reserving activations for batch_cap images.
 * Nothing in the file is trusted: the config from its metadata is range-
 * checked and checked against the tensor count and data size before anything
 * is allocated for it; every tensor by name, dtype and shape; every weight
 * and Nadam moment finite (and v >= 0); the Nadam hyper-parameters and state
 * in range (values.h); metadata keys unique and at most PCNN_CKPT_MAX_EXTRA
 * of the caller's.  Errors name the file and the key or tensor.
 * Optimizer state is loaded when present (has_opt tells). extra receives the
 * metadata pairs that are not the model's own (may be NULL). */
int pcnn_ckpt_load(const char *path, pcnn_model_t *m, int batch_cap, int *has_opt,
                   pcnn_ckpt_extra_t *extra, char err[PCNN_ERR_LEN]);

#endif
