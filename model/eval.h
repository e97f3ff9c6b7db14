/* eval.h: a trained checkpoint put to use: the NLL of a data set under it
 * (`pixelcnn eval`) and images drawn from it (`pixelcnn sample`).
 *
 * The runs (pcnn_eval_run, pcnn_sample_run) do what the commands do between
 * parsing their flags and writing their output files: load the checkpoint,
 * apply a kernel plan file, open and check the data, compute. They never
 * print; progress goes to callbacks, and failures to err (one line naming the
 * flag or file, like every error of the library: pcnn_err.h).
 *
 * Units: NLL in nats per image (the objective, summed over the H W C values
 * of an image); bits per dimension = nats / (H W C ln 2).
 */
#ifndef PCNN_EVAL_H
#define PCNN_EVAL_H

#include <stdint.h>

#include "checkpoint.h"
#include "data.h"
#include "dist.h"
#include "model.h"
#include "pcnn_err.h"
#include "sample.h"

/* How a run ended. The pixelcnn program exits 0 for OK, 1 for FAILED and
 * DIVERGED/TEST_DIVERGED, 2 for BAD_REQUEST and 130 for STOPPED. */
typedef enum {
  PCNN_RUN_OK = 0,
  PCNN_RUN_FAILED,        /* a file, memory or a write failed (err) */
  PCNN_RUN_BAD_REQUEST,   /* the options cannot be run as given, or contradict the checkpoint (err) */
  PCNN_RUN_DIVERGED,      /* train: a step's loss was not finite; nothing saved after it (err) */
  PCNN_RUN_TEST_DIVERGED, /* train: the test NLL after an epoch was not finite; not saved (err) */
  PCNN_RUN_STOPPED,       /* train: *stop was set; the checkpoint of the step reached is written */
} pcnn_run_status_t;

/* nats per image -> bits per dimension, nats / (H W C ln 2) */
double pcnn_bits_per_dim(double nats_per_image, const pcnn_config_t *cfg);

/* 0 if ds holds images of the size and channel count m was made for, else -1
 * and "<ds name>: images are HxWxC but the model was trained for HxWxC" */
int pcnn_data_fits(const pcnn_dataset_t *ds, const pcnn_model_t *m, char err[PCNN_ERR_LEN]);

/* 1 if the run that wrote the checkpoint binarised its data (metadata
 * "binarize" = "1"), else 0 */
int pcnn_ckpt_binarized(const pcnn_ckpt_extra_t *extra);

/* Runs m's conv layers in precision prec: as the plan file `path` says (its
 * precision must be prec), else on the default plan of that precision, and
 * copies the plan to *plan (may be NULL). On failure "<label>: <reason>"
 * (label: the flag or variable that named the file), or "--precision bf16:
 * <reason>" when this CPU has no bf16 level (the bf16 reference runs only
 * when the level is capped at ref: --isa ref). */
int pcnn_plan_apply_file(pcnn_model_t *m, pcnn_plan_t *plan, const char *path, const char *label,
                         pcnn_prec_t prec, char err[PCNN_ERR_LEN]);
/* a plan file was applied (so a program can say which) */
typedef void (*pcnn_plan_fn)(void *ctx, const char *path, const pcnn_plan_t *plan);

/* *nll = the mean NLL (nats per image) of the first `count` images of ds,
 * forwarded in order in batches of `batch` <= m->batch_cap images; with
 * logits != NULL also their logits, (count, H, W, C*K) NHWC. progress (may be
 * NULL) is called with (0, count) before the first batch and with the images
 * done after each. 0, or -1 if out of memory. */
int pcnn_eval_nll(double *nll, float *logits, pcnn_model_t *m, const pcnn_dataset_t *ds, int count,
                  int batch, int binarize, pcnn_progress_fn progress, void *ctx, char err[PCNN_ERR_LEN]);
/* the same for images [first, first + count) of ds: *sum = their summed NLL
 * (nats), logits (count, ...) if not NULL (a rank's share of a sharded
 * evaluation) */
