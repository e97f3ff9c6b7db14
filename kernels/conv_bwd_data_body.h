/* conv_bwd_data_body.h: the body of pcnn_conv_bwd_data__avx512 and __avx2,
 * included by kernels/conv_bwd_data__avx512.c and __avx2.c after their
 * pw_simd__<isa>.h; PW_KERNEL(op) names the function for the ISA.
 * Contract: pcnn_conv_bwd_data_fn (pcnn_kernels.h): din (N,H,W,cin) +=
 * masked_conv^T(dout (N,H,W,cout), w [k][k][cin][cout]); ACCUMULATES, or
 * overwrites with PCNN_CONV_OVERWRITE (the accumulators start from a zero
 * bias, din is not read; the same bits as zeroing din first).
 * The transposed conv is itself a direct conv: input pixel (y, x) gathers
 * dout at (y - ky + r, x - kx + r) over the kept taps with the tap matrix
 * w[ky][kx]^T [cout][cin]. So each call first transposes the kept taps once
 * (masked centre entries written as 0) into a per-thread scratch buffer,
 * then runs the direct engine (conv_direct.h) with flipped offsets, vectors
 * over cin and accumulators initialised from din. This beats vectorising
 * over cout with horizontal reductions: no reductions, the same FMA/load
 * ratio as the forward, and the transpose is O(taps cin cout), tiny next to
 * O(N H W taps cin cout).
 * Work split: the direct engine's N x H rows of din (conv_direct.h); every
 * din element has one writer and sums its taps in a fixed order: the same
 * bits at any thread count. k == 1: the 1x1 tile's blocks of 96 pixels.
 * Scratch: grows (malloc) on the calling thread when a larger weight is first
 * seen, then is reused; steady-state calls do not allocate. If malloc fails,
 * the reference runs instead; so it does for the shapes the kernel does not
 * support (pcnn_conv_bwd_data_supports__<isa>: k >= 17, conv_taps.h).
 * k == 1 runs on the pointwise GEMM tile instead (pcnn_conv1x1_bwd_data__<isa>,
 * pw_conv1x1.h; no transpose scratch); the path above only when its packed
 * weights do not fit. */
#include "conv_direct.h"
#include "kernel_scratch.h"
#include "pcnn_kernels.h"
#include "pw_conv1x1.h"

/* din += masked_conv^T(dout, w) on engine 1; the shape must pass
 * cv_taps_fit (the kernel tests it first); without scratch, the reference */
static inline void cv_bwd_data(float *din, const float *dout, const float *w, const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, r = c->k / 2;
  float *const wt_buf = pcnn_scratch((size_t)cv_kept_taps(c) * cin * cout); /* [tap][cout][cin] */
  if (!wt_buf) {
    pcnn_conv_bwd_data__ref(din, dout, w, c);
    return;
  }
  /* OVERWRITE: the accumulators start from a zero bias instead of din
   * (wider than the zeros: din zeroed first) */
  const float *zb = NULL;
  if (c->flags & PCNN_CONV_OVERWRITE) {
    if (cin <= PCNN_ZEROS)
      zb = pcnn_zeros;
    else
      pcnn_conv_zero_din(din, c);
  }
  cv_tap tap[CV_MAX_TAPS];
  const int nt = cv_fwd_taps(tap, w, c);
  for (int t = 0; t < nt; t++) {
    cv_tap *tp = &tap[t];
    const int ky = tp->dy + r, kx = tp->dx + r;
    float *dst = wt_buf + (size_t)t * cin * cout;
    for (int ci = 0; ci < cin; ci++) {
      const int co0 = pcnn_mask_co_begin(c, ky, kx, ci);
      const float *src = tp->w + (size_t)ci * cout;
      for (int co = 0; co < cout; co++) dst[(size_t)co * cin + ci] = co >= co0 ? src[co] : 0.f;
    }
    tp->w = dst;
    tp->dy = -tp->dy;
    tp->dx = -tp->dx;
    if (ky < r || kx < r) {
      tp->seg[0] = (cv_seg){0, cout, 0, cin};
      tp->nseg = 1;
    } else { /* centre: output group go reaches the input prefix [0, hi) */
      tp->nseg = 0;
      for (int g = 0; g < c->groups; g++) {
        const int a = pcnn_group_begin(g, cout, c->groups);
        const int b = pcnn_group_begin(g + 1, cout, c->groups);
        int hi = 0;
        while (hi < cin && pcnn_mask_co_begin(c, ky, kx, hi) <= a) hi++;
        if (a < b && hi > 0) tp->seg[tp->nseg++] = (cv_seg){a, b, 0, hi};
      }
    }
  }
  const cv_direct_t d = {din, dout, zb, c->n, c->h, c->w, cout, cin, cin, nt, tap};
  cv_direct(&d);
}

int PW_KERNEL(conv_bwd_data_supports)(const pcnn_conv_t *c) { return cv_taps_fit(c); }

void PW_KERNEL(conv_bwd_data)(float *din, const float *dout, const float *w,
                              const pcnn_conv_t *c) {
  if (!PW_KERNEL(conv_bwd_data_supports)(c)) {
    pcnn_conv_bwd_data__ref(din, dout, w, c);
    return;
  }
  if (c->k == 1 && PW_KERNEL(conv1x1_bwd_data)(din, dout, w, c)) return;
  cv_bwd_data(din, dout, w, c);
}
