/* check.h: `pixelcnn check`: every SIMD kernel of the kernel list that this
 * CPU runs, against its reference twin and (for the convolutions) oneDNN, on
 * the seed model's layer shapes; prints per op x variant the max relative
 * error, the time and the useful GFLOP/s. */
#ifndef PCNN_CHECK_H
#define PCNN_CHECK_H

#include <stdio.h>

/* batch: images per conv problem (28x28). Returns the number of failures. */
int pcnn_check_run(FILE *out, int batch);

#endif
