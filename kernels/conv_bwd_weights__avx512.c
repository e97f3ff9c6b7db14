/* conv_bwd_weights__avx512.c: masked k x k convolution weight gradient,
 * AVX-512 (16 floats/zmm, 6 pixels x 4 zmm = 24 accumulators).
 * Contract: pcnn_conv_bwd_weights_fn (pcnn_kernels.h): dw [k][k][cin][cout]
 * += in (x) dout at kept taps, db (cout) += sum dout; ACCUMULATES; masked
 * taps of dw are never written (centre: masked stores).
 * Engine 2 of conv_simd_common.h: a work item is 6 (tap, ci) rows x 4/2
 * output vectors held in registers; per pixel, the dout
 * vectors are loaded once and each row's input is broadcast once; the tile
 * stays in registers over bands of 4 output rows. For the first layer (cin
 * < 16) the items are rows of the row-im2col view of the kept taps, with a
 * column of ones that yields db in the same pass (cv_wgrad_im2col). Items
 * are split over threads by row count; every dw element has one owner
 * summing pixels in a fixed order, so the result is bitwise identical for
 * any thread count. k > 15 uses the
 * reference.
 * k == 1 runs on the pointwise GEMM tile instead (pcnn_conv1x1_bwd_weights__avx512,
 * pw_conv1x1.h); engine 2 only when its dpre block does not fit. */
#include "pw_simd__avx512.h"
#include "conv_simd_common.h"
#include "pw_conv1x1.h"

void pcnn_conv_bwd_weights__avx512(float *dw, float *db, const float *dout, const float *in,
                                   const pcnn_conv_t *c) {
  if (c->k == 1 && pcnn_conv1x1_bwd_weights__avx512(dw, db, dout, in, c)) return;
  if (cv_kept_taps(c) > CV_MAX_TAPS) {
    pcnn_conv_bwd_weights__ref(dw, db, dout, in, c);
    return;
  }
  cv_conv_bwd_weights(dw, db, dout, in, c);
}
