/* tune.c: `pixelcnn tune`: the kernel plan measured for a model's shapes
 * (see tune.h). It lives beside check.c, whose measuring harness it uses;
 * the model itself never measures anything. */
#include "tune.h"

#include <stdio.h>

#include "check.h"

void pcnn_tune_plan(const pcnn_model_t *m, int n, int reps, FILE *log, pcnn_plan_t *plan) {
  pcnn_plan_default(plan);
  for (int r = 0; r < PCNN_ROLES; r++) {
    const pcnn_layer_t *l = pcnn_model_role_layer(m, r);
    if (!l) continue;
    pcnn_conv_t c = l->c;
    c.n = n;
    for (int d = 0; d < PCNN_DIRS; d++) {
      /* time the op the model runs for this layer (model.h's layer record):
       * its forward kernel, or the backward of the fused 1x1 + PReLU */
      const pcnn_op_t op = pcnn_layer_op(l, d);
      double best = -1, ms[PCNN_ISA_COUNT], err[PCNN_ISA_COUNT];
      pcnn_kernel_measure(op, &c, reps, ms, err);
      for (int isa = 0; isa < PCNN_ISA_COUNT; isa++) {
        if (ms[isa] < 0) continue;
        /* a SIMD level that hands this shape to the reference is the
         * reference under another name: not a candidate */
        const int fb = pcnn_kernel_falls_back(op, (pcnn_isa_t)isa, &c) == 1;
        const int ok = err[isa] <= pcnn_op_tolerance(op) && !fb;
        if (log)
          fprintf(log, "  %-6s %-12s %-7s %9.3f ms  err %.1e %s\n", pcnn_role_name(r), pcnn_dir_name(d),
                  pcnn_isa_name((pcnn_isa_t)isa), ms[isa], err[isa],
                  fb ? "(falls back to ref for this shape: not used)"
                     : ok ? "" : "(failed verification: not used)");
        if (ok && (best < 0 || ms[isa] < best)) {
          best = ms[isa];
          plan->isa[r][d] = (pcnn_isa_t)isa;
          plan->ms[r][d] = ms[isa];
        }
      }
    }
  }
  /* the element-wise ops on an activation of the stream: (n, H, W, F) */
  pcnn_conv_t e = m->layers[0].c;
  e.n = n;
  e.cin = e.cout = m->cfg.filters;
  e.k = 1;
  e.mask = PCNN_MASK_B;
  for (int op = 0; op < PCNN_OP_COUNT; op++) {
    if (!pcnn_op_elementwise(op)) continue;
    double best = -1, ms[PCNN_ISA_COUNT], err[PCNN_ISA_COUNT];
    pcnn_kernel_measure(op, &e, reps, ms, err);
    for (int isa = 0; isa < PCNN_ISA_COUNT; isa++) {
      if (ms[isa] < 0) continue;
      const int ok = err[isa] <= pcnn_op_tolerance(op);
      if (log)
        fprintf(log, "  %-6s %-16s %-7s %9.3f ms  err %.1e %s\n", "elem", pcnn_op_name(op),
                pcnn_isa_name((pcnn_isa_t)isa), ms[isa], err[isa], ok ? "" : "(failed verification: not used)");
      if (ok && (best < 0 || ms[isa] < best)) {
        best = ms[isa];
        plan->elem[op] = (pcnn_isa_t)isa;
        plan->elem_ms[op] = ms[isa];
      }
    }
  }
  plan->batch = n;
  plan->threads = 0;
  snprintf(plan->source, sizeof plan->source, "tuned");
}
