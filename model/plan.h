/* plan.h: which kernel level runs each conv layer of the model.
 *
 * The model's conv layers fall into six roles; each role has one shape per
 * model config and three directions (forward, backward-data,
 * backward-weights). A plan picks, per role and direction, the kernel level
 * (ref, avx2, avx512: the rows of kernels/kernel_list.h) that runs it. The
 * element-wise ops (PReLU, add, the loss heads, Nadam: pcnn_op_elementwise)
 * have one level each (elem[op]), used by every path that runs them. A model
 * takes every kernel from its plan (model.h), never from the process-wide
 * table.
 *
 * A plan has a precision (pcnn_kernels.h): fp32, or bf16, where the conv
 * entries name bf16 levels (ref: the bf16 reference, avx512bf16) and the
 * element-wise ones stay FP32 levels. Plan files say "precision bf16" (no
 * line: fp32); the one-line form ends in " precision=bf16" (nothing for
 * fp32, so FP32 plans read as they always did).
 *
 * Default plan (no tuning): every entry is the process-wide level
 * (pcnn_kernels_isa(): the best this CPU runs, or PIXELCNN_ISA / --isa), so a
 * run never depends on timing noise. `pixelcnn tune` measures every level that
 * passes verification against the reference on this machine, for the model's
 * shapes, thread count and batch, and writes a plan file; runs given that file
 * (--plan FILE or PIXELCNN_PLAN) use it as it is. The plan in use is recorded
 * in checkpoints (metadata "plan").
 */
#ifndef PCNN_PLAN_H
#define PCNN_PLAN_H

#include <stdio.h>

#include "pcnn_err.h"
#include "pcnn_kernels.h"

enum { PCNN_ROLE_IN, PCNN_ROLE_CONV1, PCNN_ROLE_CONV2, PCNN_ROLE_CONV3, PCNN_ROLE_OUT, PCNN_ROLE_HEAD, PCNN_ROLES };
enum { PCNN_DIR_FWD, PCNN_DIR_BWD_DATA, PCNN_DIR_BWD_WEIGHTS, PCNN_DIRS };

typedef struct {
  pcnn_isa_t isa[PCNN_ROLES][PCNN_DIRS];
  double ms[PCNN_ROLES][PCNN_DIRS]; /* measured time of the chosen kernel; 0 if not tuned */
  pcnn_isa_t elem[PCNN_OP_COUNT];   /* level of each element-wise op (others unused) */
  double elem_ms[PCNN_OP_COUNT];
  int threads, batch;               /* what it was tuned for; 0 if not tuned */
  pcnn_prec_t prec;                 /* the conv entries' precision */
  char source[256];                 /* "default (avx512)" or the plan file */
} pcnn_plan_t;

const char *pcnn_role_name(int role);
const char *pcnn_dir_name(int dir);
/* 1 if the role runs the fused 1x1 + PReLU ops, 0 if the masked conv ops */
int pcnn_role_fused(int role);

/* 1 for the element-wise ops (prelu_*, add_*, the loss heads, nadam_update):
 * their plan entries are "elem <op> <level> <ms>" lines, optional in a plan
 * file (a missing one is the process-wide level) */
int pcnn_op_elementwise(int op);

/* every entry at the process-wide level */
void pcnn_plan_default(pcnn_plan_t *p);
/* the same in precision prec: for bf16, the conv entries at
 * pcnn_bf16_level(process-wide level) */
void pcnn_plan_default_prec(pcnn_plan_t *p, pcnn_prec_t prec);
/* NULL if a default plan of precision prec runs here, else why not (static):
 * bf16 with no bf16 SIMD level on this CPU, unless the process-wide level
 * is ref (the bf16 reference then runs, slowly) */
const char *pcnn_prec_unavailable(pcnn_prec_t prec);
/* compact one-line form, for checkpoint metadata and logs:
 * "in=avx512/avx512/avx512 conv1=... " (fwd/bwd_data/bwd_weights), then
 * "elem=avx512" (all element-wise ops at one level) or
 * "elem=prelu_fwd:avx512,prelu_bwd:ref,..." */
void pcnn_plan_str(const pcnn_plan_t *p, char *buf, size_t n);
int pcnn_plan_save(const char *path, const pcnn_plan_t *p, char err[PCNN_ERR_LEN]);
int pcnn_plan_load(const char *path, pcnn_plan_t *p, char err[PCNN_ERR_LEN]);

#endif
