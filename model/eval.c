/* eval.c: NLL of a data set under a checkpoint, and sampling from one; see eval.h. */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "values.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

double pcnn_bits_per_dim(double nats_per_image, const pcnn_config_t *c) {
  return nats_per_image / ((double)c->height * c->width * c->channels * log(2.0));
}

int pcnn_data_fits(const pcnn_dataset_t *ds, const pcnn_model_t *m, char err[PCNN_ERR_LEN]) {
  if (ds->h != m->cfg.height || ds->w != m->cfg.width || ds->c != m->cfg.channels)
    return pcnn_errf(err, "%s: images are %dx%dx%d but the model was trained for %dx%dx%d", ds->name, ds->h,
                     ds->w, ds->c, m->cfg.height, m->cfg.width, m->cfg.channels);
  return 0;
}

int pcnn_ckpt_binarized(const pcnn_ckpt_extra_t *extra) {
  const char *b = pcnn_ckpt_extra_get(extra, "binarize");
  return b && strcmp(b, "1") == 0;
}

int pcnn_plan_apply_file(pcnn_model_t *m, pcnn_plan_t *plan, const char *path, const char *label,
                         pcnn_prec_t prec, char err[PCNN_ERR_LEN]) {
  pcnn_plan_t p;
  char why[PCNN_ERR_LEN];
  if (path && *path) {
    if (pcnn_plan_load(path, &p, why)) return pcnn_errf(err, "%s: %s", label, why);
    if (p.prec != prec)
      return pcnn_errf(err, "%s: %s is a %s plan but the run's precision is %s (--precision)", label, path,
                       pcnn_prec_name(p.prec), pcnn_prec_name(prec));
  } else {
    const char *why_not = pcnn_prec_unavailable(prec);
    if (why_not)
      return pcnn_errf(err, "--precision %s: %s; the bf16 reference runs only with --isa ref (slow)",
                       pcnn_prec_name(prec), why_not);
    pcnn_plan_default_prec(&p, prec);
  }
  pcnn_model_set_plan(m, &p);
  if (plan) *plan = p;
  return 0;
}

int pcnn_eval_nll_sum(double *sum, float *logits, pcnn_model_t *m, const pcnn_dataset_t *ds, int first,
                      int count, int batch, int binarize, pcnn_progress_fn progress, void *ctx,
                      char err[PCNN_ERR_LEN]) {
  const size_t img = (size_t)m->cfg.height * m->cfg.width * m->cfg.channels;
  const size_t lg = img * m->k_out;
  float *in = malloc((size_t)batch * img * sizeof(float));  /* (batch,H,W,C) */
  int32_t *idx = malloc(sizeof(int32_t) * (size_t)batch);
  if (!in || !idx) {
    free(in);
    free(idx);
    return pcnn_errf(err, "out of memory for a batch of %d images", batch);
  }
  double s = 0;
  if (progress) progress(ctx, 0, count);
  for (int i = 0; i < count; i += batch) {
    const int b = count - i < batch ? count - i : batch;
    for (int j = 0; j < b; j++) idx[j] = first + i + j;
    pcnn_data_batch_f32(in, ds, idx, b, binarize, NULL);
    pcnn_model_infer(m, in, b);
    s += pcnn_model_loss(m, in, b, 0.f);
    if (logits) memcpy(logits + (size_t)i * lg, m->logits, (size_t)b * lg * sizeof(float));
    if (progress) progress(ctx, i + b, count);
  }
  free(in);
  free(idx);
  *sum = s;
  return 0;
}

int pcnn_eval_nll(double *nll, float *logits, pcnn_model_t *m, const pcnn_dataset_t *ds, int count,
                  int batch, int binarize, pcnn_progress_fn progress, void *ctx, char err[PCNN_ERR_LEN]) {
  double s;
  if (pcnn_eval_nll_sum(&s, logits, m, ds, 0, count, batch, binarize, progress, ctx, err)) return -1;
  *nll = s / count;
  return 0;
}

/* ---------------------------------------------------------------- eval --- */

pcnn_eval_opts_t pcnn_eval_opts_default(void) {
  pcnn_eval_opts_t o = {0};
  o.data = "fashion-mnist";
  o.split = PCNN_SPLIT_TEST;
  o.batch = 32;
  o.binarize = -1;
  o.plan_label = "--plan";
  return o;
}

/* every rank's share [n r / R, n (r + 1) / R) of a (n, per) float array,
 * from the rank that computed it to every rank (padded to the largest share
 * for the gather); 0 or -1 */
