/* model.c: the PixelCNN forward, backward and Nadam step on the kernel table. */
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE (Linux) */
#include "model.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rng.h"
#include "values.h"

static float *floats_big(size_t n);

pcnn_config_t pcnn_config_default(void) {
  pcnn_config_t c = {1, 128, 6, PCNN_HEAD_BERNOULLI, 28, 28};
  return c;
}

const char *pcnn_head_name(int head) {
  return head == PCNN_HEAD_BERNOULLI ? "bernoulli" : head == PCNN_HEAD_SOFTMAX256 ? "softmax256" : "?";
}

int pcnn_head_parse(const char *s) {
  if (!s) return -1;
  if (strcmp(s, "bernoulli") == 0) return PCNN_HEAD_BERNOULLI;
  if (strcmp(s, "softmax256") == 0) return PCNN_HEAD_SOFTMAX256;
  return -1;
}

int pcnn_head_k(int head) { return head == PCNN_HEAD_SOFTMAX256 ? 256 : 1; }

int pcnn_config_check(const pcnn_config_t *c, char *err) {
  if (c->channels != 1 && c->channels != 3)
    return pcnn_errf(err, "--channels: must be 1 or 3, got %d", c->channels);
  if (c->filters < PCNN_V_FILTERS.lo || c->filters % 2)
    return pcnn_errf(err, "--filters: must be even and >= 2 (blocks use F/2), got %d", c->filters);
  if (c->channels == 3 && c->filters < 6)
    return pcnn_errf(err, "--filters: RGB needs F >= 6 so each colour group has a channel at F/2, "
                     "got %d", c->filters);
  if (c->filters > PCNN_V_FILTERS.hi)
    return pcnn_errf(err, "--filters: %d is too large (max %lld)", c->filters, PCNN_V_FILTERS.hi);
  if (c->depth < PCNN_V_DEPTH.lo || c->depth > PCNN_V_DEPTH.hi)
    return pcnn_errf(err, "--depth: must be in %lld..%lld, got %d", PCNN_V_DEPTH.lo, PCNN_V_DEPTH.hi,
                     c->depth);
  if (c->head != PCNN_HEAD_BERNOULLI && c->head != PCNN_HEAD_SOFTMAX256)
    return pcnn_errf(err, "--head: must be bernoulli or softmax256");
  if (c->height < PCNN_V_SIDE.lo || c->width < PCNN_V_SIDE.lo || c->height > PCNN_V_SIDE.hi ||
      c->width > PCNN_V_SIDE.hi)
    return pcnn_errf(err, "image size %dx%d out of range (sides %lld..%lld)", c->height, c->width,
                     PCNN_V_SIDE.lo, PCNN_V_SIDE.hi);
  return 0;
}

/* ---- the graph builder ---- */

static int grow(void **p, int *cap, int need, size_t elem) {
  if (need <= *cap) return 0;
  int nc = *cap ? *cap * 2 : 16;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, (size_t)nc * elem);
  if (!q) return -1;
  memset((char *)q + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
  *p = q;
  *cap = nc;
  return 0;
}

