/* check.c: see check.h. Tolerances are the test suite's: forward 1e-5,
 * gradients 1e-4, relative to the largest |reference| of the tensor. A row
 * whose kernel hands the shape to the reference (pcnn_kernel_falls_back)
 * says so: its error is then 0 and its time the reference's. */
#include "check.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "onednn.h"
#include "pcnn_kernels.h"
#include "pcnn_tolerance.h"
#include "rng.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float *rnd(size_t n, uint64_t seed, float lo, float hi) {
  float *p = malloc(n * sizeof(float));
  pcnn_rng_t r;
  pcnn_rng_seed(&r, seed);
  for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * pcnn_rng_float(&r);
  return p;
}

static float *dup(const float *x, size_t n) {
  float *p = malloc(n * sizeof(float));
  memcpy(p, x, n * sizeof(float));
  return p;
}

/* max |a - b| / max |b| */
static double relerr(const float *a, const float *b, size_t n) {
  double md = 0, mb = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = fabs((double)a[i] - b[i]);
    md = d > md || d != d ? d : md;
    mb = fabs(b[i]) > mb ? fabs(b[i]) : mb;
  }
  return md != md ? INFINITY : md / (mb > 1e-30 ? mb : 1e-30);
}

typedef struct {
  const char *name;
  pcnn_conv_t c;
} shape_t;

/* one problem: runs a kernel (fn) on fresh copies of the inputs; returns seconds */
typedef struct problem problem_t;
struct problem {
  int op;
  pcnn_conv_t c;
  size_t p;  /* pixels (N*H*W) */
  int ch;    /* channels for the pointwise ops */
  float *in, *w, *b, *alpha, *dout, *pre, *t, *x2; /* inputs */
  void *wbf;       /* gemm_acc: w (cin, cout) packed for bf16 (pcnn_gemm_pack_b) */
  pcnn_prec_t prec; /* the precision of the kernel call_op runs (gemm_acc's b) */
  size_t nout[3];                                   /* output sizes */
  float *out[3];                                    /* outputs of the last run */
  double flops;                                     /* useful FLOPs */
};

/* 1 if op has a harness below (call_op and make_problem know its operands) */
static int known_op(int op) { return op >= 0 && op < PCNN_OP_COUNT; }

static void reset_outputs(problem_t *P) {
  for (int i = 0; i < 3; i++)
    if (P->nout[i]) memset(P->out[i], 0, P->nout[i] * sizeof(float));
}

/* one call of the kernel on the problem (outputs as they are: see run_op):
 * the one adapter per op from the problem's operands to its signature */
