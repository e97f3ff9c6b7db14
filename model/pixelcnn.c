/* pixelcnn.c: the public API (pixelcnn.h), a thin layer over model.h,
 * checkpoint.h, sample.h and plan.h. It checks every argument (the internal
 * functions trust theirs), turns their -1 + message into a status, and keeps
 * the internal error buffers away from a caller's NULL err. */
#include "pixelcnn.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "model.h"
#include "plan.h"
#include "sample.h"
#include "values.h"

_Static_assert(PIXELCNN_ERR_LEN == PCNN_ERR_LEN, "one error length for the API and the library");
_Static_assert((int)PIXELCNN_HEAD_BERNOULLI == (int)PCNN_HEAD_BERNOULLI &&
                   (int)PIXELCNN_HEAD_SOFTMAX256 == (int)PCNN_HEAD_SOFTMAX256,
               "public head ids are the internal ones");

struct pixelcnn {
  pcnn_model_t m;
};

const char *pixelcnn_version(void) { return PIXELCNN_VERSION; }

const char *pixelcnn_status_str(pixelcnn_status_t s) {
  switch (s) {
    case PIXELCNN_OK: return "ok";
    case PIXELCNN_EINVAL: return "invalid argument";
    case PIXELCNN_EFILE: return "bad or unusable file";
    case PIXELCNN_ENOMEM: return "out of memory";
    case PIXELCNN_EDIVERGED: return "training diverged";
  }
  return "unknown status";
}

/* formats the reason into err (if not NULL) and returns status */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static pixelcnn_status_t fail(char *err, pixelcnn_status_t status, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, PIXELCNN_ERR_LEN, fmt, ap);
    va_end(ap);
  }
  return status;
}

/* the process-wide kernel table is filled lazily and without a lock: fill it
 * once here, before any model exists, so handles on several threads are safe */
static pthread_once_t g_kernels_once = PTHREAD_ONCE_INIT;
static void kernels_init(void) { (void)pcnn_kernels(); }

static pcnn_config_t to_internal(const pixelcnn_config_t *c) {
  pcnn_config_t k;
  k.channels = c->channels;
  k.filters = c->filters;
  k.depth = c->depth;
  k.head = c->head;
  k.height = c->height;
  k.width = c->width;
  return k;
}

static pixelcnn_config_t to_public(const pcnn_config_t *k) {
  pixelcnn_config_t c;
  c.channels = k->channels;
  c.filters = k->filters;
  c.depth = k->depth;
  c.head = k->head;
  c.height = k->height;
  c.width = k->width;
  return c;
}

pixelcnn_config_t pixelcnn_config_default(void) {
  const pcnn_config_t k = pcnn_config_default();
  return to_public(&k);
}

pixelcnn_config_t pixelcnn_get_config(const pixelcnn_t *h) { return to_public(&h->m.cfg); }

size_t pixelcnn_num_params(const pixelcnn_t *h) { return pcnn_config_nparams(&h->m.cfg); }

static size_t image_len(const pcnn_config_t *c, int n) {
  return n > 0 ? (size_t)n * c->height * c->width * c->channels : 0;
}

size_t pixelcnn_logits_len(const pixelcnn_t *h, int n) {
  return image_len(&h->m.cfg, n) * (size_t)pcnn_head_k(h->m.cfg.head);
}

pixelcnn_status_t pixelcnn_create(pixelcnn_t **out, const pixelcnn_config_t *cfg, uint64_t seed,
                                  char err[PIXELCNN_ERR_LEN]) {
  char why[PCNN_ERR_LEN];
  if (!out) return fail(err, PIXELCNN_EINVAL, "pixelcnn_create: out is NULL");
  *out = NULL;
  if (!cfg) return fail(err, PIXELCNN_EINVAL, "pixelcnn_create: cfg is NULL");
  const pcnn_config_t k = to_internal(cfg);
  if (pcnn_config_check(&k, why)) /* its messages name the flag: "--filters: ..." */
    return fail(err, PIXELCNN_EINVAL, "pixelcnn_create: cfg%s%s", why[0] == '-' ? "." : ": ",
                why[0] == '-' ? why + 2 : why);
  pthread_once(&g_kernels_once, kernels_init);
  pixelcnn_t *h = calloc(1, sizeof *h);
  if (!h) return fail(err, PIXELCNN_ENOMEM, "pixelcnn_create: out of memory");
  if (pcnn_model_init(&h->m, &k, seed, 0, why)) {
    free(h);
    return fail(err, PIXELCNN_ENOMEM, "pixelcnn_create: %s", why);
  }
  *out = h;
  return PIXELCNN_OK;
}

