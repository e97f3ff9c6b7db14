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
  long pass;     /* whose permutation perm holds; -1 none yet */
  int32_t *perm; /* (n) */
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

/* everything a run holds, freed by run_free */
typedef struct {
  pcnn_train_opts_t o;          /* the caller's, with the resumed checkpoint's run values */
  pcnn_model_t m;
  int have_model;
  pcnn_dataset_t tr, te;
  int spe;                      /* steps per epoch */
  long total;                   /* steps of the whole run */
  FILE *log;
  float *in;                    /* (batch,H,W,C) */
  int32_t *idx;                 /* (batch) */
  stream_t st;
  pcnn_ckpt_extra_t meta;       /* what this run's checkpoints record (~130 KB) */
  pcnn_ckpt_extra_t old;        /* the resumed checkpoint's metadata */
  pcnn_dist_t dist;             /* the ranks (o.dist, or one process) */
  int i0, i1;                   /* this rank's images of each batch */
  char data[PCNN_MAX_PATH + 1]; /* the resumed checkpoint's data */
} run_t;

static void run_free(run_t *r) {
  if (r->log) fclose(r->log);
  free(r->in);
  free(r->idx);
  free(r->st.perm);
  if (r->have_model) pcnn_model_free(&r->m);
  pcnn_dataset_free(&r->tr);
  pcnn_dataset_free(&r->te);
  free(r);
}

/* every value by the range of its flag (values.h), the ranges the program
 * parses the flags with; the model flags by pcnn_config_check (channels and
 * the image size come from the data later) */
static int check_opts(const pcnn_train_opts_t *o, char *err) {
  const struct {
    const char *flag;
    const pcnn_irange_t *range;
    long long v;
  } ints[] = {{"--batch", &PCNN_V_BATCH, o->batch},
              {"--epochs", &PCNN_V_EPOCHS, o->epochs},
              {"--limit", &PCNN_V_LIMIT, o->limit},
              {"--test-limit", &PCNN_V_LIMIT, o->test_limit},
              {"--binarize", &PCNN_V_BINARIZE, o->binarize}};
  char why[PCNN_ERR_LEN];
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if (pcnn_value_int_ok(ints[i].range, ints[i].v, why)) return pcnn_errf(err, "%s: %s", ints[i].flag, why);
  if (o->steps != 0 && pcnn_value_int_ok(&PCNN_V_STEPS, o->steps, why)) return pcnn_errf(err, "--steps: %s", why);
  if (pcnn_value_real_ok(&PCNN_V_LR, o->lr, why)) return pcnn_errf(err, "--lr: %s", why);
  if (!o->out || !*o->out) return pcnn_errf(err, "--out: no checkpoint path given");
  pcnn_config_t early = pcnn_config_default();
  early.channels = o->channels ? o->channels : 1;
  early.filters = o->filters, early.depth = o->depth, early.head = o->head;
  return pcnn_config_check(&early, err);
}

/* a run value the checkpoint recorded, checked by the range of its flag:
 * 1 read into *x, 0 absent, -1 out of range (err names the file and key) */
static int meta_int(long long *x, const run_t *r, const char *key, const pcnn_irange_t *range, char *err) {
  const char *v = pcnn_ckpt_extra_get(&r->old, key);
  char why[PCNN_ERR_LEN];
  if (!v) return 0;
  if (pcnn_value_int(range, v, x, why))
    return pcnn_errf(err, "--resume: %s: metadata %s: %s", r->o.resume, key, why);
  return 1;
}

/* 1 if the caller gave a value (bit of o.given) that the checkpoint's contradicts */
static int disagrees(const run_t *r, unsigned bit, const char *flag, long long mine, long long theirs,
                     char *err) {
  if (!(r->o.given & bit) || mine == theirs) return 0;
  pcnn_errf(err, "%s %lld disagrees with the checkpoint %s (%lld)", flag, mine, r->o.resume, theirs);
  return 1;
}

/* --resume: the model, and the run values the checkpoint recorded into r->o;
 * returns a pcnn_run_status_t */
