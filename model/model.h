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
 * offsets); m->tensors lists the named tensors (see README for the names,
 * shapes and the PyTorch mapping). The layer sequence is data (the layer
 * records below, built by model/arch_pixelcnn.c). Activations for a batch of
 * up to batch_cap images are allocated once, in one buffer (pcnn_model_act).
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

/* ---- the network as data ----
 * A model is a list of layer records over activation slots, built once from
 * the config by the architecture's graph builder (model/arch_pixelcnn.c) and
 * walked by everything that runs the network: forward and backward
 * (model.c), the caching sampler (sample_cached.c, which derives its
 * per-position steps from the same records), tune and `info`. No other file
 * writes the layer sequence down.
 *
 * Every layer is one masked convolution with a fused epilogue:
 *   pre = conv(src) + bias (+ res)      written to slot `pre`
 *   out = PReLU(pre, alpha)             written to slot `out` (if alpha is set)
 * run by one forward kernel (op): conv_fwd (no PReLU), conv_prelu_fwd (any k,
 * optional residual) or conv1x1_prelu_fwd (k = 1, no residual; its backward is
 * the fused conv1x1_prelu_bwd_*). Backward walks the list in reverse and
 * derives every gradient from the same fields; a residual's gradient shares
 * the buffer of the gradient it equals. The PReLU slope of an epilogue is any
 * parameter tensor (the seed's per-block "prelu1" is the epilogue of the layer
 * that writes the residual stream). */
enum { PCNN_SLOT_IMAGE = -1 }; /* the model's input image (n,H,W,C) */
#define PCNN_NO_PARAM ((size_t)-1)

/* an activation: (batch_cap, H, W, ch) floats, NHWC */
typedef struct {
  char name[24]; /* "x.0", "a2.3", "logits": for info */
  int ch;
} pcnn_slot_t;

typedef struct {
  char name[40];  /* parameter prefix: "in", "blocks.0.conv1", "head" */
  pcnn_op_t op;   /* forward kernel: conv_fwd, conv_prelu_fwd or conv1x1_prelu_fwd */
  int role;       /* PCNN_ROLE_*: which plan entries (kernel tables) run it */
  pcnn_conv_t c;  /* shape; n is set per call */
  size_t w, b;    /* weight [k][k][cin][cout] and bias (cout) offsets */
  size_t alpha;   /* the epilogue's PReLU slope (cout), or PCNN_NO_PARAM */
  int src;        /* slot read, or PCNN_SLOT_IMAGE */
  int res;        /* slot added before the PReLU, or -1 */
  int pre;        /* slot of conv + bias (+ res) */
  int out;        /* slot of PReLU(pre), or -1 when alpha is PCNN_NO_PARAM */
} pcnn_layer_t;

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

  /* the graph: layers in forward order over nslots activation slots; the
   * last layer's pre slot holds the logits (n,H,W,C*K) */
  pcnn_layer_t *layers;
  int nlayers;
  pcnn_slot_t *slots;
  int nslots;
  int cap_tensors, cap_layers, cap_slots; /* builder capacities */
  int build_oom;                          /* an append ran out of memory */

  /* the kernel plan and the tables it selects: every kernel the model runs
   * comes from these, never from the process-wide table. tab[role][dir] runs
   * the conv layers of a role (with the element-wise slots at the plan's
   * element-wise levels: a layer's epilogue backward uses its role's
   * BWD_DATA table); ops runs the loss heads and Nadam. */
  pcnn_plan_t plan;
  pcnn_kernels_t tab[PCNN_ROLES][PCNN_DIRS];
  pcnn_kernels_t ops;

  /* activations for up to batch_cap images (one allocation): slot s is
   * act[s], (batch_cap, H, W, slots[s].ch), images batch_cap*H*W*ch apart
   * (pcnn_model_act); a forward of n < batch_cap images fills the first n */
  int batch_cap;
  float *mem;
  float **act;     /* nslots pointers into mem */
  float *logits;   /* = act[last layer's pre] */
  float *dlogits;  /* (batch_cap, H, W, C*K) */
  /* forward depth-first, one image at a time per thread (1, the default),
   * or layer by layer over the whole batch (0) */
  int fwd_tiled;
  /* the depth-first forwards' per-thread one-image buffers (model.c,
   * place_plan): place[q][slot] is the slot's buffer, or -1 for its batch
   * buffer; q = 0 for the training step's forward (pre slots kept), 1 for
   * inference (logits kept); place_nbuf[q] buffers of H*W*place_ch[q] floats
   * a thread, in arena (arena_cap floats); planned on first use */
  int *place[2], place_nbuf[2], place_ch[2];
  float *arena;
  size_t arena_cap;
  /* writer[slot]: the layer whose PReLU output the slot is, or -1 (backward
   * recomputes such a slot from that layer's pre) */
  int *writer;
  /* where a step's time goes, or NULL: see pcnn_model_profile */
  double *prof;
  /* backward (model.c): per image, in fixed groups of images, each summing
   * into its own partial gradient (gpart: groups x nparams floats, zeroed
   * part by part as the walk of a group's first image reaches it). ngrad
   * gradient buffers of one image (gbuf_ch channels each), reused by
   * liveness, per thread: bw_threads sets in bw_mem (pointers bw_buf, ngrad +
   * 1 per thread) with the walk's bookkeeping bw_walk (2 nslots + 1 ints per
   * thread); sized by a dry run of the walk */
  float *gpart;
  int ngrad;
  int *gbuf_ch;
  int bw_threads;
  float *bw_mem;
  float **bw_buf;
  int *bw_walk;
} pcnn_model_t;

