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
 * or k > 15, the reference runs instead. */
#include "conv_simd_common.h"

static _Thread_local float *wt_buf; /* [tap][cout][cin] */
static _Thread_local size_t wt_cap;

void pcnn_conv_bwd_data__avx512(float *din, const float *dout, const float *w,
                                const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, r = c->k / 2;
  const size_t need = (size_t)cv_kept_taps(c) * cin * cout;
  if (cv_kept_taps(c) <= CV_MAX_TAPS && need > wt_cap) {
    free(wt_buf);
    wt_buf = malloc(need * sizeof(float));
    wt_cap = wt_buf ? need : 0;
  }
  if (cv_kept_taps(c) > CV_MAX_TAPS || !wt_buf) {
    pcnn_conv_bwd_data__ref(din, dout, w, c);
    return;
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
  const cv_direct_t d = {din, dout, NULL, c->n, c->h, c->w, cout, cin, cin, nt, tap};
  cv_direct(&d);
}
