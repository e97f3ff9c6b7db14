/* conv_prelu_fwd__avx512.c: masked k x k conv + residual + PReLU, forward.
 * Contract: pcnn_conv_prelu_fwd_fn (pcnn_kernels.h): pre = masked_conv(in, w)
 * + b (+ res), out = prelu(pre, alpha). The forward engines of
 * conv_simd_common.h (direct over the kept taps, or row-im2col for few input
 * channels) with the add and the PReLU in the register-tile epilogue: the
 * tile is stored as pre and, through the PReLU, as out, in one pass, so the
 * model does not re-read pre to apply the PReLU or write a separate sum. */
#include "conv_simd_common.h"

void pcnn_conv_prelu_fwd__avx512(float *pre, float *out, const float *in, const float *w,
                               const float *b, const float *res, const float *alpha,
                               const pcnn_conv_t *c) {
  const cv_epi_t e = {res, out, alpha};
  cv_conv_fwd(pre, in, w, b, &e, c);
}