pixelcnn_status_t pixelcnn_load(pixelcnn_t **out, const char *path, char err[PIXELCNN_ERR_LEN]) {
  char why[PCNN_ERR_LEN];
  if (!out) return fail(err, PIXELCNN_EINVAL, "pixelcnn_load: out is NULL");
  *out = NULL;
  if (!path) return fail(err, PIXELCNN_EINVAL, "pixelcnn_load: path is NULL");
  pthread_once(&g_kernels_once, kernels_init);
  pixelcnn_t *h = calloc(1, sizeof *h);
  if (!h) return fail(err, PIXELCNN_ENOMEM, "pixelcnn_load: out of memory");
  int has_opt = 0;
  if (pcnn_ckpt_load(path, &h->m, 0, &has_opt, NULL, why)) {
    free(h);
    return fail(err, PIXELCNN_EFILE, "%s", why); /* names the file */
  }
  *out = h;
  return PIXELCNN_OK;
}

pixelcnn_status_t pixelcnn_save(const pixelcnn_t *h, const char *path, int with_optimizer,
                                char err[PIXELCNN_ERR_LEN]) {
  char why[PCNN_ERR_LEN];
  if (!h || !path) return fail(err, PIXELCNN_EINVAL, "pixelcnn_save: %s is NULL", h ? "path" : "m");
  if (pcnn_ckpt_save(path, &h->m, with_optimizer != 0, NULL, why))
    return fail(err, PIXELCNN_EFILE, "%s", why);
  return PIXELCNN_OK;
}

void pixelcnn_free(pixelcnn_t *h) {
  if (!h) return;
  pcnn_model_free(&h->m);
  free(h);
}

pixelcnn_status_t pixelcnn_use_plan(pixelcnn_t *h, const char *path, char err[PIXELCNN_ERR_LEN]) {
  char why[PCNN_ERR_LEN];
  if (!h || !path) return fail(err, PIXELCNN_EINVAL, "pixelcnn_use_plan: %s is NULL", h ? "path" : "m");
  pcnn_plan_t p;
  if (pcnn_plan_load(path, &p, why)) return fail(err, PIXELCNN_EFILE, "%s", why);
  pcnn_model_set_plan(&h->m, &p);
  return PIXELCNN_OK;
}

pixelcnn_status_t pixelcnn_set_precision(pixelcnn_t *h, const char *precision, char err[PIXELCNN_ERR_LEN]) {
  if (!h || !precision)
    return fail(err, PIXELCNN_EINVAL, "pixelcnn_set_precision: %s is NULL", h ? "precision" : "m");
  const int p = pcnn_prec_parse(precision);
  if (p < 0) return fail(err, PIXELCNN_EINVAL, "pixelcnn_set_precision: '%.40s' is not fp32 or bf16", precision);
  const char *why_not = pcnn_prec_unavailable((pcnn_prec_t)p);
  if (why_not) return fail(err, PIXELCNN_EINVAL, "pixelcnn_set_precision: %s: %s", precision, why_not);
  pcnn_plan_t plan;
  pcnn_plan_default_prec(&plan, (pcnn_prec_t)p);
  pcnn_model_set_plan(&h->m, &plan);
  return PIXELCNN_OK;
}

/* ---- batches ---- */

/* the checks every batch call shares: the handle, n, the buffers, and every
 * value of the first `rows` rows of each image in [0, 1] (NaN fails the test) */
static pixelcnn_status_t check_batch(const char *fn, const pixelcnn_t *h, const pcnn_irange_t *nr,
                                     const float *img, int n, int rows, char *err) {
  if (!h) return fail(err, PIXELCNN_EINVAL, "%s: m is NULL", fn);
  if (n < nr->lo || n > nr->hi)
    return fail(err, PIXELCNN_EINVAL, "%s: n = %d is not in %lld..%lld", fn, n, nr->lo, nr->hi);
  if (!img) return fail(err, PIXELCNN_EINVAL, "%s: images is NULL", fn);
  const pcnn_config_t *c = &h->m.cfg;
  const size_t per = (size_t)c->height * c->width * c->channels, check = (size_t)rows * c->width * c->channels;
  for (int i = 0; i < n; i++)
    for (size_t j = 0; j < check; j++) {
      const float v = img[(size_t)i * per + j];
      if (!(v >= 0.f && v <= 1.f))
        return fail(err, PIXELCNN_EINVAL, "%s: images[%zu] = %g is not in [0, 1]", fn,
                    (size_t)i * per + j, (double)v);
    }
  return PIXELCNN_OK;
}