static void call_op(problem_t *P, void (*fn)(void)) {
  const pcnn_conv_t *c = &P->c;
  switch ((pcnn_op_t)P->op) {
    case PCNN_OP_conv_fwd: ((pcnn_conv_fwd_fn *)fn)(P->out[0], P->in, P->w, P->b, c); break;
    case PCNN_OP_conv_bwd_data: ((pcnn_conv_bwd_data_fn *)fn)(P->out[0], P->dout, P->w, c); break;
    case PCNN_OP_conv_bwd_weights:
      ((pcnn_conv_bwd_weights_fn *)fn)(P->out[0], P->out[1], P->dout, P->in, c);
      break;
    case PCNN_OP_conv1x1_prelu_fwd:
      ((pcnn_conv1x1_prelu_fwd_fn *)fn)(P->out[0], P->out[1], P->in, P->w, P->b, P->alpha, c);
      break;
    case PCNN_OP_conv_prelu_fwd: /* the residual input on 1x1s, as in the model */
      ((pcnn_conv_prelu_fwd_fn *)fn)(P->out[0], P->out[1], P->in, P->w, P->b, c->k == 1 ? P->x2 : NULL,
                                     P->alpha, c);
      break;
    case PCNN_OP_conv1x1_prelu_bwd_data:
      ((pcnn_conv1x1_prelu_bwd_data_fn *)fn)(P->out[0], P->dout, P->pre, P->w, P->alpha, c);
      break;
    case PCNN_OP_conv1x1_prelu_bwd_weights:
      ((pcnn_conv1x1_prelu_bwd_weights_fn *)fn)(P->out[0], P->out[1], P->out[2], P->dout, P->pre, P->in,
                                                P->alpha, c);
      break;
    case PCNN_OP_prelu_fwd: ((pcnn_prelu_fwd_fn *)fn)(P->out[0], P->in, P->alpha, P->p, P->ch); break;
    case PCNN_OP_prelu_bwd:
      ((pcnn_prelu_bwd_fn *)fn)(P->out[0], P->out[1], P->dout, P->in, P->alpha, P->p, P->ch);
      break;
    case PCNN_OP_add_fwd: ((pcnn_add_fwd_fn *)fn)(P->out[0], P->in, P->x2, P->p * P->ch); break;
    case PCNN_OP_add_bwd: ((pcnn_add_bwd_fn *)fn)(P->out[0], P->out[1], P->dout, P->p * P->ch); break;
    case PCNN_OP_bernoulli_loss:
      P->out[1][0] = (float)((pcnn_bernoulli_loss_fn *)fn)(P->out[0], P->in, P->t, P->p, P->ch, 0.5f);
      break;
    case PCNN_OP_softmax256_loss:
      P->out[1][0] = (float)((pcnn_softmax256_loss_fn *)fn)(P->out[0], P->in, P->t, P->p, P->ch, 0.5f);
      break;
    case PCNN_OP_nadam_update: {
      /* params, m, v start as copies of the inputs */
      memcpy(P->out[0], P->in, P->nout[0] * 4);
      memcpy(P->out[1], P->x2, P->nout[0] * 4);
      memcpy(P->out[2], P->pre, P->nout[0] * 4);
      for (size_t i = 0; i < P->nout[0]; i++) P->out[2][i] = fabsf(P->out[2][i]);
      pcnn_nadam_state_t st = {4, 0.5};
      pcnn_nadam_hparams_t hp = pcnn_nadam_defaults();
      const pcnn_nadam_coef_t k = pcnn_nadam_begin_step(&st, &hp);
      ((pcnn_nadam_update_fn *)fn)(P->out[0], P->out[1], P->out[2], P->dout, P->nout[0], &k);
      break;
    }
    case PCNN_OP_gemm_acc: /* the caching sampler's C += A B: (pixels x cin) (cin x cout), B packed */
      ((pcnn_gemm_acc_fn *)fn)(P->out[0], P->in, P->prec == PCNN_PREC_BF16 ? P->wbf : (const void *)P->w,
                               (int)P->p, c->cout, c->cin, c->cin, c->cout, c->cout, NULL);
      break;
    case PCNN_OP_COUNT: break;
  }
}

/* outputs zeroed, then one call: the result to compare */
static void run_op(problem_t *P, void (*fn)(void)) {
  reset_outputs(P);
  call_op(P, fn);
}

/* max over outputs i < k with b[i] of relerr(a[i], b[i], n[i]) */
static double max_relerr(float *const a[], float *const b[], const size_t n[], int k) {
  double e = 0;
  for (int i = 0; i < k; i++)
    if (b[i]) e = fmax(e, relerr(a[i], b[i], n[i]));
  return e;
}

/* the rows of a precision's list */
static const pcnn_kernel_row_t *rows_of(pcnn_prec_t prec, int *n) {
  *n = prec == PCNN_PREC_BF16 ? pcnn_kernel_row_count_bf16 : pcnn_kernel_row_count;
  return prec == PCNN_PREC_BF16 ? pcnn_kernel_rows_bf16 : pcnn_kernel_rows;
}

/* the reference twin of op in precision prec (NULL: op has none) */
static void (*ref_of_prec(int op, pcnn_prec_t prec))(void) {
  int n;
  const pcnn_kernel_row_t *rows = rows_of(prec, &n);
  for (int i = 0; i < n; i++)
    if (rows[i].op == op && rows[i].isa == PCNN_ISA_REF) return rows[i].fn;
  return NULL;
}

/* ref[i]: copies of the reference twin's outputs on the problem */
static void ref_outputs_prec(problem_t *P, pcnn_prec_t prec, float *ref[3]) {
  P->prec = prec; /* and for the rows of that precision run next */
  run_op(P, ref_of_prec(P->op, prec));
  for (int i = 0; i < 3; i++) ref[i] = P->nout[i] ? dup(P->out[i], P->nout[i]) : NULL;
}
static void ref_outputs(problem_t *P, float *ref[3]) { ref_outputs_prec(P, PCNN_PREC_FP32, ref); }

