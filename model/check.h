/* check.h: `pixelcnn check`: every SIMD kernel of the kernel list that this
 * CPU runs, against its reference twin and (for the convolutions) oneDNN, on
 * the seed model's layer shapes (and the 1x1 of an F = 256 model); prints per
 * op x variant the max relative error, the time and the useful GFLOP/s, and
 * marks the rows whose kernel hands that shape to the reference
 * ("avx512: falls back to ref for this shape", pcnn_kernel_falls_back). */
#ifndef PCNN_CHECK_H
#define PCNN_CHECK_H

#include <stdio.h>

#include "pcnn_kernels.h"

/* Runs every kernel level of op that this CPU has on shape c (one problem:
 * random data, masked weights; the reference twin's result computed once):
 * for level i, ms[i] = the best of reps timed runs and err[i] = the max
 * relative error against the reference, or both -1 if level i has no kernel
 * here. Returns the number of levels measured. */
int pcnn_kernel_measure(int op, const pcnn_conv_t *c, int reps, double ms[PCNN_ISA_COUNT],
                        double err[PCNN_ISA_COUNT]);
/* the same over the rows of precision prec (bf16: the bf16 rows, against
 * the bf16 reference) */
int pcnn_kernel_measure_prec(int op, pcnn_prec_t prec, const pcnn_conv_t *c, int reps,
                             double ms[PCNN_ISA_COUNT], double err[PCNN_ISA_COUNT]);
/* op index by name, -1 if none */
int pcnn_op_index(const char *name);
/* tolerance of an op (pcnn_tolerance.h): forward PCNN_TOL_FWD, gradients and losses PCNN_TOL_GRAD */
double pcnn_op_tolerance(int op);

/* batch: images per conv problem (28x28). Returns the number of failures. */
int pcnn_check_run(FILE *out, int batch);

#endif
