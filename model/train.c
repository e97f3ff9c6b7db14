/* train.c: the training run; see train.h. */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "data.h"
#include "fileio.h"
#include "rng.h"
#include "values.h"

pcnn_train_opts_t pcnn_train_opts_default(void) {
  const pcnn_config_t c = pcnn_config_default();
  pcnn_train_opts_t o = {0};
  o.data = "fashion-mnist";
  o.filters = c.filters;
  o.depth = c.depth;
  o.head = c.head;
  o.batch = 32;
  o.epochs = 1;
  o.lr = pcnn_nadam_defaults().lr;
  o.seed = 1;
  o.out = "runs/pixelcnn.safetensors";
  o.log = "runs/train.csv";
  o.plan_label = "--plan";
  return o;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* the data stream of train.h: position p is image perm[p % n] of pass p / n */
typedef struct {
  int n;
  uint64_t seed;
  long pass;
  int32_t *perm; /* (n) the permutation of `pass` */
} stream_t;

static int32_t stream_at(stream_t *s, long p) {
  const long pass = p / s->n;
  if (pass != s->pass) {
    pcnn_rng_t r;
    pcnn_rng_seed(&r, s->seed * 0x9E3779B97F4A7C15ull + (uint64_t)pass + 1);
    pcnn_rng_permutation(&r, s->perm, s->n);
    s->pass = pass;
  }
  return s->perm[p % s->n];
}

/* saves only finite weights: a diverged model never replaces a good checkpoint */
static int save_checked(const char *out, const pcnn_model_t *m, const pcnn_ckpt_extra_t *extra, char *err) {
  for (size_t i = 0; i < m->nparams; i++)
    if (!isfinite(m->params[i]) || !isfinite(m->m[i]) || !isfinite(m->v[i]))
      return pcnn_errf(err, "%s: not written: the weights or the optimizer state hold %g at step %ld "
                       "(training diverged; the last good checkpoint is kept)", out,
                       !isfinite(m->params[i]) ? m->params[i] : !isfinite(m->m[i]) ? m->m[i] : m->v[i],
                       m->opt.step);
  return pcnn_ckpt_save(out, m, 1, extra, err);
}

/* every value by the range of its flag (values.h), the ranges the CLI parses
 * them with; the model flags by pcnn_config_check (channels and the image
 * size come from the data later) */
static int check_opts(const pcnn_train_opts_t *o, char *err) {
  const struct {
    const char *flag;
    const pcnn_irange_t *range;
    long long v;
  } ints[] = {{"--batch", &PCNN_V_BATCH, o->batch},        {"--epochs", &PCNN_V_EPOCHS, o->epochs},
              {"--limit", &PCNN_V_LIMIT, o->limit},        {"--test-limit", &PCNN_V_LIMIT, o->test_limit},
              {"--binarize", &PCNN_V_BINARIZE, o->binarize}, {"--steps", &PCNN_V_STEPS, o->steps ? o->steps : 1}};
  char why[PCNN_ERR_LEN];
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if (pcnn_value_int_ok(ints[i].range, ints[i].v, why)) return pcnn_errf(err, "%s: %s", ints[i].flag, why);
  if (pcnn_value_real_ok(&PCNN_V_LR, o->lr, why)) return pcnn_errf(err, "--lr: %s", why);
  if (!o->out || !*o->out) return pcnn_errf(err, "--out: no checkpoint path given");
  pcnn_config_t early = pcnn_config_default();
  early.channels = o->channels ? o->channels : 1;
  early.filters = o->filters, early.depth = o->depth, early.head = o->head;
  return pcnn_config_check(&early, err);
}

/* --resume: loads *m and takes the run values the checkpoint recorded into *o
 * (data into data_buf); returns a pcnn_run_status_t */
static int resume_from(pcnn_model_t *m, pcnn_train_opts_t *o, pcnn_ckpt_extra_t *old, char *data_buf,
                       char *err) {
  int has_opt = 0;
  char why[PCNN_ERR_LEN];
  if (pcnn_ckpt_load(o->resume, m, 0, &has_opt, old, why))
    return pcnn_errf(err, "--resume: %s", why), PCNN_RUN_FAILED;
  int rc = PCNN_RUN_OK;
  const char *v;
  long long x;
  uint64_t sd;
#define AGREE(bit, flag, mine, theirs)                                                                   \
  if (!rc && (o->given & (bit)) && (long long)(mine) != (long long)(theirs))                             \
    rc = PCNN_RUN_BAD_REQUEST, pcnn_errf(err, "%s %lld disagrees with the checkpoint %s (%lld)", flag,   \
                                         (long long)(mine), o->resume, (long long)(theirs));
#define META(key, ok)                                                                                    \
  if (!rc && (v = pcnn_ckpt_extra_get(old, key)) && !(ok))                                               \
    rc = PCNN_RUN_FAILED, pcnn_errf(err, "--resume: %s: metadata %s: %s", o->resume, key, why);
  if (!has_opt)
    rc = PCNN_RUN_FAILED, pcnn_errf(err, "--resume: %s has no optimizer state (written without it)", o->resume);
  AGREE(PCNN_GIVEN_FILTERS, "--filters", o->filters, m->cfg.filters)
  AGREE(PCNN_GIVEN_DEPTH, "--depth", o->depth, m->cfg.depth)
  AGREE(PCNN_GIVEN_HEAD, "--head", o->head, m->cfg.head)
  /* the data order and batch come from the checkpoint so the run continues
   * exactly; each value read is checked by the range of its flag */
  META("batch", pcnn_value_int(&PCNN_V_BATCH, v, &x, why) == 0)
  if (!rc && v) {
    AGREE(PCNN_GIVEN_BATCH, "--batch", o->batch, x)
    o->batch = (int)x;
  }
  META("seed", pcnn_value_u64(v, &sd, why) == 0)
  if (!rc && v) {
    AGREE(PCNN_GIVEN_SEED, "--seed", o->seed, sd)
    o->seed = sd;
  }
  META("binarize", pcnn_value_int(&PCNN_V_BINARIZE, v, &x, why) == 0)
  if (!rc && v) {
    AGREE(PCNN_GIVEN_BINARIZE, "--binarize", o->binarize, x)
    o->binarize = (int)x;
  }
  META("steps_per_epoch", pcnn_value_int(&PCNN_V_STEPS, v, &x, why) == 0)
  if (!rc && v && !o->steps) o->steps = (int)x;
  META("limit", pcnn_value_int(&PCNN_V_LIMIT, v, &x, why) == 0)
  if (!rc && v && !o->limit) o->limit = (int)x;
  if (!rc && (v = pcnn_ckpt_extra_get(old, "data")) && strcmp(o->data, pcnn_train_opts_default().data) == 0) {
    if (!*v) {
      rc = PCNN_RUN_FAILED, pcnn_errf(err, "--resume: %s: metadata data is empty (give --data)", o->resume);
    } else {
      snprintf(data_buf, PCNN_MAX_PATH + 1, "%s", v);
      o->data = data_buf;
    }
  }
#undef META
#undef AGREE
  if (rc) {
    pcnn_model_free(m);
    return rc;
  }
  if (o->given & PCNN_GIVEN_LR) m->hp.lr = o->lr;
  return PCNN_RUN_OK;
}

/* the run values a checkpoint of this run records (all but "epoch") */
static int set_metadata(pcnn_ckpt_extra_t *x, const pcnn_train_opts_t *o, int spe, const pcnn_plan_t *plan) {
  char v[64], p[256];
  int bad = pcnn_ckpt_extra_set(x, "data", o->data);
  snprintf(v, sizeof v, "%d", o->binarize), bad |= pcnn_ckpt_extra_set(x, "binarize", v);
  snprintf(v, sizeof v, "%d", o->batch), bad |= pcnn_ckpt_extra_set(x, "batch", v);
  snprintf(v, sizeof v, "%llu", (unsigned long long)o->seed), bad |= pcnn_ckpt_extra_set(x, "seed", v);
  snprintf(v, sizeof v, "%d", spe), bad |= pcnn_ckpt_extra_set(x, "steps_per_epoch", v);
  snprintf(v, sizeof v, "%d", o->limit), bad |= pcnn_ckpt_extra_set(x, "limit", v);
  bad |= pcnn_ckpt_extra_set(x, "kernels", pcnn_isa_name(pcnn_kernels_isa()));
  pcnn_plan_str(plan, p, sizeof p);
  bad |= pcnn_ckpt_extra_set(x, "plan", p);
  return bad;
}

/* the CSV log: --log /dev/null (a character device) is taken as it is;
 * a resumed run appends, and writes the header only to an empty file */
static FILE *open_log(const char *path, int append, char *err) {
  struct stat st;
  char why[PCNN_ERR_LEN];
  const int is_dev = stat(path, &st) == 0 && S_ISCHR(st.st_mode);
  if (!is_dev && pcnn_prepare_output(path, why)) return pcnn_errf(err, "--log: %s", why), NULL;
  FILE *f = fopen(path, append ? "a" : "w");
  if (!f) return pcnn_errf(err, "--log: %s: %s", path, strerror(errno)), NULL;
  if (!append || ftell(f) == 0)
    fprintf(f, "step,epoch,train_nll_nats,train_bpd,test_nll_nats,test_bpd,images_per_s,wall_s\n");
  fflush(f);
  return f;
}

/* what a run holds: freed in one place */
typedef struct {
  pcnn_ckpt_extra_t meta, old; /* this run's metadata; the resumed checkpoint's (~130 KB each) */
  char data[PCNN_MAX_PATH + 1]; /* the resumed checkpoint's data */
} tables_t;

int pcnn_train(pcnn_train_result_t *res, const pcnn_train_opts_t *opts, const pcnn_train_hooks_t *hooks,
               char err[PCNN_ERR_LEN]) {
  static const pcnn_train_hooks_t none = {0};
  const pcnn_train_hooks_t *h = hooks ? hooks : &none;
  pcnn_train_opts_t o = *opts;
  if (!o.data) o.data = pcnn_train_opts_default().data;
  memset(res, 0, sizeof *res);
  res->train_nll = res->test_nll = NAN;
  if (check_opts(&o, err)) return PCNN_RUN_BAD_REQUEST;
  tables_t *tb = calloc(1, sizeof *tb);
  if (!tb) return pcnn_errf(err, "out of memory"), PCNN_RUN_FAILED;

  pcnn_model_t m;
  char why[PCNN_ERR_LEN];
  int rc, have_model = 0;
  if (o.resume) {
    if ((rc = resume_from(&m, &o, &tb->old, tb->data, err))) goto done_tables;
    have_model = 1;
  }
  pcnn_dataset_t tr = {0}, te = {0};
  if (pcnn_data_open_train_test(&tr, &te, o.data, o.limit, o.test_limit, why)) {
    pcnn_errf(err, "--data: %s", why);
    rc = PCNN_RUN_FAILED;
    goto done;
  }
  if (o.channels && o.channels != tr.c) {
    pcnn_errf(err, "--channels %d but %s has %d-channel images", o.channels, tr.name, tr.c);
    rc = PCNN_RUN_BAD_REQUEST;
    goto done;
  }
  if (o.resume) {
    if (pcnn_data_fits(&tr, &m, err)) {
      rc = PCNN_RUN_FAILED;
      goto done;
    }
  } else {
    const pcnn_config_t cfg = {tr.c, o.filters, o.depth, o.head, tr.h, tr.w};
    if (pcnn_model_init(&m, &cfg, o.seed, 0, err)) {
      rc = PCNN_RUN_BAD_REQUEST;
      goto done;
    }
    have_model = 1;
    m.hp.lr = o.lr;
  }
  const pcnn_config_t cfg = m.cfg;
  const int batch = o.batch;
  const int spe = o.steps ? o.steps : (tr.n / batch > 0 ? tr.n / batch : 1);
  const long total = (long)spe * o.epochs;
  if (o.resume && m.opt.step >= total) {
    pcnn_errf(err, "--epochs %d: %s is already at step %ld (epoch %ld of %d steps); nothing to train: give "
              "--epochs above %ld", o.epochs, o.resume, m.opt.step, m.opt.step / spe, spe, m.opt.step / spe);
    rc = PCNN_RUN_BAD_REQUEST;
    goto done;
  }
  if (pcnn_model_reserve(&m, batch, why)) {
    pcnn_errf(err, "--batch: %s", why);
    rc = PCNN_RUN_FAILED;
    goto done;
  }
  pcnn_plan_t plan;
  if (pcnn_plan_apply_file(&m, &plan, o.plan, o.plan_label, err)) {
    rc = PCNN_RUN_FAILED;
    goto done;
  }
  if (o.plan && *o.plan && h->plan) h->plan(h->ctx, o.plan, &plan);
  if (set_metadata(&tb->meta, &o, spe, &m.plan)) {
    pcnn_errf(err, "--data: '%.200s...' is too long to record in the checkpoint", o.data);
    rc = PCNN_RUN_BAD_REQUEST;
    goto done;
  }
  /* --out and --log are checked before the first step, not after an epoch */
  if (pcnn_prepare_output(o.out, why)) {
    pcnn_errf(err, "--out: %s", why);
    rc = PCNN_RUN_FAILED;
    goto done;
  }
  FILE *log = NULL;
  if (o.log && !(log = open_log(o.log, o.resume != NULL, err))) {
    rc = PCNN_RUN_FAILED;
    goto done;
  }

  const size_t img = (size_t)cfg.height * cfg.width * cfg.channels;
  float *in = malloc((size_t)batch * img * sizeof(float)); /* (batch,H,W,C) */
  int32_t *idx = malloc((size_t)batch * sizeof(int32_t));
  stream_t st = {tr.n, o.seed, -1, malloc((size_t)tr.n * sizeof(int32_t))};
  if (!in || !idx || !st.perm) {
    pcnn_errf(err, "out of memory");
    rc = PCNN_RUN_FAILED;
    goto done_log;
  }
  if (h->start) {
    const pcnn_train_start_t s = {tr.name, tr.n, te.n, cfg, m.nparams, o.binarize, batch, spe, o.epochs,
                                  m.opt.step};
    h->start(h->ctx, &s);
  }
  const double t_start = now_s();
  const long step0 = m.opt.step;
  double epoch_nll = 0;
  int epoch_steps = 0;
  char v[64];
  while (m.opt.step < total && !(o.stop && *o.stop)) {
    const long t = m.opt.step;
    const int epoch = (int)(t / spe);
    for (int j = 0; j < batch; j++) idx[j] = stream_at(&st, t * batch + j);
    pcnn_data_batch_f32(in, &tr, idx, batch, o.binarize, NULL);
    const double nll = pcnn_model_train_step(&m, in, batch) / batch;
    if (!isfinite(nll)) {
      /* the step already moved the weights: stop before anything is saved */
      pcnn_errf(err, "the loss is %g at step %ld (epoch %d): training diverged; %s keeps the last good "
                "checkpoint (try a smaller --lr)", nll, m.opt.step, epoch + 1, o.out);
      rc = PCNN_RUN_DIVERGED;
      break;
    }
    epoch_nll += nll;
    epoch_steps++;
    const double el = now_s() - t_start;
    const double ips = (double)(m.opt.step - step0) * batch / el;
    if (h->step) {
      const pcnn_train_step_t s = {m.opt.step, epoch, o.epochs, spe, total, nll, el, ips};
      h->step(h->ctx, &s);
    }
    if (m.opt.step % spe == 0) {
      /* end of an epoch: test NLL, CSV row, checkpoint */
      double test;
      if (pcnn_eval_nll(&test, NULL, &m, &te, te.n, batch, o.binarize, h->eval, h->ctx, err)) {
        rc = PCNN_RUN_FAILED;
        break;
      }
      const double train = epoch_nll / epoch_steps;
      if (!isfinite(test)) {
        pcnn_errf(err, "the test NLL is %g after step %ld (epoch %d): the model diverged; %s keeps the last "
                  "good checkpoint (try a smaller --lr)", test, m.opt.step, epoch + 1, o.out);
        rc = PCNN_RUN_TEST_DIVERGED;
        break;
      }
      if (log) {
        fprintf(log, "%ld,%d,%.6f,%.6f,%.6f,%.6f,%.2f,%.2f\n", m.opt.step, epoch + 1, train,
                pcnn_bits_per_dim(train, &cfg), test, pcnn_bits_per_dim(test, &cfg), ips, now_s() - t_start);
        fflush(log);
      }
      snprintf(v, sizeof v, "%d", epoch + 1), pcnn_ckpt_extra_set(&tb->meta, "epoch", v);
      if (save_checked(o.out, &m, &tb->meta, why)) {
        pcnn_errf(err, "--out: %s", why);
        rc = PCNN_RUN_FAILED;
        break;
      }
      res->epochs_done++;
      res->train_nll = train;
      res->test_nll = test;
      if (h->epoch) {
        const pcnn_train_epoch_t e = {epoch + 1, m.opt.step, train, test, o.out};
        h->epoch(h->ctx, &e);
      }
      epoch_nll = 0;
      epoch_steps = 0;
    }
  }
  if (o.stop && *o.stop && rc == PCNN_RUN_OK) {
    res->stopped = 1;
    snprintf(v, sizeof v, "%ld", m.opt.step / spe), pcnn_ckpt_extra_set(&tb->meta, "epoch", v);
    rc = save_checked(o.out, &m, &tb->meta, err) ? PCNN_RUN_FAILED : PCNN_RUN_STOPPED;
  }
done_log:
  if (log) fclose(log);
  free(in);
  free(idx);
  free(st.perm);
done:
  res->step = have_model ? m.opt.step : 0;
  if (have_model) pcnn_model_free(&m);
  pcnn_dataset_free(&tr);
  pcnn_dataset_free(&te);
done_tables:
  free(tb);
  return rc;
}
