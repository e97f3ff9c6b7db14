/* model.c: the PixelCNN forward, backward and Nadam step on the kernel table. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rng.h"
#include "values.h"

#define NONE ((size_t)-1)

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

int pcnn_config_ntensors(const pcnn_config_t *c) { return 11 + 9 * c->depth; }

size_t pcnn_config_nparams(const pcnn_config_t *c) {
  const size_t F = (size_t)c->filters, H = F / 2, C = (size_t)c->channels, D = (size_t)c->depth;
  const size_t L = C * (size_t)pcnn_head_k(c->head);
  const size_t in = 49 * C * F + F;
  const size_t block = F + (F * H + 2 * H) + (9 * H * H + 2 * H) + (H * F + F);
  const size_t out = F + 2 * (F * F + 2 * F);
  const size_t head = F * L + L;
  return in + D * block + out + head;
}

/* ---- parameter layout ---- */

static size_t add_tensor(pcnn_model_t *m, int cap, const char *name, int ndim, int s0, int s1,
                         int s2, int s3) {
  pcnn_tensor_t *t = &m->tensors[m->ntensors];
  if (m->ntensors >= cap) abort(); /* count below is wrong: a bug, not an input error */
  m->ntensors++;
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

static void add_conv(pcnn_model_t *m, int cap, pcnn_layer_t *l, int role, const char *prefix, int cin,
                     int cout, int k, int mask, int with_prelu) {
  char nm[48];
  l->role = role;
  l->c = (pcnn_conv_t){0, m->cfg.height, m->cfg.width, cin, cout, k, mask, m->groups};
  snprintf(nm, sizeof nm, "%s.weight", prefix);
  l->w = add_tensor(m, cap, nm, 4, k, k, cin, cout);
  snprintf(nm, sizeof nm, "%s.bias", prefix);
  l->b = add_tensor(m, cap, nm, 1, cout, 0, 0, 0);
  l->alpha = NONE;
  if (with_prelu) {
    snprintf(nm, sizeof nm, "%s.prelu", prefix);
    l->alpha = add_tensor(m, cap, nm, 1, cout, 0, 0, 0);
  }
}

static void layout(pcnn_model_t *m, int cap) {
  const int F = m->cfg.filters, H = F / 2, C = m->cfg.channels;
  char nm[48];
  m->nparams = 0;
  m->ntensors = 0;
  add_conv(m, cap, &m->in, PCNN_ROLE_IN, "in", C, F, 7, PCNN_MASK_A, 0);
  for (int d = 0; d < m->cfg.depth; d++) {
    pcnn_block_t *b = &m->blocks[d];
    snprintf(nm, sizeof nm, "blocks.%d.prelu1", d);
    b->prelu1 = add_tensor(m, cap, nm, 1, F, 0, 0, 0);
    snprintf(nm, sizeof nm, "blocks.%d.conv1", d);
    add_conv(m, cap, &b->conv1, PCNN_ROLE_CONV1, nm, F, H, 1, PCNN_MASK_B, 1);
    snprintf(nm, sizeof nm, "blocks.%d.conv2", d);
    add_conv(m, cap, &b->conv2, PCNN_ROLE_CONV2, nm, H, H, 3, PCNN_MASK_B, 1);
    snprintf(nm, sizeof nm, "blocks.%d.conv3", d);
    add_conv(m, cap, &b->conv3, PCNN_ROLE_CONV3, nm, H, F, 1, PCNN_MASK_B, 0);
  }
  m->out_prelu = add_tensor(m, cap, "out_prelu", 1, F, 0, 0, 0);
  add_conv(m, cap, &m->out[0], PCNN_ROLE_OUT, "out.0", F, F, 1, PCNN_MASK_B, 1);
  add_conv(m, cap, &m->out[1], PCNN_ROLE_OUT, "out.1", F, F, 1, PCNN_MASK_B, 1);
  add_conv(m, cap, &m->head, PCNN_ROLE_HEAD, "head", F, C * m->k_out, 1, PCNN_MASK_B, 0);
}

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
  if (l->alpha != NONE)
    for (int i = 0; i < c->cout; i++) m->params[l->alpha + i] = 0.25f;
}

