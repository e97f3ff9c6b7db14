/* check.h: `pixelcnn check`: every SIMD kernel of the kernel list that this
 * CPU runs, against its reference twin and (for the convolutions) oneDNN, on
 * the seed model's layer shapes; prints per op x variant the max relative
 * error, the time and the useful GFLOP/s. */
#ifndef PCNN_CHECK_H
#define PCNN_CHECK_H

#include <stdio.h>

#include "pcnn_kernels.h"

/* Runs the kernel of level isa for op on shape c (random data, masked
 * weights): *err = max relative error against the reference twin, *ms = the
 * best of reps timed runs. Returns -1 if no such kernel row runs here. */
int pcnn_kernel_measure(int op, pcnn_isa_t isa, const pcnn_conv_t *c, int reps, double *ms, double *err);
/* op index by name, -1 if none */
int pcnn_op_index(const char *name);
/* tolerance of an op: forward 1e-5, gradients and losses 1e-4 */
double pcnn_op_tolerance(int op);

/* batch: images per conv problem (28x28). Returns the number of failures. */
int pcnn_check_run(FILE *out, int batch);

#endif
