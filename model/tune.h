/* tune.h: `pixelcnn tune`: for a model's layer shapes at batch n and the
 * current thread count, measures every kernel level that passes
 * verification against the reference (check.h's harness) and fills plan
 * with the fastest per role and direction (best of reps runs), and per
 * element-wise op on a (n, H, W, F) activation. It times the op the model
 * runs, read from the role's first layer record (its forward kernel, or the
 * fused 1x1 + PReLU's backward). In precision bf16 the conv entries are
 * chosen among the bf16 levels (the bf16 reference and the SIMD bf16 rows,
 * verified against the bf16 reference), the element-wise ones among the
 * FP32 levels. Progress lines go to log (may be NULL). */
#ifndef PCNN_TUNE_H
#define PCNN_TUNE_H

#include <stdio.h>

#include "model.h"
#include "plan.h"

void pcnn_tune_plan(const pcnn_model_t *m, int n, int reps, pcnn_prec_t prec, FILE *log, pcnn_plan_t *plan);

#endif /* PCNN_TUNE_H */