static void fill(float *p, float v, int n) {
  for (int i = 0; i < n; i++) p[i] = v;
}

int pcnn_model_init(pcnn_model_t *m, const pcnn_config_t *cfg, uint64_t seed, int batch_cap,
                    char *err) {
  memset(m, 0, sizeof *m);
  if (pcnn_config_check(cfg, err)) return -1;
  m->cfg = *cfg;
  m->groups = cfg->channels == 3 ? 3 : 1;
  m->k_out = pcnn_head_k(cfg->head);
  m->hp = pcnn_nadam_defaults();
  m->opt.step = 0;
  m->opt.mu_product = 1.0;
  const int cap = 2 + 4 * 2 + cfg->depth * 9 + 2 + 2; /* in(2) out(2x3) out_prelu head(2) blocks */
  m->blocks = calloc((size_t)(cfg->depth > 0 ? cfg->depth : 1), sizeof *m->blocks);
  m->tensors = calloc((size_t)cap, sizeof *m->tensors);
  if (!m->blocks || !m->tensors) goto oom;
  layout(m, cap);
  m->params = calloc(m->nparams, sizeof(float));
  m->grads = calloc(m->nparams, sizeof(float));
  m->m = calloc(m->nparams, sizeof(float));
  m->v = calloc(m->nparams, sizeof(float));
  if (!m->params || !m->grads || !m->m || !m->v) goto oom;

  pcnn_rng_t r;
  pcnn_rng_seed(&r, seed);
  const int F = cfg->filters;
  float *mask = malloc((size_t)7 * 7 * (F > cfg->channels * m->k_out ? F : cfg->channels * m->k_out) *
                       (F > cfg->channels ? F : cfg->channels) * sizeof(float));
  if (!mask) goto oom;
  init_conv(m, &m->in, &r, mask);
  for (int d = 0; d < cfg->depth; d++) {
    pcnn_block_t *b = &m->blocks[d];
    fill(m->params + b->prelu1, 0.25f, F);
    init_conv(m, &b->conv1, &r, mask);
    init_conv(m, &b->conv2, &r, mask);
    init_conv(m, &b->conv3, &r, mask);
  }
  fill(m->params + m->out_prelu, 0.25f, F);
  init_conv(m, &m->out[0], &r, mask);
  init_conv(m, &m->out[1], &r, mask);
  init_conv(m, &m->head, &r, mask);
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
  snprintf(err, PCNN_ERR_LEN, "out of memory allocating the model (F=%d, D=%d)", cfg->filters,
           cfg->depth);
  return -1;
}

int pcnn_model_reserve(pcnn_model_t *m, int batch_cap, char *err) {
  if (batch_cap <= m->batch_cap) return 0;
  free(m->act);
  m->act = NULL;
  m->batch_cap = 0;
  const size_t P = (size_t)batch_cap * m->cfg.height * m->cfg.width;
  const size_t F = (size_t)m->cfg.filters, H = F / 2, D = (size_t)m->cfg.depth;
  const size_t L = (size_t)m->cfg.channels * m->k_out;
  const size_t total = P * ((D + 1) * F + D * F + 4 * D * H + F + 4 * F + 2 * L + 3 * F + 2 * H);
  /* more than the machine has would be overcommitted and then killed at
   * first touch: say so instead (a hostile or mistaken config gets a line) */
  const long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && psize > 0 && total * 4.0 > (double)pages * psize)
    return pcnn_errf(err, "%.1f GB of activations for batch %d of %dx%d images exceed this "
                     "machine's %.1f GB of memory (use a smaller batch)", total * 4.0 / 1e9,
                     batch_cap, m->cfg.height, m->cfg.width, (double)pages * psize / 1e9);
  m->act = malloc(total * sizeof(float));
  if (!m->act) {
    snprintf(err, PCNN_ERR_LEN, "out of memory: %.1f GB of activations for batch %d",
             total * 4.0 / 1e9, batch_cap);
    return -1;
  }
  float *p = m->act;