/* best of reps runs, each from zeroed outputs; only the call is timed (the
 * zeroing of the 25 MB softmax256 gradient took longer than the kernel) */
static double time_op(problem_t *P, void (*fn)(void), int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    reset_outputs(P);
    const double t0 = now_s();
    call_op(P, fn);
    const double dt = now_s() - t0;
    best = dt < best ? dt : best;
  }
  return best;
}

static void make_problem(problem_t *P, int op, const pcnn_conv_t *c, uint64_t seed) {
  memset(P, 0, sizeof *P);
  P->op = op;
  P->c = *c;
  P->p = (size_t)c->n * c->h * c->w;
  const size_t nin = P->p * c->cin, nout = P->p * c->cout, nw = (size_t)c->k * c->k * c->cin * c->cout;
  /* the inputs read as activations (in, x2, dout) hold any of the op's
   * tensors; softmax256_loss reads 256 logits per pixel (one channel) */
  const size_t nmax = nin > nout ? nin : nout;
  const size_t nbig = op == PCNN_OP_softmax256_loss && P->p * 256 > nmax ? P->p * 256 : nmax;
  P->in = rnd(nbig, seed, -1, 1);
  P->x2 = rnd(nbig, seed + 1, -1, 1);
  P->w = rnd(nw, seed + 2, -0.5f, 0.5f);
  float *mask = malloc(nw * sizeof(float));
  pcnn_mask_fill(mask, c);
  for (size_t i = 0; i < nw; i++) P->w[i] *= mask[i];
  free(mask);
  P->b = rnd(c->cout, seed + 3, -0.5f, 0.5f);
  P->alpha = rnd(c->cout > c->cin ? c->cout : c->cin, seed + 4, 0.1f, 0.4f);
  P->dout = rnd(nbig, seed + 5, -1, 1);
  P->pre = rnd(nmax, seed + 6, -1, 1);
  P->t = rnd(nmax, seed + 7, 0, 1);
  P->flops = 2 * pcnn_conv_useful_macs(c);
  P->ch = c->cout;
  /* what each op writes (the switch is the op's adapter: a new op is a
   * -Wswitch warning, an error here, until it has one) */
  switch ((pcnn_op_t)op) {
    case PCNN_OP_conv_fwd: P->nout[0] = nout; break;
    case PCNN_OP_conv1x1_prelu_fwd:
    case PCNN_OP_conv_prelu_fwd: P->nout[0] = P->nout[1] = nout; break;
    case PCNN_OP_conv_bwd_data:
    case PCNN_OP_conv1x1_prelu_bwd_data: P->nout[0] = nin; break;
    case PCNN_OP_conv_bwd_weights: P->nout[0] = nw, P->nout[1] = c->cout; break;
    case PCNN_OP_conv1x1_prelu_bwd_weights: P->nout[0] = nw, P->nout[1] = P->nout[2] = c->cout; break;
    case PCNN_OP_prelu_bwd: P->nout[0] = nout, P->nout[1] = c->cout, P->flops = 0; break;
    case PCNN_OP_add_bwd: P->nout[0] = P->nout[1] = nout, P->flops = 0; break;
    case PCNN_OP_softmax256_loss: P->ch = 1, P->nout[0] = P->p * 256, P->nout[1] = 1, P->flops = 0; break;
    case PCNN_OP_bernoulli_loss: P->ch = 1, P->nout[0] = P->p, P->nout[1] = 1, P->flops = 0; break;
    case PCNN_OP_nadam_update:
      P->nout[0] = P->nout[1] = P->nout[2] = nw + nout, P->flops = 0;
      free(P->in), free(P->x2), free(P->pre), free(P->dout);
      P->in = rnd(P->nout[0], seed, -1, 1), P->x2 = rnd(P->nout[0], seed + 1, -1e-2f, 1e-2f);
      P->pre = rnd(P->nout[0], seed + 6, 0, 1e-3f), P->dout = rnd(P->nout[0], seed + 5, -1, 1);
      break;
    case PCNN_OP_gemm_acc:
      P->nout[0] = P->p * c->cout, P->flops = 2.0 * P->p * c->cin * c->cout;
      P->wbf = malloc(sizeof(float) * pcnn_gemm_packed_len(PCNN_PREC_BF16, c->cin, c->cout));
      if (P->wbf) pcnn_gemm_pack_b(PCNN_PREC_BF16, P->wbf, c->cout, P->w, c->cin, c->cout, c->cout);
      break;
    case PCNN_OP_prelu_fwd:
    case PCNN_OP_add_fwd: P->nout[0] = nout, P->flops = 0; break;
    case PCNN_OP_COUNT: break;
  }
  for (int i = 0; i < 3; i++)
    if (P->nout[i]) P->out[i] = malloc(P->nout[i] * sizeof(float));
}