static int resume(run_t *r, char *err) {
  pcnn_train_opts_t *o = &r->o;
  int has_opt = 0, got;
  long long x;
  char why[PCNN_ERR_LEN];
  if (pcnn_ckpt_load(o->resume, &r->m, 0, &has_opt, &r->old, why)) {
    pcnn_errf(err, "--resume: %s", why);
    return PCNN_RUN_FAILED;
  }
  r->have_model = 1;
  if (!has_opt) {
    pcnn_errf(err, "--resume: %s has no optimizer state (written without it)", o->resume);
    return PCNN_RUN_FAILED;
  }
  if (disagrees(r, PCNN_GIVEN_FILTERS, "--filters", o->filters, r->m.cfg.filters, err) ||
      disagrees(r, PCNN_GIVEN_DEPTH, "--depth", o->depth, r->m.cfg.depth, err) ||
      disagrees(r, PCNN_GIVEN_HEAD, "--head", o->head, r->m.cfg.head, err))
    return PCNN_RUN_BAD_REQUEST;
  /* the data order and batch come from the checkpoint, so the run continues exactly */
  if ((got = meta_int(&x, r, "batch", &PCNN_V_BATCH, err)) < 0) return PCNN_RUN_FAILED;
  if (got && disagrees(r, PCNN_GIVEN_BATCH, "--batch", o->batch, x, err)) return PCNN_RUN_BAD_REQUEST;
  if (got) o->batch = (int)x;
  const char *v = pcnn_ckpt_extra_get(&r->old, "seed");
  uint64_t seed;
  if (v && pcnn_value_u64(v, &seed, why)) {
    pcnn_errf(err, "--resume: %s: metadata seed: %s", o->resume, why);
    return PCNN_RUN_FAILED;
  }
  if (v && disagrees(r, PCNN_GIVEN_SEED, "--seed", (long long)o->seed, (long long)seed, err))
    return PCNN_RUN_BAD_REQUEST;
  if (v) o->seed = seed;
  if ((got = meta_int(&x, r, "binarize", &PCNN_V_BINARIZE, err)) < 0) return PCNN_RUN_FAILED;
  if (got && disagrees(r, PCNN_GIVEN_BINARIZE, "--binarize", o->binarize, x, err)) return PCNN_RUN_BAD_REQUEST;
  if (got) o->binarize = (int)x;
  /* steps per epoch and the limit unless given */
  if ((got = meta_int(&x, r, "steps_per_epoch", &PCNN_V_STEPS, err)) < 0) return PCNN_RUN_FAILED;
  if (got && !o->steps) o->steps = (int)x;
  if ((got = meta_int(&x, r, "limit", &PCNN_V_LIMIT, err)) < 0) return PCNN_RUN_FAILED;
  if (got && !o->limit) o->limit = (int)x;
  /* the data set unless another than the default is given */
  if ((v = pcnn_ckpt_extra_get(&r->old, "data")) && strcmp(o->data, pcnn_train_opts_default().data) == 0) {
    if (!*v) {
      pcnn_errf(err, "--resume: %s: metadata data is empty (give --data)", o->resume);
      return PCNN_RUN_FAILED;
    }
    snprintf(r->data, sizeof r->data, "%s", v);
    o->data = r->data;
  }
  /* the precision: the checkpoint's (none recorded: fp32), which a given
   * --precision must match (the resumed run continues the same arithmetic) */
  if ((v = pcnn_ckpt_extra_get(&r->old, "precision"))) {
    const int p = pcnn_prec_parse(v);
    if (p < 0) {
      pcnn_errf(err, "--resume: %s: metadata precision: '%.40s' is not fp32 or bf16", o->resume, v);
      return PCNN_RUN_FAILED;
    }
    if ((o->given & PCNN_GIVEN_PRECISION) && (pcnn_prec_t)p != o->precision) {
      pcnn_errf(err, "--precision %s disagrees with the checkpoint %s (%s)", pcnn_prec_name(o->precision),
                o->resume, v);
      return PCNN_RUN_BAD_REQUEST;
    }
    o->precision = (pcnn_prec_t)p;
  } else if ((o->given & PCNN_GIVEN_PRECISION) && o->precision != PCNN_PREC_FP32) {
    pcnn_errf(err, "--precision %s disagrees with the checkpoint %s (fp32: no precision recorded)",
              pcnn_prec_name(o->precision), o->resume);
    return PCNN_RUN_BAD_REQUEST;
  }
  if (o->given & PCNN_GIVEN_LR) r->m.hp.lr = o->lr;
  return PCNN_RUN_OK;
}