/* ---- graph builder (used by an architecture's builder; see README "Adding
 * an architecture") ---- */
/* appends a parameter tensor; returns its offset */
size_t pcnn_graph_tensor(pcnn_model_t *m, const char *name, int ndim, int s0, int s1, int s2, int s3);
/* appends an activation slot of ch channels; returns its index */
int pcnn_graph_slot(pcnn_model_t *m, const char *name, int ch);
/* appends a conv layer with weight and bias tensors "<name>.weight",
 * "<name>.bias"; the caller sets the epilogue (alpha, res, out) and op
 * afterwards if it has one. Returns the record (valid until the next append). */
pcnn_layer_t *pcnn_graph_conv(pcnn_model_t *m, const char *name, int role, int cin, int cout, int k,
                              int mask, int src, int pre);
/* the seed PixelCNN's graph for m->cfg (model/arch_pixelcnn.c); 0 or -1 (out of memory) */
int pcnn_arch_pixelcnn(pcnn_model_t *m);

/* Where the time goes, measured inside the model's own walks: while acc is
 * set, forward, backward, loss and step add their kernels' wall time (s) into
 * acc: layer i, direction d (PCNN_DIR_*) at acc[i * PCNN_DIRS + d] (a layer's
 * epilogue backward, its PReLU and residual, counts with its bwd_data), then
 * acc[pcnn_model_prof_len(m) - 2] the loss head and [.. - 1] the Nadam step.
 * What a step takes beyond their sum (zeroing gradient buffers, the OpenMP
 * fork/join between kernels) is glue. The caching sampler books each
 * layer's per-position work to the layer's FWD entry (its draws are glue). acc = NULL stops; the results of the
 * walks are the same either way. */
void pcnn_model_profile(pcnn_model_t *m, double *acc);
size_t pcnn_model_prof_len(const pcnn_model_t *m);
/* adds seconds to the profile's entry idx if a profile is set (inside a
 * parallel region, each thread adds seconds / team size, so the entries
 * still sum to wall time); for walks outside model.c (the caching sampler
 * books its per-position layers to their FWD entries) */
void pcnn_model_prof_add(const pcnn_model_t *m, size_t idx, double seconds);

/* slot s's buffer: (batch_cap, H, W, slots[s].ch) */
float *pcnn_model_act(const pcnn_model_t *m, int slot);
/* the kernel layer l runs in direction dir (PCNN_DIR_*): its forward op, or
 * the backward of the fused 1x1 + PReLU or of the plain conv */
pcnn_op_t pcnn_layer_op(const pcnn_layer_t *l, int dir);
/* one line per layer (op, shape, slots, the kernel level each direction
 * runs at, marked "X>ref" where that SIMD kernel hands the shape to the
 * reference: pcnn_kernel_falls_back) to f */
void pcnn_model_describe(const pcnn_model_t *m, FILE *f);

/* Allocates the model for cfg and initialises it from seed (PyTorch's
 * defaults: conv weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
 * fan_in = cin*k*k, PReLU slopes 0.25; masked taps set to 0). batch_cap may be
 * 0 (allocate activations later with pcnn_model_reserve). Returns 0 or -1. */
