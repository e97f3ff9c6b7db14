/* conv_fwd_body.h: the body of pcnn_conv_fwd__avx512 and __avx2, included by
 * kernels/conv_fwd__avx512.c and __avx2.c after their pw_simd__<isa>.h, which
 * sets the vector width and the tile (6 pixels x 4 zmm = 24 accumulators;
 * AVX2 6 x 2 ymm = 12); PW_KERNEL(op) names the function for the ISA.
 * Contract: pcnn_conv_fwd_fn (pcnn_kernels.h): out (N,H,W,cout) =
 * masked_conv(in (N,H,W,cin), w [k][k][cin][cout]) + b; overwrites out.
 * Direct conv (conv_direct.h): only kept taps are visited, and at the centre
 * tap only the allowed colour-group blocks (input group gi feeds outputs
 * [pcnn_mask_co_begin, cout)); masked weights are never used. Output channels
 * in vectors, register-blocked over 6 pixels of a row; cout tails and centre
 * groups by masked loads/stores, taps in the zero padding read a zero row.
 * Few input channels (the first layer, cin 1 or 3): the row-im2col mode
 * gathers each output row's kept-tap inputs and runs them as one tap.
 * Work split: the items are the N x H output rows (896 for the seed model
 * at batch 32), statically over threads; every output has one writer and
 * sums its taps in a fixed order: the same bits at any thread count.
 * k == 1 runs on the pointwise GEMM tile instead (pcnn_conv1x1_fwd__<isa>,
 * pw_conv1x1.h); the direct engine only when its packed weights do not fit.
 * Shapes the kernel does not support (pcnn_conv_fwd_supports__<isa>: more
 * than CV_MAX_TAPS kept taps, k >= 17) run on the reference. */
#include "conv_direct.h"
#include "pcnn_kernels.h"
#include "pw_conv1x1.h"

int PW_KERNEL(conv_fwd_supports)(const pcnn_conv_t *c) { return cv_taps_fit(c); }

void PW_KERNEL(conv_fwd)(float *out, const float *in, const float *w, const float *b,
                         const pcnn_conv_t *c) {
  if (!PW_KERNEL(conv_fwd_supports)(c)) {
    pcnn_conv_fwd__ref(out, in, w, b, c);
    return;
  }
  if (c->k == 1 && PW_KERNEL(conv1x1_fwd)(out, in, w, b, c)) return;
  cv_conv_fwd(out, in, w, b, NULL, c);
}