/* the run values a checkpoint of this run records (all but "epoch") */
static int set_metadata(pcnn_ckpt_extra_t *x, const pcnn_train_opts_t *o, int spe, const pcnn_plan_t *plan) {
  char v[64], p[256];
  int bad = pcnn_ckpt_extra_set(x, "data", o->data);
  snprintf(v, sizeof v, "%d", o->binarize);
  bad |= pcnn_ckpt_extra_set(x, "binarize", v);
  snprintf(v, sizeof v, "%d", o->batch);
  bad |= pcnn_ckpt_extra_set(x, "batch", v);
  snprintf(v, sizeof v, "%llu", (unsigned long long)o->seed);
  bad |= pcnn_ckpt_extra_set(x, "seed", v);
  snprintf(v, sizeof v, "%d", spe);
  bad |= pcnn_ckpt_extra_set(x, "steps_per_epoch", v);
  snprintf(v, sizeof v, "%d", o->limit);
  bad |= pcnn_ckpt_extra_set(x, "limit", v);
  bad |= pcnn_ckpt_extra_set(x, "kernels", pcnn_isa_name(pcnn_kernels_isa()));
  bad |= pcnn_ckpt_extra_set(x, "precision", pcnn_prec_name(o->precision));
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
  if (!is_dev && pcnn_prepare_output(path, why)) {
    pcnn_errf(err, "--log: %s", why);
    return NULL;
  }
  FILE *f = fopen(path, append ? "a" : "w");
  if (!f) {
    pcnn_errf(err, "--log: %s: %s", path, strerror(errno));
    return NULL;
  }
  if (!append || ftell(f) == 0)
    fprintf(f, "step,epoch,train_nll_nats,train_bpd,test_nll_nats,test_bpd,images_per_s,wall_s\n");
  fflush(f);
  return f;
}

/* with several ranks: the batch splits over them, and every rank runs the
 * options rank 0 runs (the resolved ones: after --resume and the data);
 * returns a pcnn_run_status_t, the same on every rank */