size_t pcnn_graph_tensor(pcnn_model_t *m, const char *name, int ndim, int s0, int s1, int s2, int s3) {
  if (grow((void **)&m->tensors, &m->cap_tensors, m->ntensors + 1, sizeof *m->tensors)) {
    m->build_oom = 1;
    return PCNN_NO_PARAM;
  }
  pcnn_tensor_t *t = &m->tensors[m->ntensors++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->ndim = ndim;
  const int s[4] = {s0, s1, s2, s3};
  t->size = 1;
  for (int i = 0; i < 4; i++) {
    t->shape[i] = i < ndim ? s[i] : 0;
    if (i < ndim) t->size *= (size_t)s[i];
  }
  t->off = m->nparams;
  m->nparams += t->size;
  return t->off;
}

int pcnn_graph_slot(pcnn_model_t *m, const char *name, int ch) {
  if (grow((void **)&m->slots, &m->cap_slots, m->nslots + 1, sizeof *m->slots)) {
    m->build_oom = 1;
    return -1;
  }
  pcnn_slot_t *s = &m->slots[m->nslots];
  snprintf(s->name, sizeof s->name, "%s", name);
  s->ch = ch;
  return m->nslots++;
}

pcnn_layer_t *pcnn_graph_conv(pcnn_model_t *m, const char *name, int role, int cin, int cout, int k,
                              int mask, int src, int pre) {
  if (grow((void **)&m->layers, &m->cap_layers, m->nlayers + 1, sizeof *m->layers)) {
    m->build_oom = 1;
    return NULL;
  }
  char nm[64];
  pcnn_layer_t *l = &m->layers[m->nlayers++];
  snprintf(l->name, sizeof l->name, "%s", name);
  l->op = PCNN_OP_conv_fwd;
  l->role = role;
  l->c = (pcnn_conv_t){0, m->cfg.height, m->cfg.width, cin, cout, k, mask, m->groups, 0};
  snprintf(nm, sizeof nm, "%s.weight", name);
  l->w = pcnn_graph_tensor(m, nm, 4, k, k, cin, cout);
  snprintf(nm, sizeof nm, "%s.bias", name);
  l->b = pcnn_graph_tensor(m, nm, 1, cout, 0, 0, 0);
  l->alpha = PCNN_NO_PARAM;
  l->src = src;
  l->res = -1;
  l->pre = pre;
  l->out = -1;
  return m->build_oom ? NULL : l;
}

static void graph_free(pcnn_model_t *m) {
  free(m->tensors);
  free(m->layers);
  free(m->slots);
  m->tensors = NULL, m->layers = NULL, m->slots = NULL;
  m->ntensors = m->nlayers = m->nslots = 0;
  m->cap_tensors = m->cap_layers = m->cap_slots = 0;
}

/* the graph of m->cfg (tensors, slots, layers); 0 or -1 (out of memory) */
static int build(pcnn_model_t *m) {
  m->groups = m->cfg.channels == 3 ? 3 : 1;
  m->k_out = pcnn_head_k(m->cfg.head);
  m->nparams = 0;
  return pcnn_arch_pixelcnn(m) || m->build_oom ? -1 : 0;
}

/* what the builder makes of cfg, without the parameter buffers */
static int dry_build(const pcnn_config_t *cfg, size_t *nparams, int *ntensors) {
  pcnn_model_t m;
  memset(&m, 0, sizeof m);
  m.cfg = *cfg;
  const int rc = build(&m);
  *nparams = m.nparams;
  *ntensors = m.ntensors;
  graph_free(&m);
  return rc;
}

int pcnn_config_ntensors(const pcnn_config_t *c) {
  size_t np;
  int nt;
  return dry_build(c, &np, &nt) ? -1 : nt;
}

size_t pcnn_config_nparams(const pcnn_config_t *c) {
  size_t np;
  int nt;
  return dry_build(c, &np, &nt) ? 0 : np;
}

/* ---- parameters ---- */

static void init_conv(pcnn_model_t *m, const pcnn_layer_t *l, pcnn_rng_t *r, float *mask) {
  /* torch.nn.Conv2d.reset_parameters: kaiming_uniform_(a=sqrt(5)) gives
   * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights, the same bound for bias */
  const pcnn_conv_t *c = &l->c;
  const double bound = 1.0 / sqrt((double)c->cin * c->k * c->k);
  const size_t nw = (size_t)c->k * c->k * c->cin * c->cout;
  pcnn_mask_fill(mask, c);
  for (size_t i = 0; i < nw; i++)
    m->params[l->w + i] = (float)((2.0 * pcnn_rng_double(r) - 1.0) * bound) * mask[i];
  for (int i = 0; i < c->cout; i++)
    m->params[l->b + i] = (float)((2.0 * pcnn_rng_double(r) - 1.0) * bound);
}

int pcnn_model_init(pcnn_model_t *m, const pcnn_config_t *cfg, uint64_t seed, int batch_cap,
                    char *err) {
  memset(m, 0, sizeof *m);
  if (pcnn_config_check(cfg, err)) return -1;
  m->cfg = *cfg;
  m->fwd_tiled = 1;
  m->hp = pcnn_nadam_defaults();
  m->opt.step = 0;
  m->opt.mu_product = 1.0;
  if (build(m)) goto oom;
  m->params = pcnn_floats64(m->nparams);
  m->grads = pcnn_floats64(m->nparams);
  m->m = pcnn_floats64(m->nparams);
  m->v = pcnn_floats64(m->nparams);
  if (!m->params || !m->grads || !m->m || !m->v) goto oom;

  /* weights and biases drawn layer by layer in forward order; every PReLU
   * slope (each is one layer's epilogue) 0.25 */
  pcnn_rng_t r;
  pcnn_rng_seed(&r, seed);
  size_t mask_n = 0;
  for (int i = 0; i < m->nlayers; i++) {
    const pcnn_conv_t *c = &m->layers[i].c;
    const size_t n = (size_t)c->k * c->k * c->cin * c->cout;
    mask_n = n > mask_n ? n : mask_n;
  }
  float *mask = malloc(mask_n * sizeof(float));
  if (!mask) goto oom;
  for (int i = 0; i < m->nlayers; i++) {
    const pcnn_layer_t *l = &m->layers[i];
    init_conv(m, l, &r, mask);
    if (l->alpha != PCNN_NO_PARAM)
      for (int j = 0; j < l->c.cout; j++) m->params[l->alpha + j] = 0.25f;
  }
  free(mask);
  pcnn_plan_t plan;
  pcnn_plan_default(&plan);
  pcnn_model_set_plan(m, &plan);
  if (batch_cap > 0 && pcnn_model_reserve(m, batch_cap, err)) {
    pcnn_model_free(m);
    return -1;
  }
  return 0;
oom:
  pcnn_model_free(m);
  return pcnn_errf(err, "out of memory allocating the model (F=%d, D=%d)", cfg->filters, cfg->depth);
}

static void backward_walk(pcnn_model_t *m, const float *in, int i0, int n, float *G, int zero,
                          float **buf, int *walk, int *npool, int *pool_ch);
static int bwd_threads(pcnn_model_t *m, int nth);
static int bwd_groups(int n);

int pcnn_model_reserve(pcnn_model_t *m, int batch_cap, char *err) {
  if (batch_cap <= m->batch_cap) return 0;
  free(m->mem);
  free(m->act);
  free(m->gpart);
  m->mem = NULL, m->act = NULL, m->gpart = NULL, m->logits = m->dlogits = NULL;
  m->batch_cap = 0;
  /* backward's per-image gradient buffers: a dry run of its walk sizes them
   * (once: they do not depend on the batch) */
  if (!m->gbuf_ch) {
    int ngrad = 0;
    int *gch = calloc((size_t)m->nslots + 1, sizeof(int));
    int *walk = malloc(sizeof(int) * (2 * (size_t)m->nslots + 1));
    if (!gch || !walk) {
      free(gch), free(walk);
      return pcnn_errf(err, "out of memory");
    }
    backward_walk(m, NULL, 0, 1, NULL, 0, NULL, walk, &ngrad, gch);
    free(walk);
    m->writer = malloc(sizeof(int) * (size_t)m->nslots);
    if (!m->writer) {
      free(gch);
      return pcnn_errf(err, "out of memory");
    }
    for (int s = 0; s < m->nslots; s++) m->writer[s] = -1;
    for (int i = 0; i < m->nlayers; i++)
      if (m->layers[i].out >= 0) m->writer[m->layers[i].out] = i;
    m->gbuf_ch = gch;
    m->ngrad = ngrad;
  }
  const size_t P = (size_t)batch_cap * m->cfg.height * m->cfg.width;
  size_t per_pixel = 0;
  for (int s = 0; s < m->nslots; s++) per_pixel += (size_t)m->slots[s].ch;
  const size_t L = (size_t)m->cfg.channels * m->k_out;
  per_pixel += L; /* dlogits */
  const size_t total = P * per_pixel, parts = (size_t)bwd_groups(batch_cap) * m->nparams;
  /* more than the machine has would be overcommitted and then killed at
   * first touch: say so instead (a hostile or mistaken config gets a line) */
  const long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && psize > 0 && (total + parts) * 4.0 > (double)pages * psize)
    return pcnn_errf(err, "%.1f GB of activations for batch %d of %dx%d images exceed this "
                     "machine's %.1f GB of memory (use a smaller batch)", (total + parts) * 4.0 / 1e9,
                     batch_cap, m->cfg.height, m->cfg.width, (double)pages * psize / 1e9);
  /* on a cache line: so is each slot's image (malloc's 16-byte offset made
   * every vector access of an activation straddle two lines, and kept the
   * kernels' non-temporal stores, which need aligned rows, from running) */
  m->mem = floats_big(total);
  m->act = calloc((size_t)m->nslots, sizeof(float *));
  /* zeroed once: each walk zeroes the gradients the layers accumulate
   * into (backward_walk), so a parameter no layer owned would stay 0 */
  m->gpart = pcnn_floats64(parts);
  if (!m->mem || !m->act || !m->gpart || bwd_threads(m, 1)) {
    free(m->mem), free(m->act), free(m->gpart);
    m->mem = NULL, m->act = NULL, m->gpart = NULL;
    return pcnn_errf(err, "out of memory: %.1f GB of activations for batch %d", (total + parts) * 4.0 / 1e9,
                     batch_cap);
  }
  float *p = m->mem;
  for (int s = 0; s < m->nslots; s++) m->act[s] = p, p += P * (size_t)m->slots[s].ch;
  m->dlogits = p, p += P * L;
  m->logits = m->act[m->layers[m->nlayers - 1].pre];
  m->batch_cap = batch_cap;
  return 0;
}

