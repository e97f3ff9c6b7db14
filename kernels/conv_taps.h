/* conv_taps.h: the kept taps of a masked k x k filter as the SIMD conv
 * engines see them (conv_direct.h, conv_wgrad.h), and the shape limit of the
 * conv kernels. Written on the vector layer (pw_simd__<isa>.h, included
 * first by the kernel file); compiled once per ISA.
 *
 * A tap is an input offset (dy, dx) and a weight matrix; its segments say
 * which input channels reach which output channels (off-centre taps: all of
 * them; the centre tap: one segment per colour group, from
 * pcnn_mask_co_begin). Masked taps are never listed, so never read.
 *
 * Row-im2col view, for few input channels (first layer, cin 1 or 3): the
 * kept taps of a masked k x k filter are its first r*k + r + 1 taps in
 * (ky, kx) order, so w itself is a [kc][cout] matrix, kc = (r*k + r + 1) cin,
 * whose rows are (tap, ci). Each thread gathers, for its output row, the kc
 * inputs every output pixel sees into a [W][kc] buffer (zeros in the
 * padding), and the engine runs ONE tap over it: segment 0 is the off-centre
 * taps (all outputs), then the centre's colour groups. The inner loop runs kc
 * times per block (24 for 7x7 A, cin 1) instead of cin times per tap, and the
 * per-tap setup is paid once per block. */
#ifndef CONV_TAPS_H
#define CONV_TAPS_H
#include <stddef.h>

#include "pcnn_kernels.h"

#define CV_MAX_TAPS 128 /* kept taps of k <= 15; larger k uses the reference */

typedef struct {
  int a, b;   /* input channels [a, b) ... */
  int lo, hi; /* ... reach output channels [lo, hi) */
} cv_seg;

typedef struct {
  int dy, dx;     /* input pixel = output pixel + (dy, dx) */
  const float *w; /* [cin_e][ldw] at this tap */
  int nseg;
  cv_seg seg[4]; /* off-centre: 1; centre: one per colour group (+1 in im2col mode) */
} cv_tap;

/* kept taps in (ky, kx) order; centre segments from pcnn_mask_co_begin */
static inline int cv_kept_taps(const pcnn_conv_t *c) {
  const int r = c->k / 2;
  return r * c->k + r + 1;
}

/* The shape limit of every SIMD conv kernel (conv_fwd, conv_prelu_fwd,
 * conv_bwd_data, conv_bwd_weights): the tap lists are stack arrays of
 * CV_MAX_TAPS, so a filter with more kept taps (k >= 17) runs on the
 * reference. Each kernel's pcnn_<op>_supports__<isa> (kernel_list.h) is this
 * test, and the kernel calls it first. */
static inline int cv_taps_fit(const pcnn_conv_t *c) { return cv_kept_taps(c) <= CV_MAX_TAPS; }

/* forward taps: d = (ky - r, kx - r); at the centre, input group gi reaches
 * outputs [co_begin, cout); taps with nothing kept are dropped */
static inline int cv_fwd_taps(cv_tap *tap, const float *w, const pcnn_conv_t *c) {
  const int r = c->k / 2;
  int nt = 0;
  for (int ky = 0; ky <= r; ky++)
    for (int kx = 0; kx <= (ky < r ? c->k - 1 : r); kx++) {
      cv_tap *t = &tap[nt];
      t->dy = ky - r;
      t->dx = kx - r;
      t->w = w + ((size_t)ky * c->k + kx) * c->cin * c->cout;
      t->nseg = 0;
      for (int g = 0; g < c->groups; g++) {
        const int a = pcnn_group_begin(g, c->cin, c->groups);
        const int b = pcnn_group_begin(g + 1, c->cin, c->groups);
        const int lo = pcnn_mask_co_begin(c, ky, kx, a);
        if (ky < r || kx < r) { /* off-centre: everything */
          t->seg[0] = (cv_seg){0, c->cin, 0, c->cout};
          t->nseg = 1;
          break;
        }
        if (a < b && lo < c->cout) t->seg[t->nseg++] = (cv_seg){a, b, lo, c->cout};
      }
      nt += t->nseg > 0;
    }
  return nt;
}

#define CV_IM2COL_MAX 8192 /* floats of the im2col row per thread (32 KiB, stack) */
static inline int cv_im2col_fits(const pcnn_conv_t *c) {
  return c->cin < 16 && (size_t)c->w * cv_kept_taps(c) * c->cin <= CV_IM2COL_MAX &&
         (size_t)(c->w + c->k) * c->cin <= CV_IM2COL_MAX;
}
/* col[x][0, kc) (rows of ld floats) = the kc inputs output pixel (img, y, x)
 * sees through the kept taps, in (ky, kx, ci) order, zeros in the padding;
 * pad: (W + 2r) cin floats of scratch */
static inline void cv_im2col_row(float *col, int ld, float *pad, const float *in, int img, int y,
                                 int H, int W, int cin, int r) {
  const int k = 2 * r + 1;
  for (int ky = 0; ky <= r; ky++) {
    const int iy = y + ky - r, run = (ky < r ? k : r + 1) * cin; /* floats per pixel */
    if (iy < 0) {
      for (int x = 0; x < W; x++)
        for (int i = 0; i < run; i++) col[(size_t)x * ld + ky * k * cin + i] = 0.f;
      continue;
    }
    const float *src = in + ((size_t)img * H + iy) * W * cin;
    for (int i = 0; i < r * cin; i++) pad[i] = pad[(size_t)(W + r) * cin + i] = 0.f;
    for (int i = 0; i < W * cin; i++) pad[r * cin + i] = src[i];
    /* pixel x sees the run pad[x cin, x cin + run) */
    for (int x = 0; x < W; x++) {
      const float *s0 = pad + (size_t)x * cin;
      float *d0 = col + (size_t)x * ld + ky * k * cin;
      for (int i = 0; i < run; i += PW_VL) {
        const pw_vm m = pw_mask_range(0, run - i);
        pw_storem(d0 + i, m, pw_loadm(m, s0 + i));
      }
    }
  }
}


/* the one tap of im2col mode: off-centre rows [0, base) reach every output,
 * then the centre's input groups [base + a, base + b) reach [lo, cout) */
static inline int cv_im2col_taps(cv_tap *tap, const float *w, const pcnn_conv_t *c) {
  const int r = c->k / 2, cin = c->cin, cout = c->cout, base = (r * c->k + r) * cin;
  cv_tap *t = &tap[0];
  *t = (cv_tap){0, 0, w, 0, {{0, 0, 0, 0}}};
  if (base > 0) t->seg[t->nseg++] = (cv_seg){0, base, 0, cout};
  for (int g = 0; g < c->groups; g++) {
    const int a = pcnn_group_begin(g, cin, c->groups), b = pcnn_group_begin(g + 1, cin, c->groups);
    const int lo = pcnn_mask_co_begin(c, r, r, a);
    if (a < b && lo < cout) t->seg[t->nseg++] = (cv_seg){base + a, base + b, lo, cout};
  }
  return t->nseg > 0;
}

#endif
