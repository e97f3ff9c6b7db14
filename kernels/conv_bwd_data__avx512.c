/* conv_bwd_data__avx512.c: masked k x k convolution data gradient, AVX-512 (16 floats/zmm, 6 pixels x 4 zmm = 24 accumulators).
 * Contract: pcnn_conv_bwd_data_fn (pcnn_kernels.h): din (N,H,W,cin) +=
 * masked_conv^T(dout (N,H,W,cout), w [k][k][cin][cout]); ACCUMULATES.
 * The transposed conv is itself a direct conv: input pixel (y, x) gathers
 * dout at (y - ky + r, x - kx + r) over the kept taps with the tap matrix
 * w[ky][kx]^T [cout][cin]. So each call first transposes the kept taps once
 * (masked centre entries written as 0) into a per-thread scratch buffer,
 * then runs the forward engine (conv_simd_common.h, engine 1) with flipped
 * offsets, vectors over cin and accumulators initialised from din. This beats
 * vectorising over cout with horizontal reductions: no reductions, the same
 * FMA/load ratio as the forward, and the transpose is O(taps cin cout), tiny
 * next to O(N H W taps cin cout).
 * Scratch: grows (malloc) on the calling thread when a larger weight is first
 * seen, then is reused; steady-state calls do not allocate. If malloc fails,
 * or k > 15, the reference runs instead.
 * k == 1 runs on the pointwise GEMM tile instead (pcnn_conv1x1_bwd_data__avx512,
 * pw_conv1x1.h; no transpose scratch); the path above only when its packed
 * weights do not fit. */
#include "pw_simd__avx512.h"
#include "conv_simd_common.h"
#include "pw_conv1x1.h"

void pcnn_conv_bwd_data__avx512(float *din, const float *dout, const float *w,
                              const pcnn_conv_t *c) {
  if (c->k == 1 && pcnn_conv1x1_bwd_data__avx512(din, dout, w, c)) return;
  cv_bwd_data(din, dout, w, c); /* conv_simd_common.h */
}