#define CARVE(ptr, count) (ptr = p, p += (count))
  CARVE(m->x, (D + 1) * P * F);
  CARVE(m->a1, D * P * F);
  CARVE(m->pre2, D * P * H);
  CARVE(m->a2, D * P * H);
  CARVE(m->pre3, D * P * H);
  CARVE(m->a3, D * P * H);
  CARVE(m->af, P * F);
  for (int i = 0; i < 2; i++) {
    CARVE(m->pre_o[i], P * F);
    CARVE(m->a_o[i], P * F);
  }
  CARVE(m->logits, P * L);
  CARVE(m->dlogits, P * L);
  CARVE(m->g, P * F);
  CARVE(m->gF, P * F);
  CARVE(m->tF, P * F);
  CARVE(m->gh1, P * H);
  CARVE(m->gh2, P * H);
#undef CARVE
  m->batch_cap = batch_cap;
  return 0;
}

void pcnn_model_free(pcnn_model_t *m) {
  free(m->params);
  free(m->grads);
  free(m->m);
  free(m->v);
  free(m->tensors);
  free(m->blocks);
  free(m->act);
  memset(m, 0, sizeof *m);
}

const pcnn_tensor_t *pcnn_model_find(const pcnn_model_t *m, const char *name) {
  for (int i = 0; i < m->ntensors; i++)
    if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
  return NULL;
}

/* ---- the plan ---- */

void pcnn_model_set_plan(pcnn_model_t *m, const pcnn_plan_t *plan) {
  m->plan = *plan;
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++) pcnn_kernels_fill(&m->tab[r][d], plan->isa[r][d]);
}

const pcnn_layer_t *pcnn_model_role_layer(const pcnn_model_t *m, int role) {
  switch (role) {
    case PCNN_ROLE_IN: return &m->in;
    case PCNN_ROLE_CONV1: return m->cfg.depth ? &m->blocks[0].conv1 : NULL;
    case PCNN_ROLE_CONV2: return m->cfg.depth ? &m->blocks[0].conv2 : NULL;
    case PCNN_ROLE_CONV3: return m->cfg.depth ? &m->blocks[0].conv3 : NULL;
    case PCNN_ROLE_OUT: return &m->out[0];
    default: return &m->head;
  }
}

/* ---- forward / backward ---- */

/* the kernel table the plan picked for layer l and direction d */
#define KT(l, d) (&m->tab[(l).role][PCNN_DIR_##d])

static pcnn_conv_t at_n(const pcnn_layer_t *l, int n) {
  pcnn_conv_t c = l->c;
  c.n = n;
  return c;
}

void pcnn_model_forward(pcnn_model_t *m, const float *in, int n) {
  const float *W = m->params;
  const size_t F = (size_t)m->cfg.filters, H = F / 2, Pc = (size_t)m->batch_cap * m->cfg.height * m->cfg.width;
  const int D = m->cfg.depth;
  /* the slope of the PReLU that reads x_d: block d's prelu1, or out_prelu */
#define NEXT_ALPHA(d) (W + ((d) < D ? m->blocks[(d)].prelu1 : m->out_prelu))
#define NEXT_ACT(d) ((d) < D ? m->a1 + (size_t)(d) * Pc * F : m->af)
  /* x_0 = conv_in(in), a = prelu(x_0) in one pass */
  pcnn_conv_t c = at_n(&m->in, n);
  KT(m->in, FWD)->conv_prelu_fwd(m->x, NEXT_ACT(0), in, W + m->in.w, W + m->in.b, NULL, NEXT_ALPHA(0),
                                 &c);
  for (int d = 0; d < D; d++) {
    const pcnn_block_t *b = &m->blocks[d];
    float *x = m->x + d * Pc * F, *xn = m->x + (d + 1) * Pc * F;
    float *a1 = m->a1 + d * Pc * F;
    float *pre2 = m->pre2 + d * Pc * H, *a2 = m->a2 + d * Pc * H;
    float *pre3 = m->pre3 + d * Pc * H, *a3 = m->a3 + d * Pc * H;
    c = at_n(&b->conv1, n);
    KT(b->conv1, FWD)->conv1x1_prelu_fwd(pre2, a2, a1, W + b->conv1.w, W + b->conv1.b, W + b->conv1.alpha, &c);
    c = at_n(&b->conv2, n);
    KT(b->conv2, FWD)->conv_prelu_fwd(pre3, a3, a2, W + b->conv2.w, W + b->conv2.b, NULL,
                                      W + b->conv2.alpha, &c);
    /* x_{d+1} = x_d + conv3(a3), and the next PReLU of the stream, in one pass */
    c = at_n(&b->conv3, n);
    KT(b->conv3, FWD)->conv_prelu_fwd(xn, NEXT_ACT(d + 1), a3, W + b->conv3.w, W + b->conv3.b, x,
                                      NEXT_ALPHA(d + 1), &c);
  }
#undef NEXT_ALPHA
#undef NEXT_ACT
  const float *h = m->af;
  for (int i = 0; i < 2; i++) {
    c = at_n(&m->out[i], n);
    KT(m->out[i], FWD)->conv1x1_prelu_fwd(m->pre_o[i], m->a_o[i], h, W + m->out[i].w, W + m->out[i].b,
                         W + m->out[i].alpha, &c);
    h = m->a_o[i];
  }
  c = at_n(&m->head, n);
  KT(m->head, FWD)->conv_fwd(m->logits, h, W + m->head.w, W + m->head.b, &c);
}