static void free_problem(problem_t *P) {
  free(P->in), free(P->x2), free(P->w), free(P->wbf), free(P->b), free(P->alpha), free(P->dout), free(P->pre), free(P->t);
  for (int i = 0; i < 3; i++) free(P->out[i]);
}


/* oneDNN's result for the conv ops, into dn[0..1]; 0 if done */
static int onednn_ref(problem_t *P, float **dn, char impl[64]) {
  char err[PCNN_ERR_LEN];
  if (P->op == PCNN_OP_conv_fwd) {
    dn[0] = malloc(P->nout[0] * 4);
    return pcnn_dnnl_conv(PCNN_DNNL_FWD, &P->c, dn[0], P->in, P->w, P->b, impl, err);
  }
  if (P->op == PCNN_OP_conv_bwd_data) {
    dn[0] = malloc(P->nout[0] * 4);
    return pcnn_dnnl_conv(PCNN_DNNL_BWD_DATA, &P->c, dn[0], P->dout, P->w, NULL, impl, err);
  }
  if (P->op == PCNN_OP_conv_bwd_weights) {
    dn[0] = malloc(P->nout[0] * 4), dn[1] = malloc(P->nout[1] * 4);
    const int rc = pcnn_dnnl_conv(PCNN_DNNL_BWD_WEIGHTS, &P->c, dn[0], P->dout, P->in, dn[1], impl, err);
    /* the masked conv's weight gradient is oneDNN's times the mask */
    float *mask = malloc(P->nout[0] * 4);
    pcnn_mask_fill(mask, &P->c);
    for (size_t i = 0; i < P->nout[0]; i++) dn[0][i] *= mask[i];
    free(mask);
    return rc;
  }
  return 1;
}

int pcnn_op_index(const char *name) {
  for (int op = 0; op < pcnn_op_count(); op++)
    if (!strcmp(pcnn_op_name(op), name)) return op;
  return -1;
}

double pcnn_op_tolerance(int op) {
  switch ((pcnn_op_t)op) {
    case PCNN_OP_conv_bwd_data: case PCNN_OP_conv_bwd_weights: case PCNN_OP_prelu_bwd:
    case PCNN_OP_conv1x1_prelu_bwd_data: case PCNN_OP_conv1x1_prelu_bwd_weights: case PCNN_OP_add_bwd:
    case PCNN_OP_bernoulli_loss: case PCNN_OP_softmax256_loss: return PCNN_TOL_GRAD;
    case PCNN_OP_conv_fwd: case PCNN_OP_prelu_fwd: case PCNN_OP_conv1x1_prelu_fwd: case PCNN_OP_add_fwd:
    case PCNN_OP_nadam_update: case PCNN_OP_gemm_acc: case PCNN_OP_conv_prelu_fwd: case PCNN_OP_COUNT: break;
  }
  return PCNN_TOL_FWD;
}