void pcnn_model_free(pcnn_model_t *m) {
  free(m->params);
  free(m->grads);
  free(m->m);
  free(m->v);
  graph_free(m);
  free(m->mem);
  free(m->act);
  free(m->gpart);
  free(m->gbuf_ch);
  free(m->bw_mem);
  free(m->bw_walk);
  free(m->bw_buf);
  free(m->place[0]);
  free(m->place[1]);
  free(m->arena);
  free(m->writer);
  memset(m, 0, sizeof *m);
}

float *pcnn_model_act(const pcnn_model_t *m, int slot) {
  return slot >= 0 && slot < m->nslots && m->act ? m->act[slot] : NULL;
}

const pcnn_tensor_t *pcnn_model_find(const pcnn_model_t *m, const char *name) {
  for (int i = 0; i < m->ntensors; i++)
    if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
  return NULL;
}

/* ---- the plan ---- */

/* t at level isa in the plan's precision, its element-wise slots at the
 * plan's own (FP32) levels */
static void fill_table(pcnn_kernels_t *t, pcnn_isa_t isa, const pcnn_plan_t *plan) {
  pcnn_kernels_fill_prec(t, isa, plan->prec);
  for (int op = 0; op < PCNN_OP_COUNT; op++)
    if (pcnn_op_elementwise(op)) pcnn_kernels_fill_op(t, (pcnn_op_t)op, plan->elem[op]);
}

void pcnn_model_set_plan(pcnn_model_t *m, const pcnn_plan_t *plan) {
  m->plan = *plan;
  fill_table(&m->ops, plan->isa[PCNN_ROLE_HEAD][PCNN_DIR_FWD], plan);
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++) fill_table(&m->tab[r][d], plan->isa[r][d], plan);
}

const pcnn_layer_t *pcnn_model_role_layer(const pcnn_model_t *m, int role) {
  for (int i = 0; i < m->nlayers; i++)
    if (m->layers[i].role == role) return &m->layers[i];
  return NULL;
}

pcnn_op_t pcnn_layer_op(const pcnn_layer_t *l, int dir) {
  static const pcnn_op_t conv[PCNN_DIRS] = {PCNN_OP_conv_fwd, PCNN_OP_conv_bwd_data, PCNN_OP_conv_bwd_weights};
  static const pcnn_op_t fused[PCNN_DIRS] = {PCNN_OP_conv1x1_prelu_fwd, PCNN_OP_conv1x1_prelu_bwd_data,
                                             PCNN_OP_conv1x1_prelu_bwd_weights};
  if (dir == PCNN_DIR_FWD) return l->op;
  return l->op == PCNN_OP_conv1x1_prelu_fwd ? fused[dir] : conv[dir];
}

void pcnn_model_describe(const pcnn_model_t *m, FILE *f) {
  fprintf(f, "%-18s %-18s %-6s %-22s %-8s %-8s %-8s %-8s %s\n", "layer", "op", "role", "shape",
          "src", "res", "pre", "out", "kernels fwd/bwd_data/bwd_weights (X>ref: falls back)");
  for (int i = 0; i < m->nlayers; i++) {
    const pcnn_layer_t *l = &m->layers[i];
    char shape[40];
    snprintf(shape, sizeof shape, "%dx%d%s %d->%d", l->c.k, l->c.k, l->c.mask == PCNN_MASK_A ? "A" : "B",
             l->c.cin, l->c.cout);
    const char *src = l->src == PCNN_SLOT_IMAGE ? "image" : m->slots[l->src].name;
    /* the level each direction's kernel runs at; a SIMD kernel that hands
     * this shape to the reference says so ("avx512>ref") */
    char lv[PCNN_DIRS][24];
    pcnn_conv_t c = l->c;
    c.n = 1;
    for (int d = 0; d < PCNN_DIRS; d++) {
      const pcnn_op_t op = pcnn_layer_op(l, d);
      const pcnn_isa_t isa = m->tab[l->role][d].isa_of[op];
      const int fb = d == PCNN_DIR_BWD_DATA && l->src == PCNN_SLOT_IMAGE ? 0 : pcnn_kernel_falls_back(op, isa, &c) == 1;
      snprintf(lv[d], sizeof lv[d], "%s%s", pcnn_isa_name(isa), fb ? ">ref" : "");
    }
    fprintf(f, "%-18s %-18s %-6s %-22s %-8s %-8s %-8s %-8s %s/%s/%s\n", l->name, pcnn_op_name(l->op),
            pcnn_role_name(l->role), shape, src, l->res >= 0 ? m->slots[l->res].name : "-",
            m->slots[l->pre].name, l->out >= 0 ? m->slots[l->out].name : "-", lv[0], lv[1], lv[2]);
  }
}

/* ---- the profile ---- */

void pcnn_model_profile(pcnn_model_t *m, double *acc) { m->prof = acc; }
size_t pcnn_model_prof_len(const pcnn_model_t *m) { return (size_t)m->nlayers * PCNN_DIRS + 2; }

/* runs call; with a profile, adds its wall time to m->prof[idx] */
#define TIMED(idx, call)                                  \
  do {                                                    \
    if (m->prof) {                                        \
      const double t0_ = omp_get_wtime();                 \
      call;                                               \
      prof_add(m->prof + (idx), omp_get_wtime() - t0_);   \
    } else {                                              \
      call;                                               \
    }                                                     \
  } while (0)

/* inside a parallel region every thread adds its share (time / team size),
 * so the parts still add up to wall time */
static void prof_add(double *acc, double dt) {
  if (omp_in_parallel()) {
    dt /= omp_get_num_threads();
#pragma omp atomic
    *acc += dt;
  } else {
    *acc += dt;
  }
}

