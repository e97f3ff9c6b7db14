/* model.h: the PixelCNN of the seed post (van den Oord et al. 2016), on the kernel table.
 *
 *   input (N,H,W,C)                      C = 1 grayscale, 3 RGB (3 colour groups)
 *   in:      masked 7x7 type A, C -> F
 *   D x block:  a1 = PReLU(x)
 *               a2 = PReLU(conv1: masked 1x1 B, F -> F/2)      (fused kernel)
 *               a3 = PReLU(conv2: masked 3x3 B, F/2 -> F/2)
 *               x  = x + conv3: masked 1x1 B, F/2 -> F
 *   out_prelu:  PReLU(x)
 *   2 x out.i:  PReLU(masked 1x1 B, F -> F)                    (fused kernel)
 *   head:       masked 1x1 B, F -> C * K    K = 1 (bernoulli) or 256 (softmax256)
 *
 * Every layer carries the colour-group mask when C = 3 (the 1x1 layers too:
 * an unmasked 1x1 would let colour G see colour B at the same pixel). With C = 1
 * a 1x1 type-B mask keeps everything, i.e. it is the seed's plain 1x1.
 * Logits are NHWC (N,H,W,C*K): colour c's K logits at [c*K, c*K+K).
 *
 * Parameters live in one float buffer (gradients, Nadam m and v likewise, same
 * offsets); pcnn_model_tensor() lists the named tensors (see README for the
 * names, shapes and the PyTorch mapping). Activations for a batch of up to
 * batch_cap images are allocated once, in one buffer.
 */
#ifndef PCNN_MODEL_H
#define PCNN_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pcnn_err.h"
#include "pcnn_kernels.h"
#include "plan.h"

enum { PCNN_HEAD_BERNOULLI = 0, PCNN_HEAD_SOFTMAX256 = 1 };

typedef struct {
  int channels; /* C: 1 or 3 */
  int filters;  /* F: even, >= 2 (>= 6 for RGB so every group has a channel at F/2) */
  int depth;    /* D residual blocks, >= 0 */
  int head;     /* PCNN_HEAD_* */
  int height, width;
} pcnn_config_t;

pcnn_config_t pcnn_config_default(void); /* the seed: 1, 128, 6, bernoulli, 28x28 */
/* 0 if valid, else -1 and a reason in err naming the flag */
int pcnn_config_check(const pcnn_config_t *cfg, char *err);
/* what pcnn_model_init would allocate for cfg, without allocating: the
 * number of parameter floats and of named tensors (a loader checks a file
 * against them before it trusts the file's config) */
size_t pcnn_config_nparams(const pcnn_config_t *cfg);
int pcnn_config_ntensors(const pcnn_config_t *cfg);
const char *pcnn_head_name(int head);
int pcnn_head_parse(const char *s); /* -1 if unknown */
int pcnn_head_k(int head);          /* logits per channel: 1 or 256 */

/* one named parameter tensor */
typedef struct {
  char name[48];
  int ndim;
  int shape[4];
  size_t off, size; /* offset and length in the parameter buffer (floats) */
} pcnn_tensor_t;

/* a conv layer: descriptor (n set per call) and parameter offsets */
typedef struct {
  pcnn_conv_t c;
  size_t w, b;  /* offsets of weights and bias */
  size_t alpha; /* offset of the PReLU slope after it, or (size_t)-1 */
  int role;     /* PCNN_ROLE_*: which plan entry runs it */
} pcnn_layer_t;

typedef struct {
  size_t prelu1;                /* alpha (F) */
  pcnn_layer_t conv1, conv2, conv3;
} pcnn_block_t;

typedef struct {
  pcnn_config_t cfg;
  int groups, k_out; /* colour groups; logits per channel */

  /* parameters, gradients, Nadam state: nparams floats each, same offsets */
  size_t nparams;
  float *params, *grads, *m, *v;
  pcnn_tensor_t *tensors;
  int ntensors;
  pcnn_nadam_hparams_t hp;
  pcnn_nadam_state_t opt;

  /* the kernel plan and, per role and direction, the table it selects */
  pcnn_plan_t plan;
  pcnn_kernels_t tab[PCNN_ROLES][PCNN_DIRS];

  pcnn_layer_t in;
  pcnn_block_t *blocks; /* depth */
  size_t out_prelu;
  pcnn_layer_t out[2];
  pcnn_layer_t head;

  /* activations for up to batch_cap images (one allocation) */
  int batch_cap;
  float *act;
  float *x;       /* (D+1, P, F) residual stream x_0..x_D */
  float *a1;      /* (D, P, F) */
  float *pre2, *a2, *pre3, *a3; /* (D, P, F/2) each */
  float *af;      /* (P, F) PReLU(x_D) */
  float *pre_o[2], *a_o[2]; /* (P, F) */
  float *logits;  /* (P, C*K) */
  float *dlogits; /* (P, C*K) */
  float *g, *gF;  /* (P, F) stream gradient, scratch */
  float *gh1, *gh2; /* (P, F/2) scratch */
  float *tF;      /* (P, F) scratch for conv3's output */
} pcnn_model_t;

/* Allocates the model for cfg and initialises it from seed (PyTorch's
 * defaults: conv weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
 * fan_in = cin*k*k, PReLU slopes 0.25; masked taps set to 0). batch_cap may be
 * 0 (allocate activations later with pcnn_model_reserve). Returns 0 or -1. */
int pcnn_model_init(pcnn_model_t *m, const pcnn_config_t *cfg, uint64_t seed, int batch_cap,
                    char *err);
int pcnn_model_reserve(pcnn_model_t *m, int batch_cap, char *err);
void pcnn_model_free(pcnn_model_t *m);
/* Runs conv layers as the plan says (pcnn_model_init sets the default plan). */
void pcnn_model_set_plan(pcnn_model_t *m, const pcnn_plan_t *plan);
/* The first layer of a role (PCNN_ROLE_*), whose shape the plan is for; NULL
 * for the block roles when depth is 0. */
const pcnn_layer_t *pcnn_model_role_layer(const pcnn_model_t *m, int role);
/* tensor by name or NULL */
const pcnn_tensor_t *pcnn_model_find(const pcnn_model_t *m, const char *name);

/* logits = model(in) for n <= batch_cap images: in (n,H,W,C) in [0,1];
 * fills m->logits (n,H,W,C*K) and keeps the activations backward needs. */
void pcnn_model_forward(pcnn_model_t *m, const float *in, int n);
/* loss of the last forward against targets t (n,H,W,C) in [0,1]: returns
 * the summed NLL in nats over the batch; writes m->dlogits = dNLL/dlogits * scale */
double pcnn_model_loss(pcnn_model_t *m, const float *t, int n, float scale);
/* grads += d(loss)/d(params) from m->dlogits (call after forward + loss) */
void pcnn_model_backward(pcnn_model_t *m, const float *in, int n);
void pcnn_model_zero_grad(pcnn_model_t *m);
/* one Nadam step over all parameters (masked taps start at 0 and get zero
 * gradient, so their m stays 0 and they stay 0) */
void pcnn_model_step(pcnn_model_t *m);
/* forward + loss (mean NLL per image as the objective) + backward + step;
 * returns the summed NLL in nats of the batch */
double pcnn_model_train_step(pcnn_model_t *m, const float *in, int n);

#endif
