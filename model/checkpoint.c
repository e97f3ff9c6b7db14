/* checkpoint.c: save / load a model as safetensors (see checkpoint.h). */
#include "checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "values.h"

int pcnn_ckpt_extra_set(pcnn_ckpt_extra_t *x, const char *key, const char *value) {
  if (strlen(key) >= sizeof x->key[0] || strlen(value) >= sizeof x->value[0]) return -1;
  for (int i = 0; i < x->n; i++)
    if (strcmp(x->key[i], key) == 0) {
      memmove(x->value[i], value, strlen(value) + 1); /* value may point into x itself */
      return 0;
    }
  if (x->n >= PCNN_CKPT_MAX_EXTRA) return -1;
  memmove(x->key[x->n], key, strlen(key) + 1);
  memmove(x->value[x->n], value, strlen(value) + 1);
  x->n++;
  return 0;
}

const char *pcnn_ckpt_extra_get(const pcnn_ckpt_extra_t *x, const char *key) {
  for (int i = 0; x && i < x->n; i++)
    if (strcmp(x->key[i], key) == 0) return x->value[i];
  return NULL;
}

/* the metadata keys this file owns */
static const char *const own_keys[] = {
    "format", "channels", "filters", "depth", "head", "height", "width", "nadam.step",
    "nadam.mu_product", "nadam.lr", "nadam.beta1", "nadam.beta2", "nadam.eps",
    "nadam.momentum_decay"};
enum { NOWN = sizeof own_keys / sizeof own_keys[0] };

/* tensor name prefixes of the three buffers: parameters, Nadam m, Nadam v */
static const char *const prefix[3] = {"", "nadam.m.", "nadam.v."};

int pcnn_ckpt_save(const char *path, const pcnn_model_t *m, int with_optimizer,
                   const pcnn_ckpt_extra_t *extra, char err[PCNN_ERR_LEN]) {
  const int nt = m->ntensors * (with_optimizer ? 3 : 1);
  pcnn_st_tensor_t *t = calloc((size_t)nt, sizeof *t);
  char(*names)[64] = calloc((size_t)nt, sizeof *names);
  const int nx = extra ? extra->n : 0;
  const char **meta = calloc((size_t)(NOWN + nx) * 2, sizeof *meta);
  char(*vals)[40] = calloc(NOWN, sizeof *vals);
  if (!t || !names || !meta || !vals) {
    free(t), free(names), free(meta), free(vals);
    return pcnn_errf(err, "%s: out of memory", path);
  }
  const float *bufs[3] = {m->params, m->m, m->v};
  int k = 0;
  for (int b = 0; b < (with_optimizer ? 3 : 1); b++)
    for (int i = 0; i < m->ntensors; i++, k++) {
      const pcnn_tensor_t *T = &m->tensors[i];
      snprintf(names[k], sizeof names[k], "%s%s", prefix[b], T->name);
      t[k].name = names[k];
      t[k].ndim = T->ndim;
      for (int d = 0; d < T->ndim; d++) t[k].shape[d] = T->shape[d];
      t[k].data = bufs[b] + T->off;
    }
  const pcnn_config_t *c = &m->cfg;
  snprintf(vals[0], 40, "%s", PCNN_CKPT_FORMAT);
  snprintf(vals[1], 40, "%d", c->channels);
  snprintf(vals[2], 40, "%d", c->filters);
  snprintf(vals[3], 40, "%d", c->depth);
  snprintf(vals[4], 40, "%s", pcnn_head_name(c->head));
  snprintf(vals[5], 40, "%d", c->height);
  snprintf(vals[6], 40, "%d", c->width);
  snprintf(vals[7], 40, "%ld", with_optimizer ? m->opt.step : 0L);
  snprintf(vals[8], 40, "%.17g", with_optimizer ? m->opt.mu_product : 1.0);
  snprintf(vals[9], 40, "%.17g", m->hp.lr);
  snprintf(vals[10], 40, "%.17g", m->hp.beta1);
  snprintf(vals[11], 40, "%.17g", m->hp.beta2);
  snprintf(vals[12], 40, "%.17g", m->hp.eps);
  snprintf(vals[13], 40, "%.17g", m->hp.momentum_decay);
  int nm = 0;
  for (int i = 0; i < NOWN; i++, nm++) {
    meta[2 * nm] = own_keys[i];
    meta[2 * nm + 1] = vals[i];
  }
  for (int i = 0; i < nx; i++, nm++) {
    meta[2 * nm] = extra->key[i];
    meta[2 * nm + 1] = extra->value[i];
  }
  const int rc = pcnn_st_write(path, t, nt, meta, nm, err);
  free(t), free(names), free(meta), free(vals);
  return rc;
}

