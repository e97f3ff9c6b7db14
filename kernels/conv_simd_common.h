/* conv_simd_common.h: private engines for the SIMD masked k x k convolutions
 * (conv_fwd, conv_bwd_data, conv_bwd_weights; AVX2 and AVX-512 variants).
 *
 * Included only by kernels/conv_*__avx2.c and kernels/conv_*__avx512.c, after
 * their pw_simd__<isa>.h: the engines are written on that vector layer (the
 * one the pointwise kernels use: 16 floats and __mmask16, or 8 floats and
 * _mm256_maskload_ps masks), so each is written once and compiled once per
 * ISA.
 *
 * Engine 1, cv_direct: out[p][co] = init + sum over taps t, input channels ci
 *   of in[p + d_t][ci] * W_t[ci][co], where W_t is a [cin_e][ldw] matrix and a
 *   tap lists segments (input channels [a, b) reach outputs [lo, hi)); pixels
 *   whose shifted position falls outside the image read a zero row. The
 *   forward uses it directly (taps d = (ky - r, kx - r), W_t = w[ky][kx]); the
 *   data gradient uses it with flipped taps d = (r - ky, r - kx) and W_t the
 *   transposed tap w[ky][kx]^T (so its vectors run over cin, no reductions).
 *   Blocking: CV_PX output pixels along a row x PW_NV vectors of output
 *   channels in registers; per input channel, PW_NV weight loads and CV_PX
 *   broadcasts feed CV_PX * PW_NV FMAs. Tails: masked loads/stores.
 *
 * Engine 2, cv_wgrad: dw[t][ci][co] += sum_p in[p + d_t][ci] * dout[p][co].
 *   Work item = up to CV_NC (tap, ci) rows with the same dy x PW_NV output
 *   vectors; per pixel, PW_NV dout loads and CV_NC broadcasts feed
 *   CV_NC * PW_NV FMAs. Items are split statically over threads and every
 *   dw element has one owner that sums pixels in a fixed order: the result is
 *   bitwise the same for any thread count.
 */
#ifndef CONV_SIMD_COMMON_H
#define CONV_SIMD_COMMON_H

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

#include "kernel_scratch.h"
#include "pcnn_kernels.h"

#ifndef PW_SIMD_H
#error "include pw_simd__avx2.h or pw_simd__avx512.h before conv_simd_common.h"
#endif
#define CV_PX PW_MR /* output pixels per block (fwd / bwd_data) */
#define CV_NC PW_MR /* (tap, ci) rows per block (bwd_weights) */

#define CV_MAX_TAPS 128 /* kept taps of k <= 15; larger k uses the reference */
#define CV_ZMAX 1024    /* zero row for taps in the padding, in channels */

static const float cv_zero_row[CV_ZMAX] __attribute__((unused));

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

typedef struct {
  float *out;        /* (N, H, W, cout_e) */
  const float *in;   /* (N, H, W, cin_e) */
  const float *bias; /* (cout_e), or NULL: accumulate into out */
  int n, h, w, cin, cout, ldw, ntap;
  const cv_tap *tap;
} cv_direct_t;

/* optional epilogue of engine 1 (conv_prelu_fwd): out += res, then
 * act = prelu(out, alpha); res / act are laid out like out */
typedef struct {
  const float *res; /* or NULL */
  float *act;       /* or NULL: no activation */
  const float *alpha;
} cv_epi_t;

/* kept taps in (ky, kx) order; centre segments from pcnn_mask_co_begin */
static inline int cv_kept_taps(const pcnn_conv_t *c) {
  const int r = c->k / 2;
  return r * c->k + r + 1;
}

/* ---- engine 1: direct conv, one block of PX pixels x NV vectors ---- */
/* lane bits of the output block at cb: sb[v] the vectors' valid lanes (cout
 * tail), sb[PW_NV + (t * 4 + s) * PW_NV + v] those that segment s of tap t
 * reaches. They depend on cb only, so the row loops compute them once for
 * all the row's blocks (computed in the block, GCC's vectorised version cost
 * a store-forwarding stall per block: 20% of the 7x7 first layer). */