void pcnn_model_prof_add(const pcnn_model_t *m, size_t idx, double seconds) {
  if (m->prof) prof_add(m->prof + idx, seconds);
}
#define PROF_AT(i, d) ((size_t)(i) * PCNN_DIRS + PCNN_DIR_##d)

/* ---- forward / backward: walks of m->layers ---- */

/* the kernel table the plan picked for layer l and direction d */
#define KT(l, d) (&m->tab[(l)->role][PCNN_DIR_##d])

/* Where a forward puts the slots. KEEP_ALL: every slot in its batch buffer
 * (m->act; pcnn_model_forward: the caching sampler's priming reads them).
 * KEEP_PRE: the pre slots, which backward reads, in their batch buffers; the
 * PReLU outputs (backward recomputes them from pre) in a thread's one-image
 * buffers (the training step's forward). KEEP_LOGITS: only the logits in the
 * batch (pcnn_model_infer). */
enum { KEEP_ALL, KEEP_PRE, KEEP_LOGITS };

/* Assigns the slots a keep mode does not keep a one-image buffer (H*W*maxch
 * floats) in a thread's arena, reused by liveness: a slot holds its buffer
 * from the layer that writes it to the last layer that reads it (a pre slot
 * nobody reads, such as pre2 in inference, only during its own layer). For
 * the seed, inference needs 4 buffers (conv3 reads x.d and a3.d and writes
 * x.d+1 and a1.d+1), the training forward 2. Returns 0 or -1. */
static int place_plan(pcnn_model_t *m, int keep) {
  const int ns = m->nslots, logits = m->layers[m->nlayers - 1].pre;
  int *last = malloc(sizeof(int) * (size_t)ns * 3), nbuf = 0, maxch = 1;
  if (!last) return -1;
  int *until = last + ns, *buf = until + ns; /* until: per buffer, the last layer that needs it */
  for (int s = 0; s < ns; s++) last[s] = -1, buf[s] = -1;
  for (int i = 0; i < m->nlayers; i++) {
    const pcnn_layer_t *l = &m->layers[i];
    if (l->src >= 0) last[l->src] = i;
    if (l->res >= 0) last[l->res] = i;
  }
  for (int i = 0; i < m->nlayers; i++) {
    const pcnn_layer_t *l = &m->layers[i];
    const int outs[2] = {l->pre, l->out};
    for (int k = 0; k < 2; k++) {
      const int s = outs[k];
      if (s < 0 || s == logits || (keep == KEEP_PRE && k == 0)) continue;
      int b = 0;
      while (b < nbuf && until[b] >= i) b++;
      if (b == nbuf) nbuf++;
      until[b] = last[s] > i ? last[s] : i;
      buf[s] = b;
      if (m->slots[s].ch > maxch) maxch = m->slots[s].ch;
    }
  }
  const int q = keep == KEEP_PRE ? 0 : 1;
  m->place[q] = malloc(sizeof(int) * (size_t)ns);
  if (m->place[q]) memcpy(m->place[q], buf, sizeof(int) * (size_t)ns);
  free(last);
  m->place_nbuf[q] = nbuf;
  m->place_ch[q] = maxch;
  return m->place[q] ? 0 : -1;
}

/* layer i's forward on images [i0, i0 + n): a slot is in its batch buffer
 * (b == NULL or b[s] < 0: (batch, H, W, ch), so a run of images is a
 * contiguous slice) or, for one image, buffer b[s] of arena (one floats each) */
static void forward_layer(pcnn_model_t *m, int i, const float *in, int i0, int n, const int *b,
                          float *arena, size_t one) {
  const float *W = m->params;
  const pcnn_layer_t *l = &m->layers[i];
  const size_t o = (size_t)i0 * m->cfg.height * m->cfg.width;
  pcnn_conv_t c = l->c;
  c.n = n;
#define SLOT(s) (b && b[s] >= 0 ? arena + (size_t)b[s] * one : m->act[s] + o * m->slots[s].ch)
  const float *src = l->src == PCNN_SLOT_IMAGE ? in + o * m->cfg.channels : SLOT(l->src);
  float *pre = SLOT(l->pre), *out = l->out >= 0 ? SLOT(l->out) : NULL;
  const float *res = l->res >= 0 ? SLOT(l->res) : NULL;
#undef SLOT
  /* the training forward, one image: a kept pre that no later layer reads
   * as its residual is next read by the backward, after the whole batch:
   * past the caches, which keep what the next layers read */
  if (b && b == m->place[0] && l->out >= 0) {
    int read_soon = 0;
    for (int j = i + 1; j < m->nlayers; j++) read_soon |= m->layers[j].res == l->pre;
    if (!read_soon) c.flags |= PCNN_CONV_STREAM_PRE;
  }
  switch (l->op) {
    case PCNN_OP_conv1x1_prelu_fwd:
      KT(l, FWD)->conv1x1_prelu_fwd(pre, out, src, W + l->w, W + l->b, W + l->alpha, &c);
      break;
    case PCNN_OP_conv_prelu_fwd:
      KT(l, FWD)->conv_prelu_fwd(pre, out, src, W + l->w, W + l->b, res, W + l->alpha, &c);
      break;
    default: KT(l, FWD)->conv_fwd(pre, src, W + l->w, W + l->b, &c); break;
  }
}

/* whether a batch of n images splits into whole images per thread without
 * leaving threads idle for long (else the kernels split each layer) */
static int tiles_well(int n) {
  const int nth = omp_get_max_threads();
  return n >= nth && (n % nth == 0 || n >= 4 * nth);
}

/* The forward of n images, depth-first when the batch splits into whole
 * images per thread: each thread takes whole images and runs every layer on
 * one image at a time, single-threaded, so a layer reads what the previous
 * one just wrote from its own L2 instead of memory (one image's widest
 * activation is H*W*F*4 = 400 KB for the seed), with no fork/join between
 * layers. Otherwise layer by layer over the batch, the kernels splitting
 * each layer, every slot in its batch buffer. Every kernel's per-element
 * sums do not depend on how many images a call covers, so all ways give the
 * same bits (tests/test_infer.cc). */