static int meta_long(const pcnn_st_t *st, const char *key, const pcnn_irange_t *r, long *out,
                     char *err) {
  const char *s = pcnn_st_meta(st, key);
  if (!s) return pcnn_errf(err, "%s: not a pixelcnn checkpoint: metadata '%s' missing", pcnn_st_path(st), key);
  char why[PCNN_ERR_LEN];
  long long v;
  if (pcnn_value_int(r, s, &v, why)) return pcnn_errf(err, "%s: metadata %s: %s", pcnn_st_path(st), key, why);
  *out = (long)v;
  return 0;
}

static int meta_real(const pcnn_st_t *st, const char *key, const pcnn_rrange_t *r, double *out,
                     char *err) {
  const char *s = pcnn_st_meta(st, key);
  if (!s) return pcnn_errf(err, "%s: not a pixelcnn checkpoint: metadata '%s' missing", pcnn_st_path(st), key);
  char why[PCNN_ERR_LEN];
  if (pcnn_value_real(r, s, out, why))
    return pcnn_errf(err, "%s: metadata %s: %s", pcnn_st_path(st), key, why);
  return 0;
}

/* the first non-finite element of a loaded tensor (or negative one, for v) */
static int check_finite(const char *path, const char *name, const float *p, size_t n, int nonneg,
                        char *err) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(p[i]) || (nonneg && p[i] < 0))
      return pcnn_errf(err, "%s: tensor '%s' holds %g at element %zu (weights and optimizer state "
                       "must be finite%s)", path, name, (double)p[i], i, nonneg ? ", v >= 0" : "");
  return 0;
}