static int gather_shares(float *a, int n, size_t per, const pcnn_dist_t *d) {
  if (d->size == 1) return 0;
  const int R = d->size, most = (n + R - 1) / R;
  const int i0 = (int)((long)n * d->rank / R), i1 = (int)((long)n * (d->rank + 1) / R);
  const size_t slot = (size_t)most * per;
  float *mine = calloc(slot ? slot : 1, sizeof(float)), *all = malloc((slot ? slot : 1) * R * sizeof(float));
  int rc = !mine || !all ? -1 : 0;
  if (!rc) {
    memcpy(mine, a + (size_t)i0 * per, (size_t)(i1 - i0) * per * sizeof(float));
    rc = d->allgather(d, all, mine, slot * sizeof(float));
  }
  for (int r = 0; !rc && r < R; r++) {
    const int j0 = (int)((long)n * r / R), j1 = (int)((long)n * (r + 1) / R);
    memcpy(a + (size_t)j0 * per, all + (size_t)r * slot, (size_t)(j1 - j0) * per * sizeof(float));
  }
  free(mine);
  free(all);
  return rc;
}

/* an option by the range of its flag (values.h): 0, or -1 and "--flag: why" */
static int check_int(const char *flag, const pcnn_irange_t *range, long long v, char *err) {
  char why[PCNN_ERR_LEN];
  return pcnn_value_int_ok(range, v, why) ? pcnn_errf(err, "%s: %s", flag, why) : 0;
}

int pcnn_eval_run(pcnn_eval_result_t *res, const pcnn_eval_opts_t *o, pcnn_progress_fn progress,
                  void *ctx, char err[PCNN_ERR_LEN]) {
  memset(res, 0, sizeof *res);
  if ((!o->ckpt && pcnn_errf(err, "--ckpt: no checkpoint given")) ||
      check_int("--batch", &PCNN_V_BATCH, o->batch, err) || check_int("--limit", &PCNN_V_LIMIT, o->limit, err) ||
      (o->binarize != -1 && check_int("--binarize", &PCNN_V_BINARIZE, o->binarize, err)))
    return PCNN_RUN_BAD_REQUEST;
  pcnn_model_t m;
  pcnn_ckpt_extra_t *extra = malloc(sizeof *extra); /* ~130 KB */
  if (!extra || pcnn_ckpt_load(o->ckpt, &m, o->batch, NULL, extra, err)) {
    if (!extra) pcnn_errf(err, "out of memory");
    free(extra);
    return PCNN_RUN_FAILED;
  }
  const int binarize = o->binarize >= 0 ? o->binarize : pcnn_ckpt_binarized(extra);
  free(extra);
  if (pcnn_plan_apply_file(&m, NULL, o->plan, o->plan_label, o->precision, err)) {
    pcnn_model_free(&m);
    return PCNN_RUN_FAILED;
  }
  pcnn_dataset_t ds;
  if (pcnn_data_open(&ds, o->data, o->split, o->limit, err)) {
    pcnn_model_free(&m);
    return PCNN_RUN_FAILED;
  }
  int rc = pcnn_data_fits(&ds, &m, err) ? PCNN_RUN_FAILED : PCNN_RUN_OK;
  const size_t lg = (size_t)m.cfg.height * m.cfg.width * m.cfg.channels * m.k_out;
  if (!rc && o->keep_logits && !(res->logits = malloc((size_t)ds.n * lg * sizeof(float)))) {
    pcnn_errf(err, "--dump-logits: out of memory for %.1f GB of logits (use --limit)", (double)ds.n * lg * 4 / 1e9);
    rc = PCNN_RUN_FAILED;
  }
  if (!rc) {
    const double t0 = now_s();
    const pcnn_dist_t one = pcnn_dist_single(), *d = o->dist ? o->dist : &one;
    const int i0 = (int)((long)ds.n * d->rank / d->size), i1 = (int)((long)ds.n * (d->rank + 1) / d->size);
    double sum = 0;
    if (i1 > i0 && pcnn_eval_nll_sum(&sum, res->logits ? res->logits + (size_t)i0 * lg : NULL, &m, &ds, i0,
                                     i1 - i0, o->batch, binarize, progress, ctx, err))
      rc = PCNN_RUN_FAILED;
    else if (pcnn_dist_sum(&sum, sum, d) || (res->logits && gather_shares(res->logits, ds.n, lg, d))) {
      pcnn_errf(err, "rank %d: gathering the ranks' results failed", d->rank);
      rc = PCNN_RUN_FAILED;
    }
    res->nll = sum / ds.n;
    res->seconds = now_s() - t0;
    res->n = ds.n;
    res->cfg = m.cfg;
    res->k_out = m.k_out;
    snprintf(res->data, sizeof res->data, "%s", ds.name);
  }
  if (rc) {
    free(res->logits);
    res->logits = NULL;
  }
  pcnn_dataset_free(&ds);
  pcnn_model_free(&m);
  return rc;
}

/* -------------------------------------------------------------- sample --- */

pcnn_sample_opts_t pcnn_sample_opts_default(void) {
  pcnn_sample_opts_t o = {0};
  o.n = 16;
  o.seed = 1;
  o.temperature = 1.0;
  o.cached = 1;
  o.prime_rows = -1;
  o.plan_label = "--plan";
  return o;
}

