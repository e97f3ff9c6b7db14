/* conv_prelu_fwd_body.h: the body of pcnn_conv_prelu_fwd__avx512 and __avx2,
 * included by kernels/conv_prelu_fwd__avx512.c and __avx2.c after their
 * pw_simd__<isa>.h; PW_KERNEL(op) names the function for the ISA.
 * Contract: pcnn_conv_prelu_fwd_fn (pcnn_kernels.h): pre = masked_conv(in, w)
 * + b (+ res), out = prelu(pre, alpha). The forward of conv_direct.h (direct
 * over the kept taps, or row-im2col for few input channels), as conv_fwd,
 * with the add and the PReLU in the register-tile epilogue: the tile is
 * stored as pre and, through the PReLU, as out, in one pass, so the model
 * does not re-read pre to apply the PReLU or write a separate sum.
 * Work split: as conv_fwd, the N x H output rows; k == 1: the 1x1 tile's
 * blocks of 96 pixels (conv1x1_prelu_fwd_body.h). One writer per output.
 * k == 1 runs on the pointwise GEMM tile (pw_conv1x1.h) with the same
 * epilogue; the direct engine only when its packed weights do not fit.
 * Shapes the kernel does not support (pcnn_conv_prelu_fwd_supports__<isa>:
 * k >= 17, conv_taps.h) run on the reference. */
#include "conv_direct.h"
#include "pcnn_kernels.h"
#include "pw_conv1x1.h"

int PW_KERNEL(conv_prelu_fwd_supports)(const pcnn_conv_t *c) { return cv_taps_fit(c); }

void PW_KERNEL(conv_prelu_fwd)(float *pre, float *out, const float *in, const float *w,
                               const float *b, const float *res, const float *alpha,
                               const pcnn_conv_t *c) {
  if (!PW_KERNEL(conv_prelu_fwd_supports)(c)) {
    pcnn_conv_prelu_fwd__ref(pre, out, in, w, b, res, alpha, c);
    return;
  }
  if (c->k == 1 && PW_KERNEL(conv1x1_res_prelu_fwd)(pre, out, in, w, b, res, alpha, c)) return;
  const cv_epi_t e = {res, out, alpha,
                      (c->flags & PCNN_CONV_STREAM_PRE) && c->cout % PW_VL == 0 && (size_t)pre % 64 == 0};
  cv_conv_fwd(pre, in, w, b, &e, c);
}
