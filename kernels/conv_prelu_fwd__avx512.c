/* conv_prelu_fwd__avx512.c: masked k x k conv + residual + PReLU, forward.
 * Contract: pcnn_conv_prelu_fwd_fn (pcnn_kernels.h): pre = masked_conv(in, w)
 * + b (+ res), out = prelu(pre, alpha). The forward engines of
 * conv_simd_common.h (direct over the kept taps, or row-im2col for few input
 * channels) with the add and the PReLU in the register-tile epilogue: the
 * tile is stored as pre and, through the PReLU, as out, in one pass, so the
 * model does not re-read pre to apply the PReLU or write a separate sum.
 * k == 1 runs on the pointwise GEMM tile (pw_conv1x1.h) with the same
 * epilogue; the direct engine only when its packed weights do not fit. */
#include "pw_simd__avx512.h"
#include "conv_simd_common.h"
#include "pw_conv1x1.h"

void pcnn_conv_prelu_fwd__avx512(float *pre, float *out, const float *in, const float *w,
                               const float *b, const float *res, const float *alpha,
                               const pcnn_conv_t *c) {
  if (c->k == 1 && pcnn_conv1x1_res_prelu_fwd__avx512(pre, out, in, w, b, res, alpha, c)) return;
  const cv_epi_t e = {res, out, alpha};
  cv_conv_fwd(pre, in, w, b, &e, c);
}