/* x (n,H,W,C) = the first n test images of `data`, as the checkpoint's run saw them */
static int prime_images(float *x, const pcnn_model_t *m, const char *data, int n, int binarize, char *err) {
  pcnn_dataset_t ds;
  char why[PCNN_ERR_LEN];
  if (pcnn_data_open(&ds, data, PCNN_SPLIT_TEST, n, why)) return pcnn_errf(err, "--prime: %s", why);
  int rc = pcnn_data_fits(&ds, m, err);
  if (!rc && ds.n < n) rc = pcnn_errf(err, "--prime: %s has %d images, --n asks for %d", ds.name, ds.n, n);
  int32_t *idx = rc ? NULL : malloc(sizeof(int32_t) * (size_t)n);
  if (!rc && !idx) rc = pcnn_errf(err, "out of memory");
  if (!rc) {
    for (int i = 0; i < n; i++) idx[i] = i;
    pcnn_data_batch_f32(x, &ds, idx, n, binarize, NULL);
  }
  free(idx);
  pcnn_dataset_free(&ds);
  return rc;
}

int pcnn_sample_run(pcnn_sample_result_t *res, const pcnn_sample_opts_t *o, const pcnn_sample_hooks_t *h,
                    char err[PCNN_ERR_LEN]) {
  static const pcnn_sample_hooks_t none = {0};
  char why[PCNN_ERR_LEN];
  if (!h) h = &none;
  memset(res, 0, sizeof *res);
  if ((!o->ckpt && pcnn_errf(err, "--ckpt: no checkpoint given")) ||
      check_int("--n", &PCNN_V_SAMPLES, o->n, err) ||
      (pcnn_value_real_ok(&PCNN_V_TEMPERATURE, o->temperature, why) && pcnn_errf(err, "--temperature: %s", why)))
    return PCNN_RUN_BAD_REQUEST;
  pcnn_model_t m;
  pcnn_ckpt_extra_t *extra = malloc(sizeof *extra); /* ~130 KB */
  if (!extra || pcnn_ckpt_load(o->ckpt, &m, o->n, NULL, extra, err)) {
    if (!extra) pcnn_errf(err, "out of memory");
    free(extra);
    return PCNN_RUN_FAILED;
  }
  const int binarize = pcnn_ckpt_binarized(extra);
  free(extra);
  pcnn_plan_t plan;
  if (pcnn_plan_apply_file(&m, &plan, o->plan, o->plan_label, o->precision, err)) {
    pcnn_model_free(&m);
    return PCNN_RUN_FAILED;
  }
  if (o->plan && *o->plan && h->plan) h->plan(h->ctx, o->plan, &plan);
  int prime_rows = o->prime ? o->prime_rows : 0;
  if (prime_rows > m.cfg.height) {
    pcnn_errf(err, "--prime-rows: %d is more than the image height %d", prime_rows, m.cfg.height);
    pcnn_model_free(&m);
    return PCNN_RUN_BAD_REQUEST;
  }
  const size_t img = (size_t)m.cfg.height * m.cfg.width * m.cfg.channels;
  float *x = calloc((size_t)o->n * img, sizeof(float)); /* (n,H,W,C) */
  int rc = PCNN_RUN_OK;
  if (!x) {
    pcnn_errf(err, "out of memory for %d images", o->n);
    rc = PCNN_RUN_FAILED;
  }
  if (!rc && o->prime) {
    if (prime_images(x, &m, o->prime, o->n, binarize, err)) rc = PCNN_RUN_FAILED;
    else if (prime_rows < 0) prime_rows = m.cfg.height / 2;
  }
  if (!rc) {
    if (h->start) h->start(h->ctx, &m.cfg, prime_rows);
    /* this rank's share of the images (all of them for one process) */
    const pcnn_dist_t one = pcnn_dist_single(), *d = o->dist ? o->dist : &one;
    const int i0 = (int)((long)o->n * d->rank / d->size), i1 = (int)((long)o->n * (d->rank + 1) / d->size);
    float *mine = x + (size_t)i0 * img;
    const pcnn_cached_opts_t part = {NULL, NULL, 0, i0, o->n, 0};
    if (i1 == i0) {
      /* more ranks than images: nothing to draw here */
    } else if (!o->cached) {
      pcnn_sample_naive_part(&m, mine, i1 - i0, i0, o->n, prime_rows, (float)o->temperature, o->seed, h->rows,
                             h->ctx);
    } else if (pcnn_sample_cached(&m, mine, i1 - i0, prime_rows, (float)o->temperature, o->seed, h->rows,
                                  h->ctx, &part)) {
      pcnn_errf(err, "out of memory for the cached sampler (try a smaller --n)");
      rc = PCNN_RUN_FAILED;
    }
    if (!rc && gather_shares(x, o->n, img, d)) {
      pcnn_errf(err, "rank %d: gathering the images failed", d->rank);
      rc = PCNN_RUN_FAILED;
    }
  }
  if (!rc) {
    res->images = x;
    res->cfg = m.cfg;
  } else {
    free(x);
  }
  pcnn_model_free(&m);
  return rc;
}
