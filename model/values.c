/* values.c: value ranges and strict parsers; see values.h. */
#include "values.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const pcnn_irange_t PCNN_V_CHANNELS = {"channels", 1, 3};
const pcnn_irange_t PCNN_V_FILTERS = {"filters", 2, 4096};
const pcnn_irange_t PCNN_V_DEPTH = {"depth", 0, 256};
const pcnn_irange_t PCNN_V_SIDE = {"image side", 1, 4096};
const pcnn_irange_t PCNN_V_BATCH = {"batch", 1, 4096};
const pcnn_irange_t PCNN_V_EPOCHS = {"epochs", 1, 1000000};
const pcnn_irange_t PCNN_V_STEPS = {"steps", 1, 1LL << 30};
const pcnn_irange_t PCNN_V_LIMIT = {"limit", 0, 1LL << 30};
const pcnn_irange_t PCNN_V_BINARIZE = {"binarize", 0, 1};
const pcnn_irange_t PCNN_V_STEP = {"step", 0, 1LL << 50};
const pcnn_irange_t PCNN_V_THREADS = {"threads", 1, 1024};
const pcnn_irange_t PCNN_V_SAMPLES = {"n", 1, 4096};

const pcnn_rrange_t PCNN_V_LR = {"lr", 0, 10, 1, 0};
const pcnn_rrange_t PCNN_V_BETA = {"beta", 0, 1, 0, 1};
const pcnn_rrange_t PCNN_V_EPS = {"eps", 0, 1, 1, 0};
const pcnn_rrange_t PCNN_V_MOMENTUM_DECAY = {"momentum_decay", 0, 100, 0, 0};
const pcnn_rrange_t PCNN_V_MU_PRODUCT = {"mu_product", 0, 1, 0, 0};
const pcnn_rrange_t PCNN_V_TEMPERATURE = {"temperature", 1e-6, 1000, 0, 0};
const pcnn_rrange_t PCNN_V_PLAN_MS = {"ms", 0, 1e9, 0, 0};

static int int_fail(const pcnn_irange_t *r, const char *s, char *why) {
  return pcnn_errf(why, "'%.64s%s' is not an integer in %lld..%lld", s, strlen(s) > 64 ? "..." : "",
                   r->lo, r->hi);
}

int pcnn_value_int(const pcnn_irange_t *r, const char *s, long long *out, char why[PCNN_ERR_LEN]) {
  if (!s) return pcnn_errf(why, "missing value (want an integer in %lld..%lld)", r->lo, r->hi);
  const char *p = s + (*s == '-');
  if (*p < '0' || *p > '9') return int_fail(r, s, why);
  char *end;
  errno = 0;
  const long long v = strtoll(s, &end, 10);
  if (errno || *end || v < r->lo || v > r->hi) return int_fail(r, s, why);
  *out = v;
  return 0;
}

int pcnn_value_int_ok(const pcnn_irange_t *r, long long v, char why[PCNN_ERR_LEN]) {
  if (v >= r->lo && v <= r->hi) return 0;
  return pcnn_errf(why, "%lld is not an integer in %lld..%lld", v, r->lo, r->hi);
}

static void range_str(char *b, size_t n, const pcnn_rrange_t *r) {
  snprintf(b, n, "%s%g, %g%s", r->lo_open ? "(" : "[", r->lo, r->hi, r->hi_open ? ")" : "]");
}

int pcnn_value_real_ok(const pcnn_rrange_t *r, double v, char why[PCNN_ERR_LEN]) {
  if (isfinite(v) && !(v < r->lo || v > r->hi || (r->lo_open && v == r->lo) ||
                       (r->hi_open && v == r->hi)))
    return 0;
  char b[64];
  range_str(b, sizeof b, r);
  return pcnn_errf(why, "%.17g is not a finite number in %s", v, b);
}

int pcnn_value_real(const pcnn_rrange_t *r, const char *s, double *out, char why[PCNN_ERR_LEN]) {
  char b[64];
  range_str(b, sizeof b, r);
  if (!s || !*s || strchr(" \t\n\r\f\v", *s))
    return pcnn_errf(why, "'%.64s' is not a number in %s", s ? s : "", b);
  char *end;
  errno = 0;
  const double v = strtod(s, &end);
  /* overflow gives inf and fails the range; an underflow (ERANGE with a
   * subnormal or 0) is judged by the range like any other value */
  if (end == s || *end || pcnn_value_real_ok(r, v, NULL))
    return pcnn_errf(why, "'%.64s%s' is not a finite number in %s", s, strlen(s) > 64 ? "..." : "", b);
  *out = v;
  return 0;
}

int pcnn_value_u64(const char *s, uint64_t *out, char why[PCNN_ERR_LEN]) {
  if (!s || *s < '0' || *s > '9')
    return pcnn_errf(why, "'%.64s' is not a non-negative integer", s ? s : "");
  char *end;
  errno = 0;
  const unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return pcnn_errf(why, "'%.64s' is not an integer in 0..2^64-1", s);
  *out = v;
  return 0;
}
