/* tune.c: `pixelcnn tune`: the kernel plan measured for a model's shapes
 * (see tune.h). It lives beside check.c, whose measuring harness it uses;
 * the model itself never measures anything. */
#include "tune.h"

#include <stdio.h>

#include "check.h"

/* measures op's levels on shape c and returns the fastest that passes
 * verification in *isa / *ms (left as they are if none does); one log line
 * per level, labelled "what which" */
static void pick(pcnn_op_t op, pcnn_prec_t prec, const pcnn_conv_t *c, int reps, FILE *log, const char *what,
                 const char *which, pcnn_isa_t *isa_out, double *ms_out) {
  double best = -1, ms[PCNN_ISA_COUNT], err[PCNN_ISA_COUNT];
  pcnn_kernel_measure_prec(op, prec, c, reps, ms, err);
  for (int isa = 0; isa < PCNN_ISA_COUNT; isa++) {
    if (ms[isa] < 0) continue;
    /* a SIMD level that hands this shape to the reference is the reference
     * under another name: not a candidate */
    const int fb = pcnn_kernel_falls_back(op, (pcnn_isa_t)isa, c) == 1;
    const int ok = err[isa] <= pcnn_op_tolerance(op) && !fb;
    if (log)
      fprintf(log, "  %-6s %-16s %-7s %9.3f ms  err %.1e %s\n", what, which, pcnn_isa_name((pcnn_isa_t)isa),
              ms[isa], err[isa],
              fb ? "(falls back to ref for this shape: not used)" : ok ? "" : "(failed verification: not used)");
    if (ok && (best < 0 || ms[isa] < best)) {
      best = ms[isa];
      *isa_out = (pcnn_isa_t)isa;
      *ms_out = ms[isa];
    }
  }
}

void pcnn_tune_plan(const pcnn_model_t *m, int n, int reps, pcnn_prec_t prec, FILE *log, pcnn_plan_t *plan) {
  pcnn_plan_default_prec(plan, prec);
  for (int r = 0; r < PCNN_ROLES; r++) {
    const pcnn_layer_t *l = pcnn_model_role_layer(m, r);
    if (!l) continue;
    pcnn_conv_t c = l->c;
    c.n = n;
    /* time the op the model runs for this layer (model.h's layer record):
     * its forward kernel, or the backward of the fused 1x1 + PReLU */
    for (int d = 0; d < PCNN_DIRS; d++)
      pick(pcnn_layer_op(l, d), prec, &c, reps, log, pcnn_role_name(r), pcnn_dir_name(d), &plan->isa[r][d],
           &plan->ms[r][d]);
  }
  /* the element-wise ops on an activation of the stream: (n, H, W, F) */
  pcnn_conv_t e = m->layers[0].c;
  e.n = n;
  e.cin = e.cout = m->cfg.filters;
  e.k = 1;
  e.mask = PCNN_MASK_B;
  for (int op = 0; op < PCNN_OP_COUNT; op++)
    if (pcnn_op_elementwise(op))
      pick((pcnn_op_t)op, PCNN_PREC_FP32, &e, reps, log, "elem", pcnn_op_name(op), &plan->elem[op], &plan->elem_ms[op]);
  plan->batch = n;
  plan->threads = 0;
  snprintf(plan->source, sizeof plan->source, "tuned");
}