int pcnn_ckpt_load(const char *path, pcnn_model_t *m, int batch_cap, int *has_opt,
                   pcnn_ckpt_extra_t *extra, char err[PCNN_ERR_LEN]) {
  pcnn_st_t *st = NULL;
  memset(m, 0, sizeof *m);
  if (pcnn_st_open(&st, path, err)) return -1;
  const char *fmt = pcnn_st_meta(st, "format");
  if (!fmt || strcmp(fmt, PCNN_CKPT_FORMAT) != 0) {
    pcnn_errf(err, "%s: not a pixelcnn checkpoint (metadata format is '%s', expected '%s')", path,
              fmt ? fmt : "(missing)", PCNN_CKPT_FORMAT);
    goto fail;
  }
  long ch, f, d, h, w, step;
  pcnn_config_t cfg;
  if (meta_long(st, "channels", &PCNN_V_CHANNELS, &ch, err) ||
      meta_long(st, "filters", &PCNN_V_FILTERS, &f, err) || meta_long(st, "depth", &PCNN_V_DEPTH, &d, err) ||
      meta_long(st, "height", &PCNN_V_SIDE, &h, err) || meta_long(st, "width", &PCNN_V_SIDE, &w, err) ||
      meta_long(st, "nadam.step", &PCNN_V_STEP, &step, err))
    goto fail;
  const char *head = pcnn_st_meta(st, "head");
  cfg.channels = (int)ch, cfg.filters = (int)f, cfg.depth = (int)d, cfg.height = (int)h,
  cfg.width = (int)w, cfg.head = pcnn_head_parse(head);
  if (cfg.head < 0) {
    pcnn_errf(err, "%s: metadata head='%s' is not bernoulli or softmax256", path, head ? head : "");
    goto fail;
  }
  char cerr[PCNN_ERR_LEN];
  if (ch == 2 || f % 2) {
    pcnn_errf(err, "%s: metadata %s: '%ld' is not %s", path, ch == 2 ? "channels" : "filters",
              ch == 2 ? ch : f, ch == 2 ? "1 or 3" : "even (the blocks use F/2)");
    goto fail;
  }
  if (pcnn_config_check(&cfg, cerr)) {
    pcnn_errf(err, "%s: bad model config in the metadata: %s", path, cerr);
    goto fail;
  }
  /* the config must describe the tensors the file holds before anything is
   * allocated for it (a few bytes of metadata could otherwise ask for GBs) */
  const int opt = pcnn_st_find(st, "nadam.m.in.weight") != NULL;
  const int expected = pcnn_config_ntensors(&cfg) * (opt ? 3 : 1);
  if (pcnn_st_count(st) != expected) {
    pcnn_errf(err, "%s: %d tensors, expected %d for this config (F=%d, D=%d%s)", path,
              pcnn_st_count(st), expected, cfg.filters, cfg.depth, opt ? ", with optimizer state" : "");
    goto fail;
  }
  uint64_t bytes = 0;
  for (int i = 0; i < pcnn_st_count(st); i++) bytes += pcnn_st_at(st, i)->nbytes;
  const uint64_t want = (uint64_t)pcnn_config_nparams(&cfg) * 4u * (opt ? 3u : 1u);
  if (bytes != want) {
    pcnn_errf(err, "%s: holds %llu bytes of tensors, the config (F=%d, D=%d, C=%d, head %s) needs "
              "%llu", path, (unsigned long long)bytes, cfg.filters, cfg.depth, cfg.channels,
              pcnn_head_name(cfg.head), (unsigned long long)want);
    goto fail;
  }
  pcnn_nadam_hparams_t hp;
  double mu_product;
  if (meta_real(st, "nadam.mu_product", &PCNN_V_MU_PRODUCT, &mu_product, err) ||
      meta_real(st, "nadam.lr", &PCNN_V_LR, &hp.lr, err) ||
      meta_real(st, "nadam.beta1", &PCNN_V_BETA, &hp.beta1, err) ||
      meta_real(st, "nadam.beta2", &PCNN_V_BETA, &hp.beta2, err) ||
      meta_real(st, "nadam.eps", &PCNN_V_EPS, &hp.eps, err) ||
      meta_real(st, "nadam.momentum_decay", &PCNN_V_MOMENTUM_DECAY, &hp.momentum_decay, err))
    goto fail;
  /* every mu_t lies in [beta1 / 2, beta1), so after `step` steps the product
   * lies in [(beta1/2)^step, beta1^step] (compared in logs, with slack); it
   * underflows to 0 in a long run (~7,000 steps at beta1 0.9), which is fine */
  const double lhi = step * log(hp.beta1), llo = step * log(hp.beta1 / 2);
  const int mu_ok = step == 0 ? mu_product == 1.0
                  : mu_product == 0 ? hp.beta1 == 0 || lhi < -700
                  : hp.beta1 > 0 && log(mu_product) <= lhi + 1e-6 * fabs(lhi) + 1e-9 &&
                        log(mu_product) >= llo - 1e-6 * fabs(llo) - (mu_product < 1e-300 ? 1.0 : 1e-9);
  if (!mu_ok) {
    pcnn_errf(err, "%s: metadata nadam.mu_product=%.17g cannot follow %ld steps with beta1 %g (it "
              "lies in [(beta1/2)^step, beta1^step])", path, mu_product, step, hp.beta1);
    goto fail;
  }
  if (pcnn_model_init(m, &cfg, 0, batch_cap, cerr)) {
    pcnn_errf(err, "%s: %s", path, cerr);
    goto fail;
  }
  m->hp = hp;
  m->opt.mu_product = mu_product;
  m->opt.step = step;
  char nm[64];
  float *bufs[3] = {m->params, m->m, m->v};
  for (int b = 0; b < (opt ? 3 : 1); b++)
    for (int i = 0; i < m->ntensors; i++) {
      const pcnn_tensor_t *T = &m->tensors[i];
      int64_t shape[4];
      for (int k = 0; k < T->ndim; k++) shape[k] = T->shape[k];
      snprintf(nm, sizeof nm, "%s%s", prefix[b], T->name);
      if (pcnn_st_get_f32(st, nm, T->ndim, shape, bufs[b] + T->off, err) ||
          check_finite(path, nm, bufs[b] + T->off, T->size, b == 2, err))
        goto fail;
    }
  if (!opt) {
    m->opt.step = 0;
    m->opt.mu_product = 1.0;
  }
  if (has_opt) *has_opt = opt;
  if (extra) memset(extra, 0, sizeof *extra);
  for (int i = 0, nx = 0; i < pcnn_st_meta_count(st); i++) {
    const char *k, *v;
    pcnn_st_meta_at(st, i, &k, &v);
    int own = 0;
    for (int j = 0; j < NOWN; j++) own |= strcmp(k, own_keys[j]) == 0;
    if (own) continue;
    if (++nx > PCNN_CKPT_MAX_EXTRA) {
      pcnn_errf(err, "%s: more than %d metadata keys besides the model's", path, PCNN_CKPT_MAX_EXTRA);
      goto fail;
    }
    if (extra && pcnn_ckpt_extra_set(extra, k, v)) {
      pcnn_errf(err, "%s: metadata key '%.60s' or its value is too long (keys < 64, values < 4096 "
                "bytes)", path, k);
      goto fail;
    }
  }
  pcnn_st_close(st);
  return 0;
fail:
  pcnn_st_close(st);
  pcnn_model_free(m);
  return -1;
}
