/* conv_direct.h: engine 1 of the SIMD masked convs, the direct conv, and the
 * forward driver on it (conv_fwd, conv_prelu_fwd); conv_bwd_data runs the
 * same engine on transposed taps (conv_bwd_data_body.h). Written on the
 * vector layer (pw_simd__<isa>.h, included first by the kernel file), so it
 * is compiled once per ISA: 6 pixels x 4 zmm (AVX-512) or 6 x 2 ymm (AVX2).
 *
 * out[p][co] = init + sum over taps t, input channels ci of
 *   in[p + d_t][ci] * W_t[ci][co], where W_t is a [cin_e][ldw] matrix and a
 *   tap lists segments (input channels [a, b) reach outputs [lo, hi));
 *   pixels whose shifted position falls outside the image read a zero row.
 *   The forward uses it directly (taps d = (ky - r, kx - r), W_t =
 *   w[ky][kx]); the data gradient uses it with flipped taps d = (r - ky,
 *   r - kx) and W_t the transposed tap w[ky][kx]^T (so its vectors run over
 *   cin, no reductions). Blocking: CV_PX output pixels along a row x PW_NV
 *   vectors of output channels in registers; per input channel, PW_NV weight
 *   loads and CV_PX broadcasts feed CV_PX * PW_NV FMAs. Tails: masked
 *   loads/stores. Threads split (image, row): each output has one owner. */
#ifndef CONV_DIRECT_H
#define CONV_DIRECT_H
#include <stddef.h>

#include "conv_taps.h"
#include "pcnn_kernels.h"

#define CV_PX PW_MR  /* output pixels per block (the vector layer's tile rows) */
#define CV_ZMAX 1024 /* zero row for taps in the padding, in channels */

static const float cv_zero_row[CV_ZMAX] __attribute__((unused));

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
  int stream;       /* out by non-temporal stores (PCNN_CONV_STREAM_PRE; out
                     * 64-byte aligned, cout a multiple of PW_VL: whole vectors) */
} cv_epi_t;

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
    for (int v = 0; v < NV; v++) {
      if (e && e->stream)
        pw_stream(op + (size_t)j * cout + v * PW_VL, acc[j][v]);
      else
        pw_storem(op + (size_t)j * cout + v * PW_VL, mt[v], acc[j][v]);
    }
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
#pragma omp parallel
  {
#pragma omp for schedule(static) nowait
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
    if (e && e->stream) pw_fence(); /* each thread's non-temporal stores, before the join */
  }
}
static inline void cv_direct(const cv_direct_t *d) { cv_direct_ex(d, NULL); }

/* the row-im2col mode (conv_taps.h): each thread gathers its output row's
 * kept-tap inputs (col) and runs the engine on them as one tap */
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
                         e ? e->alpha : NULL, 0};
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

/* the forward of conv_fwd / conv_prelu_fwd (e may be NULL): the row-im2col
 * mode for few input channels, else the direct engine over the kept taps;
 * the shape must pass cv_taps_fit (the kernels test it first) */
static inline void cv_conv_fwd(float *out, const float *in, const float *w, const float *b,
                               const cv_epi_t *e, const pcnn_conv_t *c) {
  cv_tap tap[CV_MAX_TAPS];
  const int pad = cv_im2col_fits(c);
  const int nt = pad ? cv_im2col_taps(tap, w, c) : cv_fwd_taps(tap, w, c);
  const cv_direct_t d = {out, in, b, c->n, c->h, c->w, c->cin, c->cout, c->cout, nt, tap};
  if (pad) { /* (the first layer: no stream; its pre is a residual, read soon) */
    cv_epi_t ne;
    if (e) ne = *e, ne.stream = 0;
    cv_direct_im2col(&d, c->k / 2, e ? &ne : NULL);
  } else {
    cv_direct_ex(&d, e);
  }
}
#endif
