/* conv_fwd__avx2.c: masked k x k convolution forward, AVX2+FMA (8 floats/ymm, 6 pixels x 2 ymm = 12 accumulators).
 * Contract: pcnn_conv_fwd_fn (pcnn_kernels.h): out (N,H,W,cout) =
 * masked_conv(in (N,H,W,cin), w [k][k][cin][cout]) + b; overwrites out.
 * Direct conv (engine 1 of conv_simd_common.h): only kept taps are visited,
 * and at the centre tap only the allowed colour-group blocks (input group gi
 * feeds outputs [pcnn_mask_co_begin, cout)); masked weights are never used.
 * Output channels in vectors, register-blocked over 6 pixels of a row; cout
 * tails and centre groups by masked loads/stores, taps in the zero padding
 * read a zero row. Few input channels (the first layer, cin 1 or 3): the
 * row-im2col mode gathers each output row's kept-tap inputs and runs them as
 * one tap (see cv_direct_im2col). Threads over (image, row). Kernels with more than 128 kept
 * taps (k > 15) go to the reference.
 * k == 1 runs on the pointwise GEMM tile instead (pcnn_conv1x1_fwd__avx2,
 * pw_conv1x1.h); the direct engine only when its packed weights do not fit. */
#include "pw_simd__avx2.h"
#include "conv_simd_common.h"
#include "pw_conv1x1.h"

void pcnn_conv_fwd__avx2(float *out, const float *in, const float *w, const float *b,
                           const pcnn_conv_t *c) {
  if (c->k == 1 && pcnn_conv1x1_fwd__avx2(out, in, w, b, c)) return;
  cv_conv_fwd(out, in, w, b, NULL, c);
}