/* activations for n images (grows, never shrinks) */
static pixelcnn_status_t reserve(const char *fn, pixelcnn_t *h, int n, char *err) {
  char why[PCNN_ERR_LEN];
  if (pcnn_model_reserve(&h->m, n, why)) return fail(err, PIXELCNN_ENOMEM, "%s: %s", fn, why);
  return PIXELCNN_OK;
}

pixelcnn_status_t pixelcnn_logits(pixelcnn_t *h, float *logits, const float *images, int n,
                                  char err[PIXELCNN_ERR_LEN]) {
  static const char fn[] = "pixelcnn_logits";
  pixelcnn_status_t s = check_batch(fn, h, &PCNN_V_BATCH, images, n, h ? h->m.cfg.height : 0, err);
  if (s) return s;
  if (!logits) return fail(err, PIXELCNN_EINVAL, "%s: logits is NULL", fn);
  if ((s = reserve(fn, h, n, err))) return s;
  pcnn_model_infer(&h->m, images, n);
  memcpy(logits, h->m.logits, pixelcnn_logits_len(h, n) * sizeof(float));
  return PIXELCNN_OK;
}

pixelcnn_status_t pixelcnn_nll(pixelcnn_t *h, double *nll, const float *images, int n,
                               char err[PIXELCNN_ERR_LEN]) {
  static const char fn[] = "pixelcnn_nll";
  pixelcnn_status_t s = check_batch(fn, h, &PCNN_V_BATCH, images, n, h ? h->m.cfg.height : 0, err);
  if (s) return s;
  if (!nll) return fail(err, PIXELCNN_EINVAL, "%s: nll is NULL", fn);
  if ((s = reserve(fn, h, n, err))) return s;
  pcnn_model_infer(&h->m, images, n);
  *nll = pcnn_model_loss(&h->m, images, n, 0.f) / n;
  return PIXELCNN_OK;
}

pixelcnn_status_t pixelcnn_train_step(pixelcnn_t *h, double *nll, const float *images, int n,
                                      char err[PIXELCNN_ERR_LEN]) {
  static const char fn[] = "pixelcnn_train_step";
  pixelcnn_status_t s = check_batch(fn, h, &PCNN_V_BATCH, images, n, h ? h->m.cfg.height : 0, err);
  if (s) return s;
  if ((s = reserve(fn, h, n, err))) return s;
  const double loss = pcnn_model_train_step(&h->m, images, n) / n;
  if (nll) *nll = loss;
  if (!isfinite(loss))
    return fail(err, PIXELCNN_EDIVERGED, "%s: the loss is %g: training diverged (lower the "
                "learning rate or check the data)", fn, loss);
  return PIXELCNN_OK;
}

pixelcnn_status_t pixelcnn_sample(pixelcnn_t *h, float *images, int n, int prime_rows,
                                  float temperature, uint64_t seed, pixelcnn_sampler_t sampler,
                                  char err[PIXELCNN_ERR_LEN]) {
  static const char fn[] = "pixelcnn_sample";
  char why[PCNN_ERR_LEN];
  if (h && (prime_rows < 0 || prime_rows > h->m.cfg.height))
    return fail(err, PIXELCNN_EINVAL, "%s: prime_rows = %d is not in 0..%d", fn, prime_rows,
                h->m.cfg.height);
  pixelcnn_status_t s = check_batch(fn, h, &PCNN_V_SAMPLES, images, n, prime_rows, err);
  if (s) return s;
  if (pcnn_value_real_ok(&PCNN_V_TEMPERATURE, temperature, why))
    return fail(err, PIXELCNN_EINVAL, "%s: temperature: %s", fn, why);
  if (sampler == PIXELCNN_SAMPLER_NAIVE) {
    if ((s = reserve(fn, h, n, err))) return s;
    pcnn_sample_naive(&h->m, images, n, prime_rows, temperature, seed, NULL, NULL);
  } else if (sampler == PIXELCNN_SAMPLER_CACHED) {
    /* primes with the model's activations as reserved so far (in chunks of
     * that batch), or position by position if none are */
    if (pcnn_sample_cached(&h->m, images, n, prime_rows, temperature, seed, NULL, NULL, NULL))
      return fail(err, PIXELCNN_ENOMEM, "%s: out of memory for the sampler's caches", fn);
  } else {
    return fail(err, PIXELCNN_EINVAL, "%s: sampler = %d is not PIXELCNN_SAMPLER_CACHED or _NAIVE",
                fn, (int)sampler);
  }
  return PIXELCNN_OK;
}