static int ranks_agree(run_t *r, char *err) {
  const pcnn_dist_t *d = &r->dist;
  const pcnn_train_opts_t *o = &r->o;
  if (pcnn_dist_check_batch(d, o->batch, err)) return PCNN_RUN_BAD_REQUEST;
  static const char *names[] = {"--data", "--binarize", "--limit", "--test-limit", "model (F D head C HxW)",
                                "--batch", "--epochs", "--steps", "--lr", "--seed", "--out", "--log",
                                "--resume (step)", "--plan"};
  char mine[14][PCNN_MAX_PATH + 64];
  char plan[256];
  pcnn_plan_str(&r->m.plan, plan, sizeof plan);
  const pcnn_config_t *c = &r->m.cfg;
  snprintf(mine[0], sizeof mine[0], "%s", o->data);
  snprintf(mine[1], sizeof mine[1], "%d", o->binarize);
  snprintf(mine[2], sizeof mine[2], "%d", o->limit);
  snprintf(mine[3], sizeof mine[3], "%d", o->test_limit);
  snprintf(mine[4], sizeof mine[4], "%d %d %d %d %dx%d", c->filters, c->depth, c->head, c->channels, c->height,
           c->width);
  snprintf(mine[5], sizeof mine[5], "%d", o->batch);
  snprintf(mine[6], sizeof mine[6], "%d", o->epochs);
  snprintf(mine[7], sizeof mine[7], "%d", r->spe);
  snprintf(mine[8], sizeof mine[8], "%.17g", r->m.hp.lr);
  snprintf(mine[9], sizeof mine[9], "%llu", (unsigned long long)o->seed);
  snprintf(mine[10], sizeof mine[10], "%s", o->out);
  snprintf(mine[11], sizeof mine[11], "%s", o->log ? o->log : "");
  snprintf(mine[12], sizeof mine[12], "%s (%ld)", o->resume ? o->resume : "", r->m.opt.step);
  snprintf(mine[13], sizeof mine[13], "%s", plan);
  char theirs[14][PCNN_MAX_PATH + 64];
  memcpy(theirs, mine, sizeof mine);
  if (d->bcast(d, theirs, sizeof theirs)) {
    pcnn_errf(err, "rank %d: receiving rank 0's options failed", d->rank);
    return PCNN_RUN_FAILED;
  }
  int bad = -1;
  for (int i = 0; i < 14 && bad < 0; i++)
    if (strcmp(mine[i], theirs[i]) != 0) bad = i;
  int *all = malloc(sizeof(int) * (size_t)d->size), first = -1;
  if (!all || d->allgather(d, all, &bad, sizeof bad)) {
    free(all);
    pcnn_errf(err, "rank %d: gathering the ranks' options failed", d->rank);
    return PCNN_RUN_FAILED;
  }
  for (int k = 0; k < d->size && first < 0; k++)
    if (all[k] >= 0) first = k;
  const int what = first >= 0 ? all[first] : -1;
  free(all);
  if (first < 0) return PCNN_RUN_OK;
  if (bad >= 0)
    pcnn_errf(err, "rank %d runs %s '%s' but rank 0 '%s': every rank must run the same command line",
              d->rank, names[bad], mine[bad], theirs[bad]);
  else
    pcnn_errf(err, "rank %d runs another %s than rank 0: every rank must run the same command line", first,
              names[what]);
  return PCNN_RUN_BAD_REQUEST;
}

/* everything before the first step, in the order the checks are reported:
 * options, --resume, data, model, --epochs, activations, plan, metadata,
 * --out, --log; returns a pcnn_run_status_t */