static inline void cv_seg_bits(unsigned *sb, const cv_direct_t *d, int cb) {
  for (int v = 0; v < PW_NV; v++) sb[v] = pw_lane_bits(0, d->cout - cb - v * PW_VL);
  for (int t = 0; t < d->ntap; t++)
    for (int s = 0; s < d->tap[t].nseg; s++) {
      const cv_seg sg = d->tap[t].seg[s];
      for (int v = 0; v < PW_NV; v++)
        sb[PW_NV + (t * 4 + s) * PW_NV + v] =
            pw_lane_bits(sg.lo - cb - v * PW_VL, sg.hi - cb - v * PW_VL) & sb[v];
    }
}
/* unsigneds of cv_seg_bits for ntap taps */
#define CV_SB_SIZE(ntap) (((ntap) * 4 + 1) * PW_NV)

static PW_INLINE void cv_direct_block(const int PX, const int NV, const cv_direct_t *d,
                                      const cv_epi_t *e, const unsigned *sb, int img, int y, int x0,
                                      int cb) {
  const int cin = d->cin, cout = d->cout;
  const size_t off = (((size_t)img * d->h + y) * d->w + x0) * cout + cb;
  float *op = d->out + off;
  pw_vf acc[CV_PX][PW_NV];
  pw_vm mt[PW_NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; v++) mt[v] = pw_mask_bits(sb[v]);
  if (d->bias) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) {
      const pw_vf b = pw_loadm(mt[v], d->bias + cb + v * PW_VL);
#pragma GCC unroll 16
      for (int j = 0; j < PX; j++) acc[j][v] = b;
    }
  } else {
#pragma GCC unroll 16
    for (int j = 0; j < PX; j++)
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) acc[j][v] = pw_loadm(mt[v], op + (size_t)j * cout + v * PW_VL);
  }
  for (int t = 0; t < d->ntap; t++) {
    const cv_tap *tp = &d->tap[t];
    const int iy = y + tp->dy;
    if (iy < 0 || iy >= d->h) continue;
    const float *row = d->in + ((size_t)img * d->h + iy) * d->w * cin;
    for (int s = 0; s < tp->nseg; s++) {
      const cv_seg sg = tp->seg[s];
      const unsigned *bits = sb + PW_NV + (t * 4 + s) * PW_NV;
      pw_vm m[PW_NV];
      unsigned any = 0;
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) {
        m[v] = pw_mask_bits(bits[v]);
        any |= bits[v];
      }
      if (!any) continue;
      for (int a = sg.a; a < sg.b; a += CV_ZMAX) {
        const int len = sg.b - a < CV_ZMAX ? sg.b - a : CV_ZMAX;
        const float *ip[CV_PX];
#pragma GCC unroll 16
        for (int j = 0; j < PX; j++) {
          const int ix = x0 + j + tp->dx;
          ip[j] = ix >= 0 && ix < d->w ? row + (ptrdiff_t)ix * cin + a : cv_zero_row;
        }
        const float *wp = tp->w + (size_t)a * d->ldw + cb;
        for (int ci = 0; ci < len; ci++, wp += d->ldw) {
          pw_vf wv[PW_NV];
#pragma GCC unroll 8
          for (int v = 0; v < NV; v++) wv[v] = pw_loadm(m[v], wp + v * PW_VL);
#pragma GCC unroll 16
          for (int j = 0; j < PX; j++) {
            const pw_vf bc = pw_bcast(ip[j] + ci);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[j][v] = pw_fma(bc, wv[v], acc[j][v]);
          }
        }
      }
    }
  }
  if (e && e->res) {
#pragma GCC unroll 16
    for (int j = 0; j < PX; j++)
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++)
        acc[j][v] = pw_add(acc[j][v], pw_loadm(mt[v], e->res + off + (size_t)j * cout + v * PW_VL));
  }
#pragma GCC unroll 16
  for (int j = 0; j < PX; j++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) pw_storem(op + (size_t)j * cout + v * PW_VL, mt[v], acc[j][v]);
  if (e && e->act) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) {
      const pw_vf al = pw_loadm(mt[v], e->alpha + cb + v * PW_VL);
#pragma GCC unroll 16
      for (int j = 0; j < PX; j++)
        pw_storem(e->act + off + (size_t)j * cout + v * PW_VL, mt[v], pw_prelu_sel(acc[j][v], acc[j][v], al));
    }
  }
}