static void forward_keep(pcnn_model_t *m, const float *in, int n, int keep) {
  const int q = keep == KEEP_PRE ? 0 : 1;
  if (!m->fwd_tiled || !tiles_well(n) || (keep != KEEP_ALL && !m->place[q] && place_plan(m, keep))) {
    for (int i = 0; i < m->nlayers; i++) TIMED(PROF_AT(i, FWD), forward_layer(m, i, in, 0, n, NULL, NULL, 0));
    return;
  }
  const int *b = keep == KEEP_ALL ? NULL : m->place[q];
  const size_t one = keep == KEEP_ALL ? 0 : (size_t)m->place_ch[q] * m->cfg.height * m->cfg.width;
  const size_t arena = keep == KEEP_ALL ? 0 : ((m->place_nbuf[q] * one + 15) & ~(size_t)15);
  const size_t need = arena * omp_get_max_threads();
  if (need > m->arena_cap) {
    free(m->arena);
    m->arena_cap = 0;
    if (posix_memalign((void **)&m->arena, 64, need * sizeof(float))) {
      m->arena = NULL;
      forward_keep(m, in, n, KEEP_ALL);
      return;
    }
    m->arena_cap = need;
  }
#pragma omp parallel
  {
    float *mine = m->arena ? m->arena + arena * omp_get_thread_num() : NULL;
    omp_set_num_threads(1); /* the kernels' own regions: one thread */
#pragma omp for schedule(static)
    for (int img = 0; img < n; img++)
      for (int i = 0; i < m->nlayers; i++) TIMED(PROF_AT(i, FWD), forward_layer(m, i, in, img, 1, b, mine, one));
  }
}

void pcnn_model_forward(pcnn_model_t *m, const float *in, int n) { forward_keep(m, in, n, KEEP_ALL); }
void pcnn_model_forward_train(pcnn_model_t *m, const float *in, int n) { forward_keep(m, in, n, KEEP_PRE); }
void pcnn_model_infer(pcnn_model_t *m, const float *in, int n) { forward_keep(m, in, n, KEEP_LOGITS); }

double pcnn_model_loss(pcnn_model_t *m, const float *t, int n, float scale) {
  const size_t P = (size_t)n * m->cfg.height * m->cfg.width;
  double nll;
  if (m->cfg.head == PCNN_HEAD_BERNOULLI)
    TIMED(pcnn_model_prof_len(m) - 2,
          nll = m->ops.bernoulli_loss(m->dlogits, m->logits, t, P, m->cfg.channels, scale));
  else
    TIMED(pcnn_model_prof_len(m) - 2,
          nll = m->ops.softmax256_loss(m->dlogits, m->logits, t, P, m->cfg.channels, scale));
  return nll;
}

/* n floats (not zeroed) on a cache line; a buffer of several MB on 2 MB
 * pages where the kernel allows it (transparent huge pages in madvise mode):
 * its first touch takes a page fault per 2 MB instead of per 4 KB (the
 * caching sampler's per-call windows: 2 ms of faults on 10 MB at 2 threads),
 * and a pass over it a TLB miss per 2 MB (the training step's activations) */
static float *floats_big(size_t n) {
  void *p;
  const size_t bytes = (n ? n : 1) * sizeof(float), huge = (size_t)2 << 20;
  const int big = bytes >= 2 * huge;
  const size_t len = big ? (bytes + huge - 1) / huge * huge : bytes;
  if (posix_memalign(&p, big ? huge : 64, len)) return NULL;
#ifdef MADV_HUGEPAGE
  if (big) (void)madvise(p, len, MADV_HUGEPAGE);
#endif
  return p;
}

float *pcnn_floats64(size_t n) {
  float *p = floats_big(n);
  if (p) memset(p, 0, n * sizeof(float));
  return p;
}

void pcnn_model_zero_grad(pcnn_model_t *m) { memset(m->grads, 0, m->nparams * sizeof(float)); }

/* Backward runs image by image: the weight, bias and slope gradients of a
 * batch of n images are summed in bwd_groups(n) fixed groups of consecutive
 * images, each group into its own partial (image by image, in order; the
 * first image's kernels find each gradient zeroed just before they
 * accumulate into it), and the partials are summed pairwise in a fixed tree
 * and added to grads (the training step sets grads to the sum instead:
 * no separate zeroing pass). Data-parallel training splits the groups over
 * ranks in aligned blocks (pcnn_model_backward_part) and combines the
 * blocks' sums by the same tree (pcnn_model_set_sums, model/dist.c). Which
 * thread runs a group changes nothing, and every kernel's own sums do not
 * depend on the thread count, so a training step gives the same bits at any
 * thread count. One image's data gradients stay in the thread's caches (the
 * seed's widest is 400 KB) while the layers of that image run, instead of a
 * fresh 6-13 MB buffer per layer for the batch. Threads take whole groups,
 * a run of consecutive groups each, when there are at least as many groups
 * as threads, and add the tree's nodes that fall within their run as soon as
 * a group completes one (tree_up), the next group reusing the partial that
 * freed; the nodes across runs are added after (tree_sum), in the same pass
 * as the add to grads. Otherwise the groups run one after the other and the
 * kernels split each image over the threads. */
enum { BWD_MAX_GROUPS = 16 };
static int bwd_groups(int n) { return n < BWD_MAX_GROUPS ? n : BWD_MAX_GROUPS; }

/* Backward's gradient buffers (one image each): d[s] is the gradient of slot
 * s, held from the first layer (in reverse order) that accumulates into it
 * to the layer that wrote s. A dry run (in == NULL) runs no kernel and
 * records the pool it needs (count, channels of each); a real run takes
 * buffers from a thread's pool that pcnn_model_reserve sized by the same
 * rule, so both see the same sequence of takes and releases. */
typedef struct {
  pcnn_model_t *m;
  size_t P;     /* pixels of the images of this walk */
  int dry;
  int *npool, *pool_ch; /* dry run: the pool being sized */
  float **buf;  /* real run: the thread's pool buffers */
  int *busy;    /* which pool buffers are held */
  int *of;      /* of[slot]: pool index of d[slot], or -1 */
} gpool_t;

static float *gbuf_of(gpool_t *g, int slot) {
  return g->dry || g->of[slot] < 0 ? NULL : g->buf[g->of[slot]];
}

/* d[slot]; *fresh: 1 if this is its first use (its contents are stale:
 * the caller's first kernel overwrites it, PCNN_CONV_OVERWRITE) */
static float *gtake_raw(gpool_t *g, int slot, int *fresh) {
  *fresh = g->of[slot] < 0;
  if (!*fresh) return gbuf_of(g, slot);
  const int ch = g->m->slots[slot].ch;
  int *busy = g->busy, n = g->dry ? *g->npool : g->m->ngrad;
  const int *pch = g->dry ? g->pool_ch : g->m->gbuf_ch;
  int i = 0;
  while (i < n && (busy[i] || pch[i] != ch)) i++;
  if (i == n) {
    if (!g->dry) abort(); /* the dry run sized the pool: a bug */
    g->pool_ch[i] = ch;
    (*g->npool)++;
  }
  busy[i] = 1;
  g->of[slot] = i;
  return gbuf_of(g, slot);
}