static int setup(run_t *r, const pcnn_train_hooks_t *h, char *err) {
  pcnn_train_opts_t *o = &r->o;
  char why[PCNN_ERR_LEN];
  int rc;
  if (check_opts(o, err)) return PCNN_RUN_BAD_REQUEST;
  if (o->resume && (rc = resume(r, err))) return rc;
  if (pcnn_data_open_train_test(&r->tr, &r->te, o->data, o->limit, o->test_limit, why)) {
    pcnn_errf(err, "--data: %s", why);
    return PCNN_RUN_FAILED;
  }
  if (o->channels && o->channels != r->tr.c) {
    pcnn_errf(err, "--channels %d but %s has %d-channel images", o->channels, r->tr.name, r->tr.c);
    return PCNN_RUN_BAD_REQUEST;
  }
  if (o->resume && pcnn_data_fits(&r->tr, &r->m, err)) return PCNN_RUN_FAILED;
  if (!o->resume) {
    const pcnn_config_t cfg = {r->tr.c, o->filters, o->depth, o->head, r->tr.h, r->tr.w};
    if (pcnn_model_init(&r->m, &cfg, o->seed, 0, err)) return PCNN_RUN_BAD_REQUEST;
    r->have_model = 1;
    r->m.hp.lr = o->lr;
  }
  r->spe = o->steps ? o->steps : (r->tr.n / o->batch > 0 ? r->tr.n / o->batch : 1);
  r->total = (long)r->spe * o->epochs;
  const long step = r->m.opt.step;
  if (o->resume && step >= r->total) {
    pcnn_errf(err, "--epochs %d: %s is already at step %ld (epoch %ld of %d steps); nothing to train: give "
              "--epochs above %ld", o->epochs, o->resume, step, step / r->spe, r->spe, step / r->spe);
    return PCNN_RUN_BAD_REQUEST;
  }
  if (pcnn_model_reserve(&r->m, o->batch, why)) {
    pcnn_errf(err, "--batch: %s", why);
    return PCNN_RUN_FAILED;
  }
  pcnn_plan_t plan;
  if (pcnn_plan_apply_file(&r->m, &plan, o->plan, o->plan_label, o->precision, err)) return PCNN_RUN_FAILED;
  if (o->plan && *o->plan && h->plan) h->plan(h->ctx, o->plan, &plan);
  if (set_metadata(&r->meta, o, r->spe, &r->m.plan)) {
    pcnn_errf(err, "--data: '%.200s...' is too long to record in the checkpoint", o->data);
    return PCNN_RUN_BAD_REQUEST;
  }
  if (r->dist.size > 1 && (rc = ranks_agree(r, err))) return rc;
  int g0, g1;
  pcnn_dist_share(&r->dist, o->batch, &g0, &g1, &r->i0, &r->i1);
  /* --out and --log (rank 0 writes them) are checked before the first step,
   * not after an epoch */
  if (r->dist.rank == 0 && pcnn_prepare_output(o->out, why)) {
    pcnn_errf(err, "--out: %s", why);
    return PCNN_RUN_FAILED;
  }
  if (r->dist.rank == 0 && o->log && !(r->log = open_log(o->log, o->resume != NULL, err)))
    return PCNN_RUN_FAILED;
  const size_t img = (size_t)r->m.cfg.height * r->m.cfg.width * r->m.cfg.channels;
  r->in = malloc((size_t)o->batch * img * sizeof(float));
  r->idx = malloc((size_t)o->batch * sizeof(int32_t));
  r->st = (stream_t){r->tr.n, o->seed, -1, malloc((size_t)r->tr.n * sizeof(int32_t))};
  if (!r->in || !r->idx || !r->st.perm) {
    pcnn_errf(err, "out of memory");
    return PCNN_RUN_FAILED;
  }
  return PCNN_RUN_OK;
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

/* the epochs; returns a pcnn_run_status_t */
static int loop(run_t *r, const pcnn_train_hooks_t *h, pcnn_train_result_t *res, char *err) {
  const pcnn_train_opts_t *o = &r->o;
  pcnn_model_t *m = &r->m;
  const int batch = o->batch, spe = r->spe;
  const double t_start = now_s();
  const long step0 = m->opt.step;
  double epoch_nll = 0;
  int epoch_steps = 0;
  char v[64], why[PCNN_ERR_LEN];
  const pcnn_dist_t *d = &r->dist;
  const int lead = d->rank == 0, cnt = r->i1 - r->i0; /* rank 0 logs and saves; this rank's images */
  int stopping = 0; /* every rank's: a stop on any rank stops all after the same step */
  while (m->opt.step < r->total && !stopping && !(d->size == 1 && o->stop && *o->stop)) {
    const long t = m->opt.step;
    const int epoch = (int)(t / spe);
    for (int j = 0; j < cnt; j++) r->idx[j] = stream_at(&r->st, t * batch + r->i0 + j);
    pcnn_data_batch_f32(r->in, &r->tr, r->idx, cnt, o->binarize, NULL);
    double nll;
    if (d->size == 1) {
      nll = pcnn_model_train_step(m, r->in, batch) / batch;
    } else {
      stopping = o->stop && *o->stop;
      if (pcnn_dist_train_step(&nll, &stopping, m, r->in, batch, d, err)) return PCNN_RUN_FAILED;
      nll /= batch;
    }
    if (!isfinite(nll)) {
      /* the step already moved the weights: stop before anything is saved */
      pcnn_errf(err, "the loss is %g at step %ld (epoch %d): training diverged; %s keeps the last good "
                "checkpoint (try a smaller --lr)", nll, m->opt.step, epoch + 1, o->out);
      return PCNN_RUN_DIVERGED;
    }
    epoch_nll += nll;
    epoch_steps++;
    const double el = now_s() - t_start;
    const double ips = (double)(m->opt.step - step0) * batch / el;
    if (h->step && lead) {
      const pcnn_train_step_t s = {m->opt.step, epoch, o->epochs, spe, r->total, nll, el, ips};
      h->step(h->ctx, &s);
    }
    if (m->opt.step % spe != 0) continue;
    /* the end of an epoch: test NLL, CSV row, checkpoint */
    double test;
    const int e0 = (int)((long)r->te.n * d->rank / d->size), e1 = (int)((long)r->te.n * (d->rank + 1) / d->size);
    if (pcnn_eval_nll_sum(&test, NULL, m, &r->te, e0, e1 - e0, batch, o->binarize, lead ? h->eval : NULL,
                          h->ctx, err))
      return PCNN_RUN_FAILED;
    if (pcnn_dist_sum(&test, test, d)) {
      pcnn_errf(err, "rank %d: gathering the test NLL failed", d->rank);
      return PCNN_RUN_FAILED;
    }
    test /= r->te.n;
    const double train = epoch_nll / epoch_steps;
    if (!isfinite(test)) {
      pcnn_errf(err, "the test NLL is %g after step %ld (epoch %d): the model diverged; %s keeps the last "
                "good checkpoint (try a smaller --lr)", test, m->opt.step, epoch + 1, o->out);
      return PCNN_RUN_TEST_DIVERGED;
    }
    if (r->log) {
      fprintf(r->log, "%ld,%d,%.6f,%.6f,%.6f,%.6f,%.2f,%.2f\n", m->opt.step, epoch + 1, train,
              pcnn_bits_per_dim(train, &m->cfg), test, pcnn_bits_per_dim(test, &m->cfg), ips, now_s() - t_start);
      fflush(r->log);
    }
    snprintf(v, sizeof v, "%d", epoch + 1);
    pcnn_ckpt_extra_set(&r->meta, "epoch", v);
    if (lead && save_checked(o->out, m, &r->meta, why)) {
      pcnn_errf(err, "--out: %s", why);
      return PCNN_RUN_FAILED;
    }
    res->epochs_done++;
    res->train_nll = train;
    res->test_nll = test;
    if (h->epoch && lead) {
      const pcnn_train_epoch_t e = {epoch + 1, m->opt.step, train, test, o->out};
      h->epoch(h->ctx, &e);
    }
    epoch_nll = 0;
    epoch_steps = 0;
  }
  if (!stopping && !(d->size == 1 && o->stop && *o->stop)) return PCNN_RUN_OK;
  /* stopped: the checkpoint of the step reached (epoch: the epochs done) */
  res->stopped = 1;
  snprintf(v, sizeof v, "%ld", m->opt.step / spe);
  pcnn_ckpt_extra_set(&r->meta, "epoch", v);
  return lead && save_checked(o->out, m, &r->meta, err) ? PCNN_RUN_FAILED : PCNN_RUN_STOPPED;
}

int pcnn_train(pcnn_train_result_t *res, const pcnn_train_opts_t *opts, const pcnn_train_hooks_t *hooks,
               char err[PCNN_ERR_LEN]) {
  static const pcnn_train_hooks_t none = {0};
  const pcnn_train_hooks_t *h = hooks ? hooks : &none;
  memset(res, 0, sizeof *res);
  res->train_nll = res->test_nll = NAN;
  run_t *r = calloc(1, sizeof *r);
  if (!r) {
    pcnn_errf(err, "out of memory");
    return PCNN_RUN_FAILED;
  }
  r->o = *opts;
  if (!r->o.data) r->o.data = pcnn_train_opts_default().data;
  r->dist = opts->dist ? *opts->dist : pcnn_dist_single();
  int rc = setup(r, h, err);
  if (rc == PCNN_RUN_OK) {
    if (h->start) {
      const pcnn_train_start_t s = {r->tr.name, r->tr.n,  r->te.n, r->m.cfg, r->m.nparams, r->o.binarize,
                                    r->o.batch, r->spe, r->o.epochs, r->m.opt.step, r->m.plan.prec};
      h->start(h->ctx, &s);
    }
    rc = loop(r, h, res, err);
  }
  res->step = r->have_model ? r->m.opt.step : 0;
  run_free(r);
  return rc;
}