int pcnn_kernel_measure_prec(int op, pcnn_prec_t prec, const pcnn_conv_t *c, int reps,
                             double ms[PCNN_ISA_COUNT], double err[PCNN_ISA_COUNT]) {
  void (*fn[PCNN_ISA_COUNT])(void) = {0};
  int n = 0, nrows;
  const pcnn_kernel_row_t *rows = rows_of(prec, &nrows);
  for (int i = 0; i < nrows; i++) {
    const pcnn_isa_t isa = rows[i].isa;
    if (rows[i].op == op && pcnn_isa_supported(isa)) fn[isa] = rows[i].fn;
  }
  for (int isa = 0; isa < PCNN_ISA_COUNT; isa++) ms[isa] = err[isa] = -1;
  if (!known_op(op) || !ref_of_prec(op, prec)) return 0;
  /* one problem for every level, the reference's result computed once */
  problem_t P;
  make_problem(&P, op, c, 4242 + op);
  float *ref[3];
  ref_outputs_prec(&P, prec, ref);
  for (int isa = 0; isa < PCNN_ISA_COUNT; isa++) {
    if (!fn[isa]) continue;
    ms[isa] = 1e3 * time_op(&P, fn[isa], reps);
    err[isa] = max_relerr(P.out, ref, P.nout, 3);
    n++;
  }
  for (int i = 0; i < 3; i++) free(ref[i]);
  free_problem(&P);
  return n;
}

int pcnn_kernel_measure(int op, const pcnn_conv_t *c, int reps, double ms[PCNN_ISA_COUNT],
                        double err[PCNN_ISA_COUNT]) {
  return pcnn_kernel_measure_prec(op, PCNN_PREC_FP32, c, reps, ms, err);
}