/* d[slot], zeroed if this is its first use */
static float *gtake(gpool_t *g, int slot) {
  int fresh;
  float *d = gtake_raw(g, slot, &fresh);
  if (fresh && d) memset(d, 0, g->P * (size_t)g->m->slots[slot].ch * sizeof(float));
  return d;
}

/* d[slot] for a data-gradient kernel: on its first use the kernel writes it
 * (cd gets PCNN_CONV_OVERWRITE) instead of a zeroing pass and an add */
static float *gtake_for(gpool_t *g, int slot, pcnn_conv_t *cd) {
  int fresh;
  float *d = gtake_raw(g, slot, &fresh);
  if (fresh) cd->flags |= PCNN_CONV_OVERWRITE;
  return d;
}

static void grelease(gpool_t *g, int slot) {
  if (g->of[slot] >= 0) g->busy[g->of[slot]] = 0;
  g->of[slot] = -1;
}

/* Whether layer p's PReLU backward (d pre += prelu'(pre) d out) runs in the
 * step of the layer that reads out, right after that layer's data gradient
 * (backward_walk): p is a conv with a separate PReLU (not the fused 1x1),
 * out has one reader, the next layer, which reads it as its input. No layer
 * runs between the two, so the sums into d pre are the same as in p's own
 * step: the same bits. */
static int prelu_moved(const pcnn_model_t *m, int p) {
  const pcnn_layer_t *l = &m->layers[p];
  if (l->out < 0 || l->op == PCNN_OP_conv1x1_prelu_fwd || p + 1 >= m->nlayers) return 0;
  for (int j = 0; j < m->nlayers; j++)
    if (m->layers[j].res == l->out || (j != p + 1 && m->layers[j].src == l->out)) return 0;
  return m->layers[p + 1].src == l->out;
}

/* G[off, off + len) = 0 if zero */
static void gzero(float *G, size_t off, size_t len, int zero) {
  if (zero) memset(G + off, 0, len * sizeof(float));
}

/* The backward of images [i0, i0 + n) (n = 1 but for the dry run): G +=
 * their parameter gradients, from m->dlogits and the pre slots forward kept
 * (PReLU outputs are recomputed from them); zero (the first image of a
 * group): G = their gradients instead, each layer's weight, bias and slope
 * gradient zeroed right before the first kernel that accumulates into it,
 * so it is in the core's caches when the kernel reads it (the whole partial,
 * 1.45 MB for the seed, does not fit a Zen 4 core's 1 MB L2);
 * buf and walk: the thread's gradient buffers (m->ngrad for n images, then
 * the recompute buffer) and bookkeeping (2 nslots + 1 ints). Dry run: in ==
 * NULL, sizes the pool. */
static void backward_walk(pcnn_model_t *m, const float *in, int i0, int n, float *G, int zero,
                          float **buf, int *walk, int *npool, int *pool_ch) {
  const float *W = m->params;
  const size_t hw = (size_t)m->cfg.height * m->cfg.width, o = (size_t)i0 * hw;
  gpool_t g = {m, (size_t)n * hw, in == NULL, npool, pool_ch, buf, NULL, NULL};
  const int ns = m->nslots;
  int *busy = walk, *of = walk + ns + 1;
  for (int i = 0; i <= ns; i++) busy[i] = 0;
  for (int i = 0; i < ns; i++) of[i] = -1;
  g.busy = busy;
  g.of = of;
#define ACT(s) (m->act[s] + o * m->slots[s].ch)
  /* the logits' gradient is m->dlogits (from the loss), outside the pool */
  const int logits = m->layers[m->nlayers - 1].pre;
  for (int i = m->nlayers - 1; i >= 0; i--) {
    const pcnn_layer_t *l = &m->layers[i];
    pcnn_conv_t c = l->c;
    c.n = n;
    /* this layer's gradients; a slope whose PReLU backward was moved into
     * the step of the layer after was zeroed there (EARLY_PRELU) */
    gzero(G, l->w, (size_t)c.k * c.k * c.cin * c.cout, zero);
    gzero(G, l->b, (size_t)c.cout, zero);
    if (l->alpha != PCNN_NO_PARAM && !prelu_moved(m, i)) gzero(G, l->alpha, (size_t)c.cout, zero);
    const float *src = g.dry ? NULL : l->src == PCNN_SLOT_IMAGE ? in + o * m->cfg.channels : ACT(l->src);
    /* the layer whose PReLU output is src, when its PReLU backward runs in
     * this step (prelu_moved); -1 otherwise */
    const int pe = l->src >= 0 && i > 0 && m->layers[i - 1].out == l->src && prelu_moved(m, i - 1) ? i - 1 : -1;
    /* right after this layer's data gradient d src: the PReLU backward of
     * the layer before, d pre += prelu'(pre) d src, then (recompute) src =
     * PReLU(pre) for this layer's weight gradient, so pre is read from
     * memory once and again from L2 (it was read twice, a layer apart) */
#define EARLY_PRELU(din)                                                                          \
  do {                                                                                            \
    if (pe >= 0) {                                                                                \
      const pcnn_layer_t *p_ = &m->layers[pe];                                                    \
      float *dp_ = gtake(&g, p_->pre);                                                            \
      gzero(G, p_->alpha, (size_t)p_->c.cout, zero);                                              \
      if (!g.dry)                                                                                 \
        TIMED(PROF_AT(pe, BWD_DATA), KT(p_, BWD_DATA)->prelu_bwd(dp_, G + p_->alpha, (din),       \
                                                                 ACT(p_->pre), W + p_->alpha, g.P, \
                                                                 p_->c.cout));                     \
      grelease(&g, l->src);                                                                       \
    }                                                                                             \
  } while (0)
    /* a PReLU output is not kept by the training forward: recomputed from
     * its layer's pre (the same bits as the forward's epilogue), into the
     * thread's own buffer, for this layer's weight gradient */
#define RECOMPUTE_SRC()                                                                           \
  do {                                                                                            \
    if (!g.dry && l->src >= 0 && m->writer[l->src] >= 0) {                                        \
      const pcnn_layer_t *p_ = &m->layers[m->writer[l->src]];                                     \
      TIMED(PROF_AT(i, BWD_WEIGHTS),                                                              \
            KT(p_, FWD)->prelu_fwd(buf[m->ngrad], ACT(p_->pre), W + p_->alpha, g.P, p_->c.cout)); \
      src = buf[m->ngrad];                                                                        \
    }                                                                                             \
  } while (0)
    if (l->op == PCNN_OP_conv1x1_prelu_fwd) {
      /* the fused 1x1 + PReLU: its backward reads d out and the saved pre */
      const float *dout = gbuf_of(&g, l->out);
      if (l->src != PCNN_SLOT_IMAGE) {
        pcnn_conv_t cd = c;
        float *din = gtake_for(&g, l->src, &cd);
        if (!g.dry)
          TIMED(PROF_AT(i, BWD_DATA),
                KT(l, BWD_DATA)->conv1x1_prelu_bwd_data(din, dout, ACT(l->pre), W + l->w, W + l->alpha, &cd));
        EARLY_PRELU(din);
      }
      RECOMPUTE_SRC();
      if (!g.dry)
        TIMED(PROF_AT(i, BWD_WEIGHTS),
              KT(l, BWD_WEIGHTS)->conv1x1_prelu_bwd_weights(G + l->w, G + l->b, G + l->alpha, dout,
                                                            ACT(l->pre), src, W + l->alpha, &c));
      grelease(&g, l->out);
      continue;
    }
    /* out = PReLU(pre): d pre += prelu'(pre) d out (d pre may already hold
     * a residual's gradient: it accumulates); done already in the step of
     * the layer that reads out when prelu_moved */
    if (l->out >= 0 && !prelu_moved(m, i)) {
      float *dpre = gtake(&g, l->pre);
      if (!g.dry)
        TIMED(PROF_AT(i, BWD_DATA), KT(l, BWD_DATA)->prelu_bwd(dpre, G + l->alpha, gbuf_of(&g, l->out),
                                                               ACT(l->pre), W + l->alpha, g.P, l->c.cout));
      grelease(&g, l->out);
    }
    const float *dpre = l->pre == logits ? (g.dry ? NULL : m->dlogits + o * l->c.cout) : gbuf_of(&g, l->pre);
    /* pre = conv + b + res: d res = d pre. When d res is not held yet it is
     * the same buffer, handed over (no copy); otherwise it accumulates. */
    int handed = 0;
    if (l->res >= 0) {
      if (of[l->res] < 0 && l->pre != logits) {
        of[l->res] = of[l->pre];
        of[l->pre] = -1;
        handed = 1;
      } else {
        float *dres = gtake(&g, l->res);
        if (!g.dry) TIMED(PROF_AT(i, BWD_DATA), KT(l, BWD_DATA)->add_fwd(dres, dres, dpre, g.P * (size_t)l->c.cout));
      }
    }
    if (l->src != PCNN_SLOT_IMAGE) {
      pcnn_conv_t cd = c;
      float *din = gtake_for(&g, l->src, &cd);
      if (!g.dry) TIMED(PROF_AT(i, BWD_DATA), KT(l, BWD_DATA)->conv_bwd_data(din, dpre, W + l->w, &cd));
      EARLY_PRELU(din);
    }
    RECOMPUTE_SRC();
    if (!g.dry) TIMED(PROF_AT(i, BWD_WEIGHTS), KT(l, BWD_WEIGHTS)->conv_bwd_weights(G + l->w, G + l->b, dpre, src, &c));
#undef EARLY_PRELU
#undef RECOMPUTE_SRC
    if (!handed && l->pre != logits) grelease(&g, l->pre);
  }
#undef ACT
}