#define CV_NV_CASES(PXc)                                                   \
  switch (nv) {                                                            \
    case 1: cv_direct_block(PXc, 1, d, e, sb, img, y, x0, cb); break;             \
    case 2: cv_direct_block(PXc, 2, d, e, sb, img, y, x0, cb); break;             \
    CV_NV_MORE(PXc)                                                        \
  }
#if PW_NV >= 4
#define CV_NV_MORE(PXc)                                        \
  case 3: cv_direct_block(PXc, 3, d, e, sb, img, y, x0, cb); break;   \
  default: cv_direct_block(PXc, 4, d, e, sb, img, y, x0, cb); break;
#else
#define CV_NV_MORE(PXc) \
  default: break;
#endif

static inline void cv_direct_dispatch(const cv_direct_t *d, const cv_epi_t *e, const unsigned *sb,
                                      int px, int nv, int img, int y, int x0, int cb) {
  switch (px) {
    case 1: CV_NV_CASES(1) break;
    case 2: CV_NV_CASES(2) break;
    case 3: CV_NV_CASES(3) break;
    case 4: CV_NV_CASES(4) break;
    case 5: CV_NV_CASES(5) break;
    default: CV_NV_CASES(6) break;
  }
}

/* Threads split over (image, row); each row walks output-channel blocks,
 * then pixel blocks, so a block's weights stay in L1/L2 along the row. */
static inline void cv_direct_ex(const cv_direct_t *d, const cv_epi_t *e) {
  const int rows = d->n * d->h, cblk = PW_NV * PW_VL;
#pragma omp parallel for schedule(static)
  for (int ry = 0; ry < rows; ry++) {
    const int img = ry / d->h, y = ry % d->h;
    unsigned sb[CV_SB_SIZE(CV_MAX_TAPS)];
    for (int cb = 0; cb < d->cout; cb += cblk) {
      const int rem = d->cout - cb;
      const int nv = rem >= cblk ? PW_NV : (rem + PW_VL - 1) / PW_VL;
      cv_seg_bits(sb, d, cb);
      for (int x0 = 0; x0 < d->w; x0 += CV_PX) {
        const int px = d->w - x0 < CV_PX ? d->w - x0 : CV_PX;
        cv_direct_dispatch(d, e, sb, px, nv, img, y, x0, cb);
      }
    }
  }
}
static inline void cv_direct(const cv_direct_t *d) { cv_direct_ex(d, NULL); }

/* Row-im2col mode, for few input channels (first layer, cin 1 or 3): the
 * kept taps of a masked k x k filter are its first r*k + r + 1 taps in
 * (ky, kx) order, so w itself is a [kc][cout] matrix, kc = (r*k + r + 1) cin,
 * whose rows are (tap, ci). Each thread gathers, for its output row, the kc
 * inputs every output pixel sees into a [W][kc] buffer (zeros in the
 * padding), and the engine runs ONE tap over it: segment 0 is the off-centre
 * taps (all outputs), then the centre's colour groups. The inner loop runs kc
 * times per block (24 for 7x7 A, cin 1) instead of cin times per tap, and the
 * per-tap setup is paid once per block. */
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

