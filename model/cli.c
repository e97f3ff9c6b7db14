/* cli.c: what the commands of the pixelcnn program share (cli.h). */
#include "cli.h"

#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "eval.h"

const char *g_cmd = "pixelcnn";

/* one line "pixelcnn CMD: ..." naming the flag or file; returns code, the
 * exit status (2 usage, 1 a file or a failure) or -1 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "pixelcnn %s: ", g_cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

/* the exit status of a library run (pcnn_run_status_t, eval.h) */
int exit_status(int run) {
  return run == PCNN_RUN_OK ? 0 : run == PCNN_RUN_BAD_REQUEST ? 2 : run == PCNN_RUN_STOPPED ? 130 : 1;
}

double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* flags are checked by the ranges of values.h, the same that check a
 * checkpoint's metadata; -1 after one line naming the flag */
int flag_int(const char *flag, const char *s, const pcnn_irange_t *r, int *out) {
  char why[PCNN_ERR_LEN];
  long long v;
  if (pcnn_value_int(r, s, &v, why)) return fail(-1, "%s: %s", flag, why);
  *out = (int)v;
  return 0;
}

int flag_real(const char *flag, const char *s, const pcnn_rrange_t *r, double *out) {
  char why[PCNN_ERR_LEN];
  return pcnn_value_real(r, s, out, why) ? fail(-1, "%s: %s", flag, why) : 0;
}

int flag_seed(const char *s, uint64_t *out) {
  char why[PCNN_ERR_LEN];
  return pcnn_value_u64(s, out, why) ? fail(-1, "--seed: %s", why) : 0;
}

/* caps the kernel level at s: 0, 1 if s is not a level, 2 if this CPU cannot run it */
int set_isa(const char *s) {
  const int isa = pcnn_isa_parse(s);
  return isa < 0 ? 1 : pcnn_kernels_set_isa((pcnn_isa_t)isa) ? 2 : 0;
}

/* the flags several commands share: --threads N, --isa LEVEL, --plan FILE
 * (getopt's 't', 'i', 'P'); -1 after a line naming the flag */
const char *g_plan_path;
pcnn_prec_t g_precision;
int g_precision_given;
int common_flag(int o, const char *s) {
  int v = 0;
  if (o == 'P') g_plan_path = s;
  if (o == PCNN_OPT_PRECISION) {
    if ((v = pcnn_prec_parse(s)) < 0) return fail(-1, "--precision: '%s' is not fp32 or bf16", s);
    g_precision = (pcnn_prec_t)v, g_precision_given = 1;
    return 0;
  }
  if (o == 't') {
    if (flag_int("--threads", s, &PCNN_V_THREADS, &v)) return -1;
    omp_set_num_threads(v);
  }
  if (o != 'i' || !(v = set_isa(s))) return 0;
  if (v == 1) return fail(-1, "--isa: '%s' is not one of ref, avx2, avx512, avx512bf16", s);
  return fail(-1, "--isa: this CPU cannot run %s kernels", s);
}

/* the plan file: --plan FILE, else $PIXELCNN_PLAN, else none (the default plan) */
const char *plan_file(const char **label) {
  *label = g_plan_path ? "--plan" : "PIXELCNN_PLAN";
  return g_plan_path ? g_plan_path : getenv("PIXELCNN_PLAN");
}

void plan_line(void *ctx, const char *path, const pcnn_plan_t *p) {
  char b[512];
  (void)ctx;
  pcnn_plan_str(p, b, sizeof b);
  fprintf(stderr, "plan %s: %s\n", path, b);
}

void print_plan(FILE *f, const pcnn_model_t *m) {
  fprintf(f, "kernel plan (%s):\n  %-6s %-22s %-12s %-12s %-12s\n", m->plan.source, "layer", "shape (N=batch)",
          "fwd", "bwd_data", "bwd_weights");
  for (int r = 0; r < PCNN_ROLES; r++) {
    const pcnn_layer_t *l = pcnn_model_role_layer(m, r);
    if (!l) continue;
    const pcnn_conv_t *c = &l->c;
    char shape[64], cell[3][32];
    snprintf(shape, sizeof shape, "%dx%d%c %d->%d%s%s", c->k, c->k, c->mask == PCNN_MASK_A ? 'A' : 'B', c->cin,
             c->cout, pcnn_role_fused(r) ? " +PReLU" : "", c->groups == 3 ? " RGB" : "");
    for (int d = 0; d < PCNN_DIRS; d++) {
      if (m->plan.ms[r][d] > 0)
        snprintf(cell[d], sizeof cell[d], "%s %.2fms", pcnn_isa_name(m->plan.isa[r][d]), m->plan.ms[r][d]);
      else
        snprintf(cell[d], sizeof cell[d], "%s", pcnn_isa_name(m->plan.isa[r][d]));
    }
    fprintf(f, "  %-6s %-22s %-12s %-12s %-12s\n", pcnn_role_name(r), shape, cell[0], cell[1], cell[2]);
  }
  fprintf(f, "  element-wise:");
  for (int op = 0; op < PCNN_OP_COUNT; op++)
    if (pcnn_op_elementwise(op)) fprintf(f, " %s %s", pcnn_op_name(op), pcnn_isa_name(m->plan.elem[op]));
  fprintf(f, "\n");
  if (m->plan.batch) fprintf(f, "  (times: best of several runs at batch %d, %d threads)\n", m->plan.batch, m->plan.threads);
}

void fmt_duration(char *b, size_t n, double s) {
  if (!(s >= 0) || s > 1e7) snprintf(b, n, "?");
  else if (s < 60) snprintf(b, n, "%.0fs", s);
  else if (s < 3600) snprintf(b, n, "%dm%02ds", (int)s / 60, (int)s % 60);
  else snprintf(b, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