double pcnn_model_loss(pcnn_model_t *m, const float *t, int n, float scale) {
  const pcnn_kernels_t *K = pcnn_kernels();
  const size_t P = (size_t)n * m->cfg.height * m->cfg.width;
  if (m->cfg.head == PCNN_HEAD_BERNOULLI)
    return K->bernoulli_loss(m->dlogits, m->logits, t, P, m->cfg.channels, scale);
  return K->softmax256_loss(m->dlogits, m->logits, t, P, m->cfg.channels, scale);
}

void pcnn_model_zero_grad(pcnn_model_t *m) { memset(m->grads, 0, m->nparams * sizeof(float)); }

/* zero an activation-sized buffer on all threads (a serial 13 MB memset left
 * the other thread spinning: ~9% of a 2-thread training step) */
static void par_zero(float *p, size_t n) {
  const long nb = (long)((n + 16383) / 16384);
#pragma omp parallel for schedule(static)
  for (long b = 0; b < nb; b++) {
    const size_t i = (size_t)b * 16384, k = n - i < 16384 ? n - i : 16384;
    memset(p + i, 0, k * sizeof(float));
  }
}

void pcnn_model_backward(pcnn_model_t *m, const float *in, int n) {
  const pcnn_kernels_t *K = pcnn_kernels();
  const float *W = m->params;
  float *G = m->grads;
  const size_t P = (size_t)n * m->cfg.height * m->cfg.width;
  const size_t F = (size_t)m->cfg.filters, H = F / 2, Pc = (size_t)m->batch_cap * m->cfg.height * m->cfg.width;
  pcnn_conv_t c;

  /* head: logits = conv(a_o[1]) */
  c = at_n(&m->head, n);
  par_zero(m->gF, P * F);
  KT(m->head, BWD_DATA)->conv_bwd_data(m->gF, m->dlogits, W + m->head.w, &c);
  KT(m->head, BWD_WEIGHTS)->conv_bwd_weights(G + m->head.w, G + m->head.b, m->dlogits, m->a_o[1], &c);
  /* out.1 then out.0: a_o[i] = prelu(conv(h_i)); go holds d a_o[i] (gF,
   * then tF: out.1's data gradient is out.0's output gradient) */
  const float *go = m->gF;
  for (int i = 1; i >= 0; i--) {
    const float *hin = i ? m->a_o[0] : m->af;
    float *dh = i ? m->tF : m->g; /* d h_i; g is free until the blocks */
    c = at_n(&m->out[i], n);
    par_zero(dh, P * F);
    KT(m->out[i], BWD_DATA)->conv1x1_prelu_bwd_data(dh, go, m->pre_o[i], W + m->out[i].w, W + m->out[i].alpha, &c);
    KT(m->out[i], BWD_WEIGHTS)->conv1x1_prelu_bwd_weights(G + m->out[i].w, G + m->out[i].b, G + m->out[i].alpha, go,
                                 m->pre_o[i], hin, W + m->out[i].alpha, &c);
    go = dh;
  }
  /* m->g = d af; out_prelu: af = prelu(x_D) -> stream gradient gF = d x_D */
  par_zero(m->gF, P * F);
  K->prelu_bwd(m->gF, G + m->out_prelu, m->g, m->x + (size_t)m->cfg.depth * Pc * F,
               W + m->out_prelu, P, (int)F);
  float *g = m->gF, *da1 = m->g;
  for (int d = m->cfg.depth - 1; d >= 0; d--) {
    const pcnn_block_t *b = &m->blocks[d];
    const float *x = m->x + d * Pc * F, *a1 = m->a1 + d * Pc * F;
    const float *pre2 = m->pre2 + d * Pc * H, *a2 = m->a2 + d * Pc * H;
    const float *pre3 = m->pre3 + d * Pc * H, *a3 = m->a3 + d * Pc * H;
    /* x_{d+1} = x_d + conv3(a3): d(conv3 out) = g */
    c = at_n(&b->conv3, n);
    par_zero(m->gh1, P * H);
    KT(b->conv3, BWD_DATA)->conv_bwd_data(m->gh1, g, W + b->conv3.w, &c); /* gh1 = d a3 */
    KT(b->conv3, BWD_WEIGHTS)->conv_bwd_weights(G + b->conv3.w, G + b->conv3.b, g, a3, &c);
    /* a3 = prelu(pre3) */
    par_zero(m->gh2, P * H);
    K->prelu_bwd(m->gh2, G + b->conv2.alpha, m->gh1, pre3, W + b->conv2.alpha, P, (int)H);
    /* pre3 = conv2(a2) */
    c = at_n(&b->conv2, n);
    par_zero(m->gh1, P * H);
    KT(b->conv2, BWD_DATA)->conv_bwd_data(m->gh1, m->gh2, W + b->conv2.w, &c); /* gh1 = d a2 */
    KT(b->conv2, BWD_WEIGHTS)->conv_bwd_weights(G + b->conv2.w, G + b->conv2.b, m->gh2, a2, &c);
    /* a2 = prelu(conv1(a1)) */
    c = at_n(&b->conv1, n);
    par_zero(da1, P * F);
    KT(b->conv1, BWD_DATA)->conv1x1_prelu_bwd_data(da1, m->gh1, pre2, W + b->conv1.w, W + b->conv1.alpha, &c);
    KT(b->conv1, BWD_WEIGHTS)->conv1x1_prelu_bwd_weights(G + b->conv1.w, G + b->conv1.b, G + b->conv1.alpha, m->gh1, pre2,
                                 a1, W + b->conv1.alpha, &c);
    /* a1 = prelu(x_d): the stream gradient g becomes d x_d = g + prelu'(x_d) da1 */
    K->prelu_bwd(g, G + b->prelu1, da1, x, W + b->prelu1, P, (int)F);
  }
  c = at_n(&m->in, n);
  KT(m->in, BWD_WEIGHTS)->conv_bwd_weights(G + m->in.w, G + m->in.b, g, in, &c);
}

void pcnn_model_step(pcnn_model_t *m) {
  const pcnn_kernels_t *K = pcnn_kernels();
  const pcnn_nadam_coef_t k = pcnn_nadam_begin_step(&m->opt, &m->hp);
  K->nadam_update(m->params, m->m, m->v, m->grads, m->nparams, &k);
}

double pcnn_model_train_step(pcnn_model_t *m, const float *in, int n) {
  pcnn_model_forward(m, in, n);
  const double nll = pcnn_model_loss(m, in, n, 1.0f / (float)n);
  pcnn_model_zero_grad(m);
  pcnn_model_backward(m, in, n);
  pcnn_model_step(m);
  return nll;
}