static inline void cv_direct_im2col(const cv_direct_t *d, int r, const cv_epi_t *e) {
  const int rows = d->n * d->h, cblk = PW_NV * PW_VL, cin = d->cin, k = 2 * r + 1;
  const int kc = (r * k + r + 1) * cin, W = d->w;
#pragma omp parallel for schedule(static)
  for (int ry = 0; ry < rows; ry++) {
    const int img = ry / d->h, y = ry % d->h;
    float col[CV_IM2COL_MAX]; /* [W][kc] */
    float pad[CV_IM2COL_MAX]; /* one input row with r zero pixels each side */
    cv_im2col_row(col, kc, pad, d->in, img, y, d->h, W, cin, r);
    /* the row as a 1-row image of kc channels, one tap at (0, 0) */
    const size_t ro = (size_t)ry * W * d->cout;
    const cv_direct_t rd = {d->out + ro, col, d->bias, 1, 1, W, kc, d->cout, d->ldw, d->ntap, d->tap};
    const cv_epi_t re = {e && e->res ? e->res + ro : NULL, e && e->act ? e->act + ro : NULL,
                         e ? e->alpha : NULL};
    unsigned sb[CV_SB_SIZE(1)];
    for (int cb = 0; cb < d->cout; cb += cblk) {
      const int rem = d->cout - cb;
      const int nv = rem >= cblk ? PW_NV : (rem + PW_VL - 1) / PW_VL;
      cv_seg_bits(sb, &rd, cb);
      for (int x0 = 0; x0 < W; x0 += CV_PX) {
        const int px = W - x0 < CV_PX ? W - x0 : CV_PX;
        cv_direct_dispatch(&rd, e ? &re : NULL, sb, px, nv, 0, 0, x0, cb);
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

/* the forward driver of conv_fwd / conv_prelu_fwd (e may be NULL): the
 * im2col mode for few input channels, else the direct engine over the kept
 * taps; kernels with more than CV_MAX_TAPS kept taps use the reference */
static inline void cv_conv_fwd(float *out, const float *in, const float *w, const float *b,
                               const cv_epi_t *e, const pcnn_conv_t *c);

/* ---- engine 2: weight gradient ---- */
/* output rows per weight-gradient block: its accumulators stay in registers
 * over the band, whose dout and input rows stay in L1/L2 across the items */
#define CV_WBAND 4

typedef struct {
  int dy, dx, ci, co_begin; /* tap offset, input channel, first kept output */
  float *dw;                /* dw row [cout] of this (tap, ci) */
} cv_wrow;

typedef struct {
  const float *dout; /* (N, H, W, cout) */
  const float *in;   /* (N, H, W, cin) */
  int n, h, w, cin, cout;
} cv_wgrad_t;

/* rows r[0..nc) (same dy) x NV vectors at cb, for output rows [y0, y1) of
 * image img: the accumulators stay in registers across the rows */
static PW_INLINE void cv_wgrad_block(const int NC, const int NV, const cv_wgrad_t *g,
                                     const cv_wrow *r, int img, int y0, int y1, int cb) {
  const int W = g->w, cin = g->cin, cout = g->cout;
  pw_vm mt[PW_NV], ms[CV_NC][PW_NV];
  pw_vf acc[CV_NC][PW_NV];
  int lo[CV_NC], hi[CV_NC], xlo = 0, xhi = W;
#pragma GCC unroll 8
  for (int v = 0; v < NV; v++) mt[v] = pw_mask_range(0, cout - cb - v * PW_VL);
#pragma GCC unroll 16
  for (int c = 0; c < NC; c++) {
    lo[c] = r[c].dx < 0 ? -r[c].dx : 0;
    hi[c] = r[c].dx > 0 ? W - r[c].dx : W;
    xlo = lo[c] > xlo ? lo[c] : xlo;
    xhi = hi[c] < xhi ? hi[c] : xhi;
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) {
      ms[c][v] = pw_mask_and(mt[v], pw_mask_range(r[c].co_begin - cb - v * PW_VL, PW_VL));
      acc[c][v] = pw_loadm(ms[c][v], r[c].dw + cb + v * PW_VL);
    }
  }
  if (xhi < xlo) xhi = xlo;
  for (int y = y0; y < y1; y++) {
    const int iy = y + r[0].dy;
    if (iy < 0 || iy >= g->h) continue;
    const float *drow = g->dout + ((size_t)img * g->h + y) * W * cout + cb;
    const float *irow = g->in + ((size_t)img * g->h + iy) * W * cin;
    /* main: every row valid for x in [xlo, xhi) */
    {
      const float *ip[CV_NC];
#pragma GCC unroll 16
      for (int c = 0; c < NC; c++) ip[c] = irow + (ptrdiff_t)(xlo + r[c].dx) * cin + r[c].ci;
      const float *dp = drow + (size_t)xlo * cout;
      for (int x = xlo; x < xhi; x++, dp += cout) {
        pw_vf dv[PW_NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) dv[v] = pw_loadm(mt[v], dp + v * PW_VL);
#pragma GCC unroll 16
        for (int c = 0; c < NC; c++) {
          const pw_vf bc = pw_bcast(ip[c]);
          ip[c] += cin;
#pragma GCC unroll 8
          for (int v = 0; v < NV; v++) acc[c][v] = pw_fma(bc, dv[v], acc[c][v]);
        }
      }
    }
    /* leftovers: a row's own valid columns outside [xlo, xhi) */
#pragma GCC unroll 16
    for (int c = 0; c < NC; c++) {
      for (int x = lo[c]; x < hi[c]; x++) {
        if (x == xlo) x = xhi;
        if (x >= hi[c]) break;
        const pw_vf bc = pw_bcast(irow + (ptrdiff_t)(x + r[c].dx) * cin + r[c].ci);
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
          acc[c][v] = pw_fma(bc, pw_loadm(mt[v], drow + (size_t)x * cout + v * PW_VL), acc[c][v]);
      }
    }
  }
#pragma GCC unroll 16
  for (int c = 0; c < NC; c++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) pw_storem(r[c].dw + cb + v * PW_VL, ms[c][v], acc[c][v]);
}

#define CV_WNV_CASES(NCc)                                              \
  switch (nv) {                                                        \
    case 1: cv_wgrad_block(NCc, 1, g, r, img, y0, y1, cb); break;           \
    case 2: cv_wgrad_block(NCc, 2, g, r, img, y0, y1, cb); break;           \
    CV_WNV_MORE(NCc)                                                   \
  }
#if PW_NV >= 4
#define CV_WNV_MORE(NCc)                                     \
  case 3: cv_wgrad_block(NCc, 3, g, r, img, y0, y1, cb); break;   \
  default: cv_wgrad_block(NCc, 4, g, r, img, y0, y1, cb); break;
#else
#define CV_WNV_MORE(NCc) \
  default: break;
#endif

static inline void cv_wgrad_dispatch(const cv_wgrad_t *g, const cv_wrow *r, int nc, int nv, int img,
                                     int y0, int y1, int cb) {
  switch (nc) {
    case 1: CV_WNV_CASES(1) break;
    case 2: CV_WNV_CASES(2) break;
    case 3: CV_WNV_CASES(3) break;
    case 4: CV_WNV_CASES(4) break;
    case 5: CV_WNV_CASES(5) break;
    default: CV_WNV_CASES(6) break;
  }
}

/* ---- drivers shared by the AVX2 and AVX-512 files ---- */

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

static inline void cv_conv_fwd(float *out, const float *in, const float *w, const float *b,
                               const cv_epi_t *e, const pcnn_conv_t *c) {
  if (cv_kept_taps(c) > CV_MAX_TAPS) {
    if (e)
      pcnn_conv_prelu_fwd__ref(out, e->act, in, w, b, e->res, e->alpha, c);
    else
      pcnn_conv_fwd__ref(out, in, w, b, c);
    return;
  }
  cv_tap tap[CV_MAX_TAPS];
  const int pad = cv_im2col_fits(c);
  const int nt = pad ? cv_im2col_taps(tap, w, c) : cv_fwd_taps(tap, w, c);
  const cv_direct_t d = {out, in, b, c->n, c->h, c->w, c->cin, c->cout, c->cout, nt, tap};
  if (pad)
    cv_direct_im2col(&d, c->k / 2, e);
  else
    cv_direct_ex(&d, e);
}

/* db += sum over pixels of dout: one owner per output block, pixels in order */
static inline void cv_bias_grad(float *db, const float *dout, const pcnn_conv_t *c) {
  const int cout = c->cout, cblk = PW_NV * PW_VL, ncb = (cout + cblk - 1) / cblk;
  const size_t p = (size_t)c->n * c->h * c->w;
#pragma omp parallel for schedule(static)
  for (int cbi = 0; cbi < ncb; cbi++) {
    const int cb = cbi * cblk;
    pw_vm mt[PW_NV];
    pw_vf s[PW_NV];
    for (int v = 0; v < PW_NV; v++) {
      mt[v] = pw_mask_range(0, cout - cb - v * PW_VL);
      s[v] = pw_zero();
    }
    for (size_t i = 0; i < p; i++)
      for (int v = 0; v < PW_NV; v++)
        s[v] = pw_add(s[v], pw_loadm(mt[v], dout + i * cout + cb + v * PW_VL));
    for (int v = 0; v < PW_NV; v++)
      pw_storem(db + cb + v * PW_VL, mt[v], pw_add(s[v], pw_loadm(mt[v], db + cb + v * PW_VL)));
  }
}

/* Weight gradient in row-im2col mode (few input channels, cv_im2col_fits):
 * dw viewed as [kc][cout] (the kept taps are its first kc rows) is
 * col^T x dout, col the im2col rows of cv_im2col_row plus a column of ones
 * whose "weight row" is db, so the bias gradient rides along (a separate
 * pass over dout cost a quarter of the time). Items are up to CV_NC
 * consecutive kept rows, balanced (unlike runs of taps within one kernel
 * row), split evenly over threads; each thread gathers the col rows of its
 * band. Every dw / db element has one owner summing pixels in order: bitwise
 * equal for any thread count. The col scratch belongs to the calling thread
 * (a slice per OpenMP thread) and grows once; without it, the reference. */
static inline void cv_wgrad_im2col(float *dw, float *db, const float *dout, const float *in,
                                   const pcnn_conv_t *c) {
  const int r = c->k / 2, k = c->k, cin = c->cin, cout = c->cout, W = c->w, H = c->h;
  const int kc = (r * k + r + 1) * cin, base = (r * k + r) * cin, cblk = PW_NV * PW_VL;
  const int ld = kc + 1, ncb = (cout + cblk - 1) / cblk;
  int row[CV_MAX_TAPS * 16 + 1], cob[CV_MAX_TAPS * 16 + 1], nrow = 0; /* kept rows, first output */
  for (int i = 0; i <= kc; i++) {
    const int lo = i < base || i == kc ? 0 : pcnn_mask_co_begin(c, r, r, i - base);
    if (lo < cout) {
      row[nrow] = i;
      cob[nrow++] = lo;
    }
  }
  const int nitem = (nrow + CV_NC - 1) / CV_NC, units = nitem * ncb;
  /* scratch of the calling thread: one slice per OpenMP thread */
  const int nth = omp_get_max_threads();
  const size_t slice = (size_t)CV_WBAND * W * ld + (size_t)(W + 2 * r) * cin;
  float *const scratch = pcnn_scratch((size_t)nth * slice);
  if (!scratch) {
    pcnn_conv_bwd_weights__ref(dw, db, dout, in, c);
    return;
  }
#pragma omp parallel num_threads(nth)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    const int u0 = (int)((long)units * tid / nt), u1 = (int)((long)units * (tid + 1) / nt);
    float *col = scratch + (size_t)tid * slice, *pad = col + (size_t)CV_WBAND * W * ld;
    for (int i = 0; i < CV_WBAND * W; i++) col[(size_t)i * ld + kc] = 1.f;
    for (int img = 0; img < c->n && u0 < u1; img++)
      for (int y0 = 0; y0 < H; y0 += CV_WBAND) {
        const int nb = H - y0 < CV_WBAND ? H - y0 : CV_WBAND;
        for (int j = 0; j < nb; j++)
          cv_im2col_row(col + (size_t)j * W * ld, ld, pad, in, img, y0 + j, H, W, cin, r);
        /* the band as an image of nb rows and ld channels, every tap at (0, 0) */
        const cv_wgrad_t g = {dout + ((size_t)img * H + y0) * W * cout, col, 1, nb, W, ld, cout};
        for (int u = u0; u < u1; u++) {
          const int it = u / ncb, cb = (u % ncb) * cblk;
          const int i0 = it * (nrow / nitem) + (it < nrow % nitem ? it : nrow % nitem);
          const int nc = nrow / nitem + (it < nrow % nitem);
          const int nv = cout - cb >= cblk ? PW_NV : (cout - cb + PW_VL - 1) / PW_VL;
          cv_wrow rw[CV_NC];
          for (int j = 0; j < nc; j++) {
            const int i = row[i0 + j];
            rw[j] = (cv_wrow){0, 0, i, cob[i0 + j], i == kc ? db : dw + (size_t)i * cout};
          }
          cv_wgrad_dispatch(&g, rw, nc, nv, 0, 0, nb, cb);
        }
      }
  }
}

/* dw += in (x) dout at kept taps, db += sum dout. See engine 2 above. */
static inline void cv_conv_bwd_weights(float *dw, float *db, const float *dout, const float *in,
                                       const pcnn_conv_t *c) {
  if (cv_im2col_fits(c)) {
    cv_wgrad_im2col(dw, db, dout, in, c);
    return;
  }
  cv_bias_grad(db, dout, c);
  cv_tap tap[CV_MAX_TAPS];
  const int nt = cv_fwd_taps(tap, dw, c); /* tap[t].w: dw at that tap */
  const int cin = c->cin, cout = c->cout, cblk = PW_NV * PW_VL;
  const int ncb = (cout + cblk - 1) / cblk;
  /* items: cin >= NC: (tap, NC input channels); else a run of taps of one
   * kernel row with all their input channels (first layer: cin 1 or 3) */
  int it_t0[CV_MAX_TAPS], it_nt[CV_MAX_TAPS], nitem = 0;
  const int per = (cin + CV_NC - 1) / CV_NC;
  if (cin >= CV_NC) {
    nitem = nt * per;
  } else {
    const int tpi = CV_NC / cin;
    for (int t0 = 0; t0 < nt;) {
      int t1 = t0;
      while (t1 < nt && tap[t1].dy == tap[t0].dy) t1++;
      const int nk = t1 - t0, ni = (nk + tpi - 1) / tpi;
      for (int i = 0, s = t0; i < ni; i++) {
        const int m = nk / ni + (i < nk % ni);
        it_t0[nitem] = s;
        it_nt[nitem++] = m;
        s += m;
      }
      t0 = t1;
    }
  }
  const cv_wgrad_t g = {dout, in, c->n, c->h, c->w, cin, cout};
  const int units = nitem * ncb;
#pragma omp parallel
  {
    /* split units over threads by their row count (balanced, fixed order) */
    const int nth = omp_get_num_threads(), tid = omp_get_thread_num();
    const long total = (long)nt * cin * ncb;
    int u0 = -1, u1 = -1;
    long acc = 0;
    for (int u = 0; u < units; u++) {
      const int item = u / ncb;
      const int rows = cin >= CV_NC ? (item % per == per - 1 ? cin - (per - 1) * CV_NC : CV_NC)
                                    : it_nt[item] * cin;
      const int owner = (int)(((2 * acc + rows) * nth) / (2 * total));
      if (owner == tid && u0 < 0) u0 = u;
      if (owner == tid) u1 = u + 1;
      acc += rows;
    }
    for (int img = 0; img < c->n && u0 >= 0; img++)
      for (int y0 = 0; y0 < c->h; y0 += CV_WBAND) {
        const int y1 = y0 + CV_WBAND < c->h ? y0 + CV_WBAND : c->h;
        for (int u = u0; u < u1; u++) {
          const int item = u / ncb, cb = (u % ncb) * cblk;
          const int nv = cout - cb >= cblk ? PW_NV : (cout - cb + PW_VL - 1) / PW_VL;
          cv_wrow rw[CV_NC];
          int nc = 0;
          if (cin >= CV_NC) {
            const cv_tap *t = &tap[item / per];
            const int ci0 = (item % per) * CV_NC;
            for (int ci = ci0; ci < cin && nc < CV_NC; ci++, nc++) {
              int lo = cout;
              for (int s = 0; s < t->nseg; s++)
                if (ci >= t->seg[s].a && ci < t->seg[s].b) lo = t->seg[s].lo;
              rw[nc] = (cv_wrow){t->dy, t->dx, ci, lo, (float *)t->w + (size_t)ci * cout};
            }
          } else {
            for (int ti = it_t0[item]; ti < it_t0[item] + it_nt[item]; ti++) {
              const cv_tap *t = &tap[ti];
              for (int ci = 0; ci < cin; ci++, nc++) {
                int lo = cout;
                for (int s = 0; s < t->nseg; s++)
                  if (ci >= t->seg[s].a && ci < t->seg[s].b) lo = t->seg[s].lo;
                rw[nc] = (cv_wrow){t->dy, t->dx, ci, lo, (float *)t->w + (size_t)ci * cout};
              }
            }
          }
          cv_wgrad_dispatch(&g, rw, nc, nv, img, y0, y1, cb);
        }
      }
  }
}



/* ---- engine 1 run as the data gradient (conv_bwd_data__<isa>.c): see the
 * comment of conv_bwd_data__avx512.c. The transposed kept taps live in a
 * per-thread scratch that grows on first use and is reused. ---- */
static inline void cv_bwd_data(float *din, const float *dout, const float *w, const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, r = c->k / 2;
  float *const wt_buf = cv_kept_taps(c) <= CV_MAX_TAPS /* [tap][cout][cin] */
                            ? pcnn_scratch((size_t)cv_kept_taps(c) * cin * cout)
                            : NULL;
  if (!wt_buf) {
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

#endif
