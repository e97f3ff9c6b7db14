/* checkpoint.c: save / load a model as safetensors (see checkpoint.h). */
#include "checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

void pcnn_ckpt_extra_set(pcnn_ckpt_extra_t *x, const char *key, const char *value) {
  for (int i = 0; i < x->n; i++)
    if (strcmp(x->key[i], key) == 0) {
      snprintf(x->value[i], sizeof x->value[i], "%s", value);
      return;
    }
  if (x->n >= PCNN_CKPT_MAX_EXTRA) return;
  snprintf(x->key[x->n], sizeof x->key[0], "%s", key);
  snprintf(x->value[x->n], sizeof x->value[0], "%s", value);
  x->n++;
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

static int meta_long(const pcnn_st_t *st, const char *key, long lo, long hi, long *out, char *err) {
  const char *s = pcnn_st_meta(st, key);
  if (!s) return pcnn_errf(err, "%s: not a pixelcnn checkpoint: metadata '%s' missing", pcnn_st_path(st), key);
  char *end;
  errno = 0;
  const long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < lo || v > hi)
    return pcnn_errf(err, "%s: metadata %s='%s' is not an integer in %ld..%ld", pcnn_st_path(st), key,
                     s, lo, hi);
  *out = v;
  return 0;
}

static int meta_double(const pcnn_st_t *st, const char *key, double *out, char *err) {
  const char *s = pcnn_st_meta(st, key);
  if (!s) return pcnn_errf(err, "%s: not a pixelcnn checkpoint: metadata '%s' missing", pcnn_st_path(st), key);
  char *end;
  const double v = strtod(s, &end);
  if (*end || end == s || !(v == v))
    return pcnn_errf(err, "%s: metadata %s='%s' is not a number", pcnn_st_path(st), key, s);
  *out = v;
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
  if (meta_long(st, "channels", 1, 3, &ch, err) || meta_long(st, "filters", 1, 4096, &f, err) ||
      meta_long(st, "depth", 0, 256, &d, err) || meta_long(st, "height", 1, 4096, &h, err) ||
      meta_long(st, "width", 1, 4096, &w, err) || meta_long(st, "nadam.step", 0, 1L << 50, &step, err))
    goto fail;
  const char *head = pcnn_st_meta(st, "head");
  cfg.channels = (int)ch, cfg.filters = (int)f, cfg.depth = (int)d, cfg.height = (int)h,
  cfg.width = (int)w, cfg.head = pcnn_head_parse(head);
  if (cfg.head < 0) {
    pcnn_errf(err, "%s: metadata head='%s' is not bernoulli or softmax256", path, head ? head : "");
    goto fail;
  }
  char cerr[PCNN_ERR_LEN];
  if (pcnn_model_init(m, &cfg, 0, batch_cap, cerr)) {
    pcnn_errf(err, "%s: bad model config: %s", path, cerr);
    goto fail;
  }
  if (meta_double(st, "nadam.mu_product", &m->opt.mu_product, err) ||
      meta_double(st, "nadam.lr", &m->hp.lr, err) || meta_double(st, "nadam.beta1", &m->hp.beta1, err) ||
      meta_double(st, "nadam.beta2", &m->hp.beta2, err) || meta_double(st, "nadam.eps", &m->hp.eps, err) ||
      meta_double(st, "nadam.momentum_decay", &m->hp.momentum_decay, err))
    goto fail;
  m->opt.step = step;
  char nm[64];
  snprintf(nm, sizeof nm, "nadam.m.%s", m->tensors[0].name);
  const int opt = pcnn_st_find(st, nm) != NULL;
  float *bufs[3] = {m->params, m->m, m->v};
  for (int b = 0; b < (opt ? 3 : 1); b++)
    for (int i = 0; i < m->ntensors; i++) {
      const pcnn_tensor_t *T = &m->tensors[i];
      int64_t shape[4];
      for (int k = 0; k < T->ndim; k++) shape[k] = T->shape[k];
      snprintf(nm, sizeof nm, "%s%s", prefix[b], T->name);
      if (pcnn_st_get_f32(st, nm, T->ndim, shape, bufs[b] + T->off, err)) goto fail;
    }
  const int expected = m->ntensors * (opt ? 3 : 1);
  if (pcnn_st_count(st) != expected) {
    pcnn_errf(err, "%s: %d tensors, expected %d for this config (F=%d, D=%d)", path,
              pcnn_st_count(st), expected, cfg.filters, cfg.depth);
    goto fail;
  }
  if (!opt) {
    m->opt.step = 0;
    m->opt.mu_product = 1.0;
  }
  if (has_opt) *has_opt = opt;
  if (extra) {
    memset(extra, 0, sizeof *extra);
    for (int i = 0; i < pcnn_st_meta_count(st); i++) {
      const char *k, *v;
      pcnn_st_meta_at(st, i, &k, &v);
      int own = 0;
      for (int j = 0; j < NOWN; j++) own |= strcmp(k, own_keys[j]) == 0;
      if (!own) pcnn_ckpt_extra_set(extra, k, v);
    }
  }
  pcnn_st_close(st);
  return 0;
fail:
  pcnn_st_close(st);
  pcnn_model_free(m);
  return -1;
}