int pcnn_model_init(pcnn_model_t *m, const pcnn_config_t *cfg, uint64_t seed, int batch_cap,
                    char *err);
int pcnn_model_reserve(pcnn_model_t *m, int batch_cap, char *err);
void pcnn_model_free(pcnn_model_t *m);
/* Takes every kernel from the plan (pcnn_model_init sets the default plan);
 * later changes of the process-wide level do not change the model. */
void pcnn_model_set_plan(pcnn_model_t *m, const pcnn_plan_t *plan);
/* The first layer of a role (PCNN_ROLE_*), whose shape the plan is for; NULL
 * for the block roles when depth is 0. */
const pcnn_layer_t *pcnn_model_role_layer(const pcnn_model_t *m, int role);
/* tensor by name or NULL */
const pcnn_tensor_t *pcnn_model_find(const pcnn_model_t *m, const char *name);

/* logits = model(in) for n <= batch_cap images: in (n,H,W,C) in [0,1];
 * fills m->logits (n,H,W,C*K) and keeps the activations backward needs. */
void pcnn_model_forward(pcnn_model_t *m, const float *in, int n);
/* The forward of a training step: the same logits, keeping only what
 * backward reads (the pre slots; backward recomputes the PReLU outputs). */
void pcnn_model_forward_train(pcnn_model_t *m, const float *in, int n);
/* The same logits as pcnn_model_forward (the same bits), for inference: no
 * activation is kept (nothing but m->logits is valid afterwards, and backward
 * must not follow). Runs depth-first, each thread taking whole images with
 * every layer's activations in a per-thread set of one-image buffers reused
 * by liveness (about 1.6 MB a thread for the seed), so they stay in the
 * core's caches and the pre-activations backward would need are never
 * written to memory. Batches that do not split into whole images per thread
 * run pcnn_model_forward. */
void pcnn_model_infer(pcnn_model_t *m, const float *in, int n);
/* loss of the last forward against targets t (n,H,W,C) in [0,1]: returns
 * the summed NLL in nats over the batch; writes m->dlogits = dNLL/dlogits * scale */
double pcnn_model_loss(pcnn_model_t *m, const float *t, int n, float scale);
/* grads += d(loss)/d(params) from m->dlogits (call after forward + loss) */
void pcnn_model_backward(pcnn_model_t *m, const float *in, int n);
/* Backward's fixed groups for a batch of n images: min(n, 16); group g is
 * images [n g / G, n (g + 1) / G). */
int pcnn_model_groups(int n);
/* Part of the backward of a batch of n images: groups [g0, g1), whose
 * images [n g0 / G, n g1 / G) are in[0..) and had their forward (the
 * training step's or pcnn_model_forward) and loss run on this model as its
 * images 0..; returns the pairwise-tree sum of those groups' parameter
 * gradients (nparams floats, valid until the next backward); grads is not
 * touched. An aligned block of 2^k of G groups gives a subtree of the whole
 * batch's sum. */
const float *pcnn_model_backward_part(pcnn_model_t *m, const float *in, int n, int g0, int g1);
/* grads += the pairwise-tree sum of r gradient sums (r x nparams floats, in
 * group order; overwritten): the parts of consecutive aligned blocks of
 * groups, which then add up to the same bits as one backward of the batch. */
void pcnn_model_add_sums(pcnn_model_t *m, float *sums, int r);
/* the same with grads = the sum (the same bits as pcnn_model_zero_grad and
 * pcnn_model_add_sums, in one pass) */
void pcnn_model_set_sums(pcnn_model_t *m, float *sums, int r);
void pcnn_model_zero_grad(pcnn_model_t *m);
/* n zeroed floats on a 64-byte boundary (a cache line: no vector load or
 * store of an aligned row straddles two lines, and non-temporal stores can
 * run), or NULL; free() releases it */
float *pcnn_floats64(size_t n);
/* one Nadam step over all parameters (masked taps start at 0 and get zero
 * gradient, so their m stays 0 and they stay 0) */
void pcnn_model_step(pcnn_model_t *m);
/* forward + loss (mean NLL per image as the objective) + backward + step;
 * returns the summed NLL in nats of the batch */
double pcnn_model_train_step(pcnn_model_t *m, const float *in, int n);

#endif
