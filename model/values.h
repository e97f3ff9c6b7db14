/* values.h: the one definition of every number a user passes as a flag or a
 * file carries in its metadata, and the strict parsers that check them.
 *
 * A flag and the checkpoint metadata that records it are checked by the same
 * range, so a value the command line rejects is rejected in a file too, and
 * the message gives the same range.  Parsers return 0, or -1 with the reason
 * (without a prefix: the caller names the flag or the file and key), e.g.
 *   pcnn_value_int(&PCNN_V_BATCH, "0", &b, why)  ->  "'0' is not an integer in 1..4096"
 * Integers: optional '-', decimal digits, nothing else (no spaces, no '+',
 * no trailing junk).  Reals: strtod's syntax, finite, nothing after it.
 */
#ifndef PCNN_VALUES_H
#define PCNN_VALUES_H

#include <stdint.h>

#include "pcnn_err.h"

typedef struct {
  const char *name;
  long long lo, hi;
} pcnn_irange_t;

typedef struct {
  const char *name;
  double lo, hi;
  int lo_open, hi_open; /* 1: the bound itself is excluded */
} pcnn_rrange_t;

/* the model (also checked by pcnn_config_check) */
extern const pcnn_irange_t PCNN_V_CHANNELS;   /* 1..3 (and not 2) */
extern const pcnn_irange_t PCNN_V_FILTERS;    /* 2..4096, even */
extern const pcnn_irange_t PCNN_V_DEPTH;      /* 0..256 */
extern const pcnn_irange_t PCNN_V_SIDE;       /* image height / width: 1..4096 (data files too) */
/* the training run (flags of train, and its checkpoint metadata) */
extern const pcnn_irange_t PCNN_V_BATCH;      /* 1..4096 */
extern const pcnn_irange_t PCNN_V_EPOCHS;     /* 1..1000000 (also the metadata "epoch", from 0) */
extern const pcnn_irange_t PCNN_V_STEPS;      /* steps per epoch 1..2^30 */
extern const pcnn_irange_t PCNN_V_LIMIT;      /* 0 (all) ..2^30 */
extern const pcnn_irange_t PCNN_V_BINARIZE;   /* 0..1 */
extern const pcnn_irange_t PCNN_V_STEP;       /* Nadam steps taken 0..2^50 */
extern const pcnn_irange_t PCNN_V_THREADS;    /* 1..1024 */
extern const pcnn_irange_t PCNN_V_SAMPLES;    /* sample --n 1..4096 */
/* Nadam hyper-parameters and state */
extern const pcnn_rrange_t PCNN_V_LR;         /* (0, 10] */
extern const pcnn_rrange_t PCNN_V_BETA;       /* [0, 1) */
extern const pcnn_rrange_t PCNN_V_EPS;        /* (0, 1] */
extern const pcnn_rrange_t PCNN_V_MOMENTUM_DECAY; /* [0, 100] */
extern const pcnn_rrange_t PCNN_V_MU_PRODUCT; /* [0, 1]: starts at 1, underflows to 0 after ~7000 steps */
/* sampling and plans */
extern const pcnn_rrange_t PCNN_V_TEMPERATURE; /* [1e-6, 1000]: logits / T stay finite floats */
extern const pcnn_rrange_t PCNN_V_PLAN_MS;    /* a plan's measured time: [0, 1e9] ms */

/* longest --data path or name a checkpoint can record */
#define PCNN_MAX_PATH 4095

int pcnn_value_int(const pcnn_irange_t *r, const char *s, long long *out, char why[PCNN_ERR_LEN]);
/* range check of an integer already in memory (a library caller's option) */
int pcnn_value_int_ok(const pcnn_irange_t *r, long long v, char why[PCNN_ERR_LEN]);
int pcnn_value_real(const pcnn_rrange_t *r, const char *s, double *out, char why[PCNN_ERR_LEN]);
/* range check of a value already in memory (finite and in range) */
int pcnn_value_real_ok(const pcnn_rrange_t *r, double v, char why[PCNN_ERR_LEN]);
/* a seed: decimal digits only, 0..2^64-1 */
int pcnn_value_u64(const char *s, uint64_t *out, char why[PCNN_ERR_LEN]);

#endif /* PCNN_VALUES_H */