/* the per-thread backward state for nth threads: each thread's gradient
 * pool for one image and its walk bookkeeping; 0 or -1 (out of memory) */
static int bwd_threads(pcnn_model_t *m, int nth) {
  if (nth <= m->bw_threads) return 0;
  const size_t hw = (size_t)m->cfg.height * m->cfg.width;
  size_t pool = 0, rch = 1; /* the pool, then the recompute buffer (the widest PReLU output) */
  for (int i = 0; i < m->ngrad; i++) pool += ((hw * m->gbuf_ch[i] + 15) & ~(size_t)15);
  for (int s = 0; s < m->nslots; s++)
    if (m->writer[s] >= 0 && (size_t)m->slots[s].ch > rch) rch = (size_t)m->slots[s].ch;
  pool += (hw * rch + 15) & ~(size_t)15;
  float *mem = NULL;
  int *walk = malloc(sizeof(int) * (2 * (size_t)m->nslots + 1) * nth);
  float **buf = malloc(sizeof(float *) * ((size_t)m->ngrad + 1) * nth);
  if (!walk || !buf || posix_memalign((void **)&mem, 64, (pool + 16) * nth * sizeof(float))) {
    free(walk), free(buf);
    return -1;
  }
  for (int t = 0; t < nth; t++) {
    float *p = mem + (pool + 16) * t;
    for (int i = 0; i < m->ngrad; i++) buf[(m->ngrad + 1) * t + i] = p, p += (hw * m->gbuf_ch[i] + 15) & ~(size_t)15;
    buf[(m->ngrad + 1) * t + m->ngrad] = p;
  }
  free(m->bw_mem), free(m->bw_walk), free(m->bw_buf);
  m->bw_mem = mem, m->bw_walk = walk, m->bw_buf = buf;
  m->bw_threads = nth;
  return 0;
}

/* p[0] = the sum of the ng vectors p[g] (np floats each) pairwise in a fixed
 * tree: level s adds p[g + s] into p[g] for g a multiple of 2s, which makes
 * p[g] the node (g, 2s), the sum of vectors [g, min(g + 2s, ng)). The sum of
 * an aligned block of 2^k vectors is a subtree, so a sum split into such
 * blocks and combined by the same rule has the same bits. Each element's
 * adds are the same in any order of the nodes that keeps a node after its
 * children, so a node may be added as soon as its vectors are ready
 * (tree_up) and the rest later (tree_sum). */

/* the first of cnt groups that thread t of nth takes (backward_part) */
static int chunk_lo(int cnt, int t, int nth) { return (int)((long)cnt * t / nth); }
static int chunk_of(int k, int cnt, int nth) {
  int t = 0;
  while (t + 1 < nth && chunk_lo(cnt, t + 1, nth) <= k) t++;
  return t;
}

/* whether node (g, 2s) of a tree over ng vectors lies in one chunk of nth
 * (tree_up added it then); nth = 0: no node was added */
static int node_local(int g, int s, int ng, int nth) {
  const int last = (g + 2 * s < ng ? g + 2 * s : ng) - 1;
  return nth > 0 && chunk_of(g, ng, nth) == chunk_of(last, ng, nth);
}

/* D += S (n floats) by the table's add kernel: one IEEE add per element at
 * every level (a scalar loop here ran 1 float a cycle) */
