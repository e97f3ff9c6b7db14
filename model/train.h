/* train.h: a training run (`pixelcnn train`) as one library call.
 *
 * pcnn_train() trains a PixelCNN with Nadam (minibatches of the mean NLL per
 * image) on the train split of a data set:
 *
 *   data order  step t trains on positions [t*B, t*B + B) of an endless
 *               stream; position p is image perm_q[p % n] of the n training
 *               images, q = p / n, perm_q a permutation seeded by (seed, q).
 *               The batch of step t depends only on (seed, t), so a resumed
 *               run sees what an uninterrupted one would have seen, and ends
 *               bitwise identical to it.
 *   epochs      steps_per_epoch steps each; after each: the test NLL (first
 *               test_limit test images), a row of the CSV log, and an atomic
 *               checkpoint with the optimizer state (only finite weights are
 *               ever written: a diverged run keeps the last good checkpoint).
 *   metadata    the checkpoint records the run: data, binarize, batch, seed,
 *               steps_per_epoch, limit, kernels, plan, epoch (epochs done).
 *   resume      from a checkpoint with optimizer state: its model, Nadam state
 *               and step; its batch, seed and binarize (each checked by its
 *               flag's range, values.h; a value the caller gave must agree);
 *               its steps_per_epoch and limit unless given (non-zero); its
 *               data unless data is another than the default; its lr unless
 *               given. epochs counts the checkpoint's epochs too.
 *   stops       a loss or test NLL that is not finite ends the run before
 *               anything is saved; *stop (set by a signal handler, say) ends
 *               it after the current step, with a checkpoint.
 *   ranks       with dist (size R > 1): every rank runs pcnn_train with the
 *               same options; rank 0's are broadcast at start and a rank
 *               whose differ ends the run (BAD_REQUEST, on every rank). Step
 *               t's global batch is the one above; rank r trains on its
 *               share (pcnn_dist_share: whole gradient groups) and the ranks
 *               combine gradients (pcnn_dist_train_step): every rank holds
 *               the same model, bitwise the one-process model when R is a
 *               power of two dividing the groups. The test NLL is sharded
 *               (rank r its share of the test images; sums added in rank
 *               order). Only rank 0 writes the CSV and the checkpoints and
 *               calls the hooks' step/eval/epoch lines; a stop on any rank
 *               stops all after the same step. A checkpoint does not record
 *               R: it resumes on any number of ranks.
 *
 * It never prints: the hooks get the progress, err the reason of a failure
 * (one line naming the flag or file; flags are the options' names).
 */
#ifndef PCNN_TRAIN_H
#define PCNN_TRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "dist.h"
#include "eval.h"
#include "model.h"
#include "pcnn_err.h"

/* bits of pcnn_train_opts_t.given: values the caller chose (flag: --filters, ...) */
enum {
  PCNN_GIVEN_FILTERS = 1 << 0,
  PCNN_GIVEN_DEPTH = 1 << 1,
  PCNN_GIVEN_HEAD = 1 << 2,
  PCNN_GIVEN_BATCH = 1 << 3,
  PCNN_GIVEN_SEED = 1 << 4,
  PCNN_GIVEN_BINARIZE = 1 << 5,
  PCNN_GIVEN_LR = 1 << 6,
  PCNN_GIVEN_PRECISION = 1 << 7,
};

typedef struct {
  const char *data;      /* --data: name or path (data.h) */
  int binarize;          /* --binarize: 0/1 */
  int limit, test_limit; /* --limit, --test-limit: first N train / test images, 0 = all */
  int channels;          /* --channels: 1 or 3, 0 = the data's */
  int filters, depth, head; /* --filters, --depth, --head (PCNN_HEAD_*) */
  int batch;             /* --batch */
  int epochs;            /* --epochs: in total, the resumed ones included */
  int steps;             /* --steps per epoch, 0 = one pass over the training images */
  double lr;             /* --lr */
  uint64_t seed;         /* --seed: initialisation and data order */
  const char *out;       /* --out: checkpoint (required) */
  const char *log;       /* --log: CSV, one row per epoch; NULL: none */
  const char *resume;    /* --resume: checkpoint to continue, or NULL */
  const char *plan, *plan_label; /* kernel plan file or NULL; its name in errors */
  pcnn_prec_t precision; /* --precision: fp32 (default) or bf16 (recorded in the checkpoint) */
  unsigned given;        /* PCNN_GIVEN_*: on resume these must agree with the checkpoint */
  volatile sig_atomic_t *stop; /* may be NULL; see "stops" */
  const pcnn_dist_t *dist; /* the ranks of a data-parallel run (dist.h), or NULL: one process */
} pcnn_train_opts_t;

/* The defaults of every option, the one table of them (the seed's model:
 * pcnn_config_default(); lr: pcnn_nadam_defaults()). */
pcnn_train_opts_t pcnn_train_opts_default(void);

/* what the hooks are told */
typedef struct {
  const char *data;          /* the data set's name */
  int train_n, test_n;       /* images */
  pcnn_config_t cfg;
  size_t nparams;
  int binarize, batch, steps_per_epoch, epochs;
  long step;                 /* the first step: 0, or the checkpoint's */
  pcnn_prec_t precision;
} pcnn_train_start_t;

typedef struct {
  long step;                 /* steps taken, this one included */
  int epoch;                 /* this step's epoch, from 0 */
  int epochs, steps_per_epoch;
  long total;                /* steps of the whole run: steps_per_epoch * epochs */
  double nll;                /* this step's loss, nats per image */
  double seconds;            /* since the first step of this run started */
  double images_per_s;       /* trained by this run so far */
} pcnn_train_step_t;

typedef struct {
  int epoch;                 /* epochs done, the resumed ones included */
  long step;
  double train_nll;          /* mean of this epoch's step losses, nats per image */
  double test_nll;           /* nats per image */
  const char *out;           /* where the checkpoint was written */
} pcnn_train_epoch_t;

typedef struct {
  void *ctx;
  pcnn_plan_fn plan;         /* a plan file was applied */
  /* everything is checked and allocated; the first step comes next */
  void (*start)(void *ctx, const pcnn_train_start_t *s);
  void (*step)(void *ctx, const pcnn_train_step_t *s);   /* after each step with a finite loss */
  pcnn_progress_fn eval;     /* the test NLL: images done of images (pcnn_eval_nll) */
  void (*epoch)(void *ctx, const pcnn_train_epoch_t *e); /* after each epoch's checkpoint */
} pcnn_train_hooks_t;

typedef struct {
  long step;                 /* Nadam steps of the model when the run ended */
  int epochs_done;           /* of this run, at epoch ends */
  double train_nll, test_nll; /* of the last epoch done (nats per image); NAN if none */
  int stopped;               /* *stop ended the run (the save may have failed: then FAILED) */
} pcnn_train_result_t;

/* Runs the training o describes; hooks (and each of them) may be NULL.
 * Returns a pcnn_run_status_t: OK, FAILED, BAD_REQUEST (a value out of its
 * range, a model flag that disagrees with the --resume checkpoint, nothing
 * left to train, ...), DIVERGED, TEST_DIVERGED or STOPPED. */
int pcnn_train(pcnn_train_result_t *res, const pcnn_train_opts_t *o, const pcnn_train_hooks_t *hooks,
               char err[PCNN_ERR_LEN]);

#endif /* PCNN_TRAIN_H */
