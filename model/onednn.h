/* onednn.h: oneDNN 2.6 (v2 C API) dense convolutions in our layouts, for
 * `pixelcnn check`: NHWC activations, [k][k][cin][cout] weights (hwio),
 * stride 1, padding k/2. Give it masked weights to compare with a masked conv. */
#ifndef PCNN_ONEDNN_H
#define PCNN_ONEDNN_H

#include "pcnn_err.h"
#include "pcnn_kernels.h"

enum { PCNN_DNNL_FWD = 0, PCNN_DNNL_BWD_DATA = 1, PCNN_DNNL_BWD_WEIGHTS = 2 };

/* dir FWD:          a = dst (overwritten), b = src, w = weights, bias
 * dir BWD_DATA:     a = diff_src (overwritten), b = diff_dst, w = weights
 * dir BWD_WEIGHTS:  a = diff_weights (overwritten), bias = diff_bias (overwritten),
 *                   b = diff_dst, w = src
 * impl receives oneDNN's implementation name (e.g. "jit:avx512_core"). */
int pcnn_dnnl_conv(int dir, const pcnn_conv_t *c, float *a, const float *b, const float *w,
                   float *bias, char impl[64], char err[PCNN_ERR_LEN]);

#endif