static void vadd(const pcnn_model_t *m, float *D, const float *S, size_t n) { m->ops.add_fwd(D, D, S, n); }

/* vector k (of ng, in a chunk that starts at lo) is ready and so are the
 * chunk's vectors before it: adds every node that k completes within the
 * chunk, lowest level first. Vector g is p[at[g]]; each vector added into
 * another frees its buffer, pushed on spare (*nfree entries) */
static void tree_up(const pcnn_model_t *m, float *p, const int *at, int k, int lo, int ng, size_t np,
                    int *spare, int *nfree) {
  for (int s = 1; s < ng; s *= 2) {
    const int g = k - k % (2 * s), last = (g + 2 * s < ng ? g + 2 * s : ng) - 1;
    if (last != k || g < lo) break;
    if (g + s < ng) {
      vadd(m, p + (size_t)at[g] * np, p + (size_t)at[g + s] * np, np);
      spare[(*nfree)++] = at[g + s];
    }
  }
}

/* the nodes tree_up did not add (nth: the chunks it ran in, or 0), then,
 * if acc, acc += p[0] (set: acc = 0 + p[0], the same bits as zeroing acc
 * and adding; 0 + x is not x for x = -0), in one pass of blocks of 4096
 * floats over the threads, each block's tree and add while it is in cache */
static void tree_sum(const pcnn_model_t *m, float *p, const int *at, int ng, size_t np, int nth, float *acc,
                     int set) {
  static const float zero[4096];
#define AT(g) (p + (size_t)(at ? at[g] : (g)) * np)
  const long nb = (long)((np + 4095) / 4096);
  int todo = acc != NULL;
  for (int st = 1; st < ng; st *= 2)
    for (int gi = 0; gi + st < ng; gi += 2 * st) todo |= !node_local(gi, st, ng, nth);
  if (!todo) return;
#pragma omp parallel for schedule(static)
  for (long b = 0; b < nb; b++) {
    const size_t j0 = (size_t)b * 4096, j1 = np - j0 < 4096 ? np : j0 + 4096;
    for (int st = 1; st < ng; st *= 2)
      for (int gi = 0; gi + st < ng; gi += 2 * st)
        if (!node_local(gi, st, ng, nth)) vadd(m, AT(gi) + j0, AT(gi + st) + j0, j1 - j0);
    if (acc) m->ops.add_fwd(acc + j0, set ? zero : acc + j0, AT(0) + j0, j1 - j0);
  }
#undef AT
}

int pcnn_model_groups(int n) { return bwd_groups(n); }

/* pcnn_model_backward_part, then acc += the sum (set: acc = the sum) if acc */
static const float *backward_groups(pcnn_model_t *m, const float *in, int n, int g0, int g1, float *acc,
                                    int set) {
  const int ng = bwd_groups(n), base = (int)((long)n * g0 / ng), cnt = g1 - g0;
  /* threads take whole groups when there are enough groups for all of them */
  int nth = omp_get_max_threads();
  if (nth > cnt) nth = 1;
  if (bwd_threads(m, nth)) nth = m->bw_threads; /* reserve made one */
  const int outer = nth > 1;
  /* where each group runs on one thread (not when the kernels split each
   * image over the threads), that thread adds the tree's nodes within its
   * chunk of groups as they complete, while the last partial is still in
   * the caches; tree_sum adds the rest */
  const int up = outer || omp_get_max_threads() == 1;
  const size_t np = m->nparams, wlen = 2 * (size_t)m->nslots + 1;
  int team = 1; /* the threads the region got (at most nth): its chunks */
  /* at[k]: the partial buffer of group k, from then on of the tree node
   * that starts at k. A thread takes the buffer its tree_up freed last (it
   * was just read: in L2 or L3) before a fresh one of its chunk, so a thread
   * needs log2 of its groups + 1 buffers, not one per group (the seed's 16
   * partials are 23 MB) */
  int at[BWD_MAX_GROUPS];
#pragma omp parallel num_threads(nth) if (outer)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int lo = chunk_lo(cnt, t, nt), hi = chunk_lo(cnt, t + 1, nt);
    int spare[BWD_MAX_GROUPS], nfree = 0, fresh = lo;
    if (t == 0) team = nt;
    if (outer) omp_set_num_threads(1); /* the kernels' own regions: one thread */
    for (int k = lo; k < hi; k++) {
      const int gi = g0 + k;
      at[k] = up && nfree ? spare[--nfree] : fresh++;
      float *G = m->gpart + (size_t)at[k] * np;
      for (int img = (int)((long)n * gi / ng); img < (int)((long)n * (gi + 1) / ng); img++)
        backward_walk(m, in, img - base, 1, G, img == (int)((long)n * gi / ng),
                      m->bw_buf + (size_t)(m->ngrad + 1) * t, m->bw_walk + wlen * t, NULL, NULL);
      if (up) tree_up(m, m->gpart, at, k, lo, cnt, np, spare, &nfree);
    }
  }
  tree_sum(m, m->gpart, at, cnt, np, up ? team : 0, acc, set);
  return m->gpart + (size_t)at[0] * np;
}

const float *pcnn_model_backward_part(pcnn_model_t *m, const float *in, int n, int g0, int g1) {
  return backward_groups(m, in, n, g0, g1, NULL, 0);
}

void pcnn_model_add_sums(pcnn_model_t *m, float *sums, int r) { tree_sum(m, sums, NULL, r, m->nparams, 0, m->grads, 0); }
void pcnn_model_set_sums(pcnn_model_t *m, float *sums, int r) { tree_sum(m, sums, NULL, r, m->nparams, 0, m->grads, 1); }

void pcnn_model_backward(pcnn_model_t *m, const float *in, int n) {
  backward_groups(m, in, n, 0, bwd_groups(n), m->grads, 0);
}

void pcnn_model_step(pcnn_model_t *m) {
  const pcnn_nadam_coef_t k = pcnn_nadam_begin_step(&m->opt, &m->hp);
  TIMED(pcnn_model_prof_len(m) - 1, m->ops.nadam_update(m->params, m->m, m->v, m->grads, m->nparams, &k));
}

double pcnn_model_train_step(pcnn_model_t *m, const float *in, int n) {
  pcnn_model_forward_train(m, in, n);
  const double nll = pcnn_model_loss(m, in, n, 1.0f / (float)n);
  backward_groups(m, in, n, 0, bwd_groups(n), m->grads, 1); /* grads = the batch's gradient */
  pcnn_model_step(m);
  return nll;
}
