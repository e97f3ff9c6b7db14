/* conv_wgrad.h: engine 2 of the SIMD masked convs, the weight gradient
 * (its drivers are in conv_bwd_weights_body.h). Written on the vector layer
 * (pw_simd__<isa>.h, included first by the kernel file), so it is compiled
 * once per ISA.
 *
 * dw[t][ci][co] += sum_p in[p + d_t][ci] * dout[p][co]. Work item = up to
 *   CV_NC (tap, ci) rows with the same dy x PW_NV output vectors; per pixel,
 *   PW_NV dout loads and CV_NC broadcasts feed CV_NC * PW_NV FMAs. A block
 *   sums the pixels of output rows [y0, y1) in order into the dw rows it is
 *   handed (dw itself, or a chunk's partial): the drivers
 *   (conv_bwd_weights_body.h) split the work into fixed items, so the
 *   result is bitwise the same for any thread count. */
#ifndef CONV_WGRAD_H
#define CONV_WGRAD_H
#include <stddef.h>

#include "conv_taps.h"

#define CV_NC PW_MR /* (tap, ci) rows per block (the vector layer's tile rows) */

/* output rows per weight-gradient block: its accumulators stay in registers
 * over the band, whose dout and input rows stay in L1/L2 across the items */
#define CV_WBAND 4
/* output rows a tile runs over before it goes back to memory (the bands of
 * a chunk in one image, up to this many): the 3x3 B 64 -> 64 weight
 * gradient of one image (2 chunks of 12 and 16 rows) on one thread, 32
 * images, AMD EPYC Zen 4 VM, 5 alternating rounds: 10.48-10.60 ms band by
 * band (4 rows), 9.69-9.96 ms in runs of 16 */
#define CV_WRUN 16

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
#endif
