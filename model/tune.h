/* tune.h: `pixelcnn tune`: for a model's layer shapes at batch n and the
 * current thread count, measures every kernel level that passes
 * verification against the reference (check.h's harness) and fills plan
 * with the fastest per role and direction (best of reps runs). It times the
 * op the model runs: the forward of in, conv2 and conv3 is conv_prelu_fwd,
 * of conv1 and out conv1x1_prelu_fwd. Progress lines go to log (may be NULL). */
#ifndef PCNN_TUNE_H
#define PCNN_TUNE_H

#include <stdio.h>

#include "model.h"
#include "plan.h"

void pcnn_tune_plan(const pcnn_model_t *m, int n, int reps, FILE *log, pcnn_plan_t *plan);

#endif /* PCNN_TUNE_H */