int pcnn_check_run(FILE *out, int batch) {
  const shape_t conv_shapes[] = {
      {"7x7A 1->128", {batch, 28, 28, 1, 128, 7, PCNN_MASK_A, 1, 0}},
      {"3x3B 64->64", {batch, 28, 28, 64, 64, 3, PCNN_MASK_B, 1, 0}},
      {"1x1B 64->128", {batch, 28, 28, 64, 128, 1, PCNN_MASK_B, 1, 0}},
      {"7x7A 3->120 RGB", {batch, 28, 28, 3, 120, 7, PCNN_MASK_A, 3, 0}},
      {"3x3B 60->60 RGB", {batch, 28, 28, 60, 60, 3, PCNN_MASK_B, 3, 0}},
  };
  /* the last: the out layers of an F = 256 model, whose backward-data
   * kernel falls back to the reference (its packed weights do not fit); one
   * 14x14 image, as the reference weight gradient takes ~0.25 s per 28x28 */
  const shape_t pw_shapes[] = {
      {"1x1B 128->64", {batch, 28, 28, 128, 64, 1, PCNN_MASK_B, 1, 0}},
      {"1x1B 128->128", {batch, 28, 28, 128, 128, 1, PCNN_MASK_B, 1, 0}},
      {"1x1B 120->60 RGB", {batch, 28, 28, 120, 60, 1, PCNN_MASK_B, 3, 0}},
      {"256->256 14x14 N1", {1, 14, 14, 256, 256, 1, PCNN_MASK_B, 1, 0}},
  };
  const shape_t el_shapes[] = {{"P x 128", {batch, 28, 28, 128, 128, 1, PCNN_MASK_B, 1, 0}},
                               {"P x 13", {batch, 7, 5, 13, 13, 1, PCNN_MASK_B, 1, 0}}};
  int fails = 0, rows = 0, fallbacks = 0;
  fprintf(out, "pixelcnn check: batch %d, 28x28, %d threads; error = max|y - ref| / max|ref|\n", batch,
          omp_get_max_threads());
  fprintf(out, "%-26s %-17s %-7s %10s %10s %10s %9s %8s  %s\n", "op", "shape", "variant", "err(ref)",
          "err(dnnl)", "ref(dnnl)", "time ms", "GFLOP/s", "");
  for (int op = 0; op < pcnn_op_count(); op++) {
    const char *name = pcnn_op_name(op);
    if (!known_op(op)) {
      fprintf(out, "%-26s (no check harness for this op yet: covered by the test suite only)\n", name);
      continue;
    }
    const shape_t *shapes;
    int ns;
    switch ((pcnn_op_t)op) {
      case PCNN_OP_conv_fwd: case PCNN_OP_conv_bwd_data: case PCNN_OP_conv_bwd_weights:
      case PCNN_OP_conv_prelu_fwd: shapes = conv_shapes, ns = 5; break;
      case PCNN_OP_conv1x1_prelu_fwd: case PCNN_OP_conv1x1_prelu_bwd_data:
      case PCNN_OP_conv1x1_prelu_bwd_weights: shapes = pw_shapes, ns = 4; break;
      default: shapes = el_shapes, ns = 2; break;
    }
    const double tol = pcnn_op_tolerance(op);
    for (int s = 0; s < ns; s++) {
      problem_t P;
      make_problem(&P, op, &shapes[s].c, 1000 + 17 * op + s);
      float *ref[3];
      ref_outputs(&P, ref);
      float *dn[2] = {0};
      char impl[64] = "";
      const double ref_dn = onednn_ref(&P, dn, impl) ? -1 : max_relerr(ref, dn, P.nout, 2);
      for (int r = 0; r < pcnn_kernel_row_count; r++) {
        const pcnn_kernel_row_t *row = &pcnn_kernel_rows[r];
        if (row->op != op || !pcnn_isa_supported(row->isa)) continue;
        const double t = time_op(&P, row->fn, 3);
        const double e = max_relerr(P.out, ref, P.nout, 3);
        const double ed = ref_dn >= 0 ? max_relerr(P.out, dn, P.nout, 2) : -1;
        const int bad = !(e <= tol) || (ed >= 0 && !(ed <= 1e-4));
        /* 1: this kernel runs the reference on this shape */
        const int fb = pcnn_kernel_falls_back((pcnn_op_t)op, row->isa, &shapes[s].c) == 1;
        fails += bad;
        fallbacks += fb;
        rows++;
        char eds[16] = "n/a", rds[16] = "n/a", gf[16] = "";
        if (ed >= 0) snprintf(eds, sizeof eds, "%.2e", ed);
        if (ref_dn >= 0) snprintf(rds, sizeof rds, "%.2e", ref_dn);
        if (P.flops > 0) snprintf(gf, sizeof gf, "%.1f", P.flops / t / 1e9);
        char note[64] = "";
        if (fb) snprintf(note, sizeof note, "  (%s: falls back to ref for this shape)", pcnn_isa_name(row->isa));
        fprintf(out, "%-26s %-17s %-7s %10.2e %10s %10s %9.3f %8s  %s%s\n", name, shapes[s].name,
                pcnn_isa_name(row->isa), e, eds, rds, t * 1e3, gf, bad ? "FAIL" : "ok", note);
      }
      /* bf16: the SIMD rows against the bf16 reference (the FP32
       * tolerance: only the order of the additions differs); the bf16
       * reference against the FP32 one within PCNN_TOL_BF16 of max |ref|
       * (a loose form of the per-output bound the tests check) */
      float *ref16[3] = {0};
      if (pcnn_op_has_bf16(op)) ref_outputs_prec(&P, PCNN_PREC_BF16, ref16);
      for (int r = 0; r < pcnn_kernel_row_count_bf16 && ref16[0]; r++) {
        const pcnn_kernel_row_t *row = &pcnn_kernel_rows_bf16[r];
        if (row->op != op || !pcnn_isa_supported(row->isa)) continue;
        const double t = time_op(&P, row->fn, 3);
        const int is_ref = row->isa == PCNN_ISA_REF;
        const double e = max_relerr(P.out, is_ref ? ref : ref16, P.nout, 3);
        const int bad = !(e <= (is_ref ? PCNN_TOL_BF16 : tol));
        fails += bad;
        rows++;
        char gf[16] = "", var[24];
        if (P.flops > 0) snprintf(gf, sizeof gf, "%.1f", P.flops / t / 1e9);
        snprintf(var, sizeof var, "bf16:%s", pcnn_isa_name(row->isa));
        fprintf(out, "%-26s %-17s %-7s %10.2e %10s %10s %9.3f %8s  %s%s\n", name, shapes[s].name, var, e, "n/a",
                "n/a", t * 1e3, gf, bad ? "FAIL" : "ok", is_ref ? "  (err against the FP32 reference)" : "");
      }
      for (int i = 0; i < 3; i++) free(ref16[i]);
      for (int i = 0; i < 3; i++) free(ref[i]);
      free(dn[0]), free(dn[1]);
      free_problem(&P);
    }
  }
  fprintf(out, "%d of them ran a SIMD kernel that falls back to the reference for that shape\n", fallbacks);
  fprintf(out, "%d checks, %d failed (tolerance: forward 1e-5, gradients and losses 1e-4; oneDNN 1e-4)\n", rows,
          fails);
  return fails;
}