int pcnn_eval_nll_sum(double *sum, float *logits, pcnn_model_t *m, const pcnn_dataset_t *ds, int first,
                      int count, int batch, int binarize, pcnn_progress_fn progress, void *ctx,
                      char err[PCNN_ERR_LEN]);

/* ---- pixelcnn eval ---- */
typedef struct {
  const char *ckpt;    /* checkpoint (required) */
  const char *data;    /* name or path (data.h) */
  pcnn_split_t split;
  int limit;           /* first N images, 0 = all */
  int batch;           /* images per forward */
  int binarize;        /* 0/1, or -1: as the checkpoint's run */
  int keep_logits;     /* 1: return every image's logits */
  const char *plan, *plan_label; /* plan file or NULL; its name in errors */
  pcnn_prec_t precision; /* fp32 (default) or bf16 */
  const pcnn_dist_t *dist; /* or NULL; with R ranks each evaluates its share of the images (the
                              NLL sums added in rank order) and every rank gets every logit */
} pcnn_eval_opts_t;

pcnn_eval_opts_t pcnn_eval_opts_default(void); /* fashion-mnist, test split, all, batch 32, binarize -1 */

typedef struct {
  double nll;         /* nats per image */
  double seconds;     /* of the forward passes (loading not counted) */
  int n;              /* images evaluated */
  pcnn_config_t cfg;  /* the checkpoint's model */
  int k_out;          /* logits per channel */
  char data[4096];    /* the data set's name (pcnn_dataset_t.name) */
  float *logits;      /* (n, H, W, C*K) if keep_logits, else NULL; free() it */
} pcnn_eval_result_t;

/* Checks the options by their flags' ranges (values.h), loads o->ckpt,
 * applies the plan, opens the data (checked against the model), and
 * evaluates it. Returns a pcnn_run_status_t (BAD_REQUEST: an option out of
 * range; FAILED: a file). */
int pcnn_eval_run(pcnn_eval_result_t *res, const pcnn_eval_opts_t *o, pcnn_progress_fn progress,
                  void *ctx, char err[PCNN_ERR_LEN]);

/* ---- pixelcnn sample ---- */
typedef struct {
  const char *ckpt;     /* checkpoint (required) */
  int n;                /* images */
  uint64_t seed;
  double temperature;
  int cached;           /* 1: pcnn_sample_cached, 0: pcnn_sample_naive */
  const char *prime;    /* data set whose first n test images are completed, or NULL */
  int prime_rows;       /* rows kept from them, -1: half the image (0 without prime) */
  const char *plan, *plan_label;
  pcnn_prec_t precision; /* fp32 (default) or bf16 */
  const pcnn_dist_t *dist; /* or NULL; with R ranks each draws its share of the images (the
                              same images as one process) and every rank gets them all */
} pcnn_sample_opts_t;

pcnn_sample_opts_t pcnn_sample_opts_default(void); /* 16 images, seed 1, T 1, cached, no priming */

typedef struct {
  void *ctx;
  pcnn_plan_fn plan;  /* a plan file was applied (may be NULL) */
  /* before the first draw: the model, and the primed rows resolved (may be NULL) */
  void (*start)(void *ctx, const pcnn_config_t *cfg, int prime_rows);
  pcnn_progress_fn rows; /* rows drawn of rows to draw (may be NULL) */
} pcnn_sample_hooks_t;

typedef struct {
  float *images;       /* (n, H, W, C) in [0, 1]; free() it */
  pcnn_config_t cfg;
} pcnn_sample_result_t;

/* Checks the options by their flags' ranges (values.h), loads o->ckpt,
 * applies the plan, reads the priming images (binarised if the checkpoint's
 * run was) and draws. Returns a pcnn_run_status_t (BAD_REQUEST: an option
 * out of range, or prime_rows above the image height; FAILED: a file or
 * memory). */
int pcnn_sample_run(pcnn_sample_result_t *res, const pcnn_sample_opts_t *o, const pcnn_sample_hooks_t *h,
                    char err[PCNN_ERR_LEN]);

#endif /* PCNN_EVAL_H */
