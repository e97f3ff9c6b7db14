/* cli.h: what the commands of the pixelcnn program share: the one-line
 * errors, the flag parsers (by the ranges of values.h, the same that check a
 * checkpoint's metadata), the flags several commands take (--threads, --isa,
 * --plan) and the plan table. Program code only: not part of libpcnn. */
#ifndef PCNN_CLI_H
#define PCNN_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"
#include "values.h"

extern const char *g_cmd;      /* the command, for "pixelcnn CMD: ..." */
extern const char *g_plan_path; /* --plan FILE, or NULL */
extern pcnn_prec_t g_precision; /* --precision (fp32 unless given) */
extern int g_precision_given;
/* getopt_long's code of --precision (long option only) */
#define PCNN_OPT_PRECISION 1001
#define PCNN_PRECISION_OPTION {"precision", 1, 0, PCNN_OPT_PRECISION}
#define PCNN_PRECISION_HELP \
  "  --precision fp32|bf16  fp32 (default), or bf16: convolutions multiply bf16-rounded\n" \
  "                       operands, add in fp32 (README: Precision)\n"

/* one line "pixelcnn CMD: ..." naming the flag or file; returns code */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int fail(int code, const char *fmt, ...);
/* the exit status of a library run (pcnn_run_status_t, eval.h) */
int exit_status(int run);
double now_s(void);
/* -1 after one line naming the flag */
int flag_int(const char *flag, const char *s, const pcnn_irange_t *r, int *out);
int flag_real(const char *flag, const char *s, const pcnn_rrange_t *r, double *out);
int flag_seed(const char *s, uint64_t *out);
/* caps the kernel level at s: 0, 1 if s is not a level, 2 if this CPU cannot run it */
int set_isa(const char *s);
/* --threads N, --isa LEVEL, --plan FILE, --precision P (getopt's 't', 'i',
 * 'P', PCNN_OPT_PRECISION); -1 after a line */
int common_flag(int o, const char *s);
/* --plan FILE, else $PIXELCNN_PLAN, else NULL; *label names where it came from */
const char *plan_file(const char **label);
void plan_line(void *ctx, const char *path, const pcnn_plan_t *p);
/* the model's plan per role and direction, its element-wise levels, and the
 * kernels that hand a layer's shape to the reference */
void print_plan(FILE *f, const pcnn_model_t *m);
void fmt_duration(char *b, size_t n, double s);

/* the commands of cli_tools.c */
int cmd_info(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_check(int argc, char **argv);

#endif
