/* conv_bwd_weights_body.h: the body of pcnn_conv_bwd_weights__avx512 and
 * __avx2, included by kernels/conv_bwd_weights__avx512.c and __avx2.c after
 * their pw_simd__<isa>.h; PW_KERNEL(op) names the function for the ISA.
 * Contract: pcnn_conv_bwd_weights_fn (pcnn_kernels.h): dw [k][k][cin][cout]
 * += in (x) dout at kept taps, db (cout) += sum dout; ACCUMULATES; masked
 * taps of dw are never written (centre: masked stores).
 * Engine 2 (conv_wgrad.h): a unit is 6 (tap, ci) rows x 4 (AVX2: 2) output
 * vectors held in registers; per pixel, the dout vectors are loaded once and
 * each row's input is broadcast once; the tile stays in registers over bands
 * of 4 output rows. For the first layer (cin < 16) the units are rows of the
 * row-im2col view of the kept taps, with a column of ones that yields db in
 * the same pass (cv_wgrad_im2col).
 * Work split (fixed by the shape and the ISA, never by the thread count):
 * the parallel items are nk pixel chunks (runs of whole bands, in (image,
 * band) order) x the units, nk = PW_PAR_ITEMS / units rounded up (1 when
 * there are 64 units or more; at most one chunk per band, the partials
 * within PW_PART_MAX). With nk = 1 every dw element has one owner summing
 * its pixels in order, straight into dw; with nk > 1 each item sums its
 * chunk into the chunk's partial (the calling thread's grow-once scratch,
 * kernel_scratch.h) and the partials are added in chunk order. Seed model,
 * batch 32: 7x7 A 1->128 10 units x 7 chunks (AVX2 40 x 2), 3x3 B 64->64
 * 55 units x 2 chunks (AVX2 220 x 1). Items go to threads in contiguous,
 * balanced runs (by rows x bands): bitwise the same at any thread count.
 * An item runs its chunk image by image, each unit's tile in registers
 * over runs of up to CV_WRUN rows of one image (a whole chunk of one image:
 * 12 and 16 rows), not band by band: each dw element still sums its pixels
 * in the same order, so the same bits.
 * The bias gradient of the engine-2 path is its own pass: pixel chunks x
 * column blocks, likewise (cv_bias_grad).
 * k == 1 runs on the pointwise GEMM tile instead
 * (pcnn_conv1x1_bwd_weights__<isa>, pw_conv1x1.h, its own split); engine 2
 * only when that does not fit. Shapes the kernel does not support
 * (pcnn_conv_bwd_weights_supports__<isa>: k >= 17, conv_taps.h) run on the
 * reference; so does a layer whose scratch (im2col rows, partials) cannot
 * be allocated. */
#include <omp.h>
#include <string.h>

#include "conv_wgrad.h"
#include "kernel_scratch.h"
#include "pcnn_kernels.h"
#include "pw_conv1x1.h"
#include "pw_gemm.h"

/* The items of a weight gradient: nk pixel chunks x units, chunk-major.
 * Chunk k is the bands [nb k / nk, nb (k + 1) / nk) in (image, band) order;
 * unit u is row group u / ncb x column block u % ncb of PW_NV vectors. */
typedef struct {
  int nk, nb, units, ncb;
  /* rows of row group g, by mode: CV_IM2COL: the nrow kept rows in ngrp
   * groups (one more in the first nrow % ngrp); CV_TAP_CI: per groups of
   * CV_NC input channels per tap, the last the rest of cin; CV_TAP_RUN: a
   * run of it_nt[g] taps with all cin channels */
  enum { CV_IM2COL, CV_TAP_CI, CV_TAP_RUN } mode;
  int nrow, ngrp, per, cin;
  const int *it_nt;
} cv_items;

static inline int cv_group_rows(const cv_items *s, int g) {
  switch (s->mode) {
    case CV_IM2COL: return s->nrow / s->ngrp + (g < s->nrow % s->ngrp);
    case CV_TAP_CI: return g % s->per == s->per - 1 ? s->cin - (s->per - 1) * CV_NC : CV_NC;
    default: return s->it_nt[g] * s->cin;
  }
}

/* the run of items [*i0, *i1) thread tid of nth takes (-1, -1: none): an
 * item weighs its unit's rows x its chunk's bands, and goes to the thread
 * whose share holds its weight's midpoint (contiguous, balanced; which
 * thread runs an item never changes a result) */
static inline void cv_my_items(int *i0, int *i1, const cv_items *s, int tid, int nth) {
  long tot = 0, acc = 0;
  for (int u = 0; u < s->units; u++) tot += cv_group_rows(s, u / s->ncb);
  tot *= s->nb;
  *i0 = *i1 = -1;
  for (int it = 0; it < s->nk * s->units; it++) {
    const int k = it / s->units;
    const long w = (long)cv_group_rows(s, it % s->units / s->ncb) *
                   ((long)s->nb * (k + 1) / s->nk - (long)s->nb * k / s->nk);
    if ((int)((2 * acc + w) * nth / (2 * tot)) == tid) {
      if (*i0 < 0) *i0 = it;
      *i1 = it + 1;
    }
    acc += w;
  }
}

/* the combine's runs of rows: up to cv_run_rows rows whose kept columns
 * [lo, cout) make about PW_ADD_BLK floats; a segment of a tap is
 * cv_seg_runs of them (0 if it keeps nothing) */
static inline int cv_run_rows(int lo, int cout) {
  const int w = pw_round_up(cout - lo, PW_VL);
  return PW_ADD_BLK / w > 1 ? PW_ADD_BLK / w : 1;
}
static inline int cv_seg_runs(const cv_seg *sg, int cout) {
  return sg->lo < cout ? (sg->b - sg->a + cv_run_rows(sg->lo, cout) - 1) / cv_run_rows(sg->lo, cout) : 0;
}

/* zero columns [cb, cb + PW_NV vectors) of the nc rows (cout floats each) of a partial */
static inline void cv_zero_rows(const cv_wrow *rw, int nc, int cb, int cout) {
  const int n = cout - cb < PW_NV * PW_VL ? cout - cb : PW_NV * PW_VL;
  for (int j = 0; j < nc; j++) memset(rw[j].dw + cb, 0, (size_t)n * sizeof(float));
}

/* db += sum over pixels of dout. Items: nk pixel chunks x column blocks of
 * PW_NV vectors; each sums its pixels in order; nk == 1: into db (one owner
 * per block), else into its chunk's partial (part: nk x cout floats), then
 * added in chunk order */
static inline void cv_bias_grad(float *db, float *part, int nk, const float *dout,
                                const pcnn_conv_t *c) {
  const int cout = c->cout, cblk = PW_NV * PW_VL, ncb = (cout + cblk - 1) / cblk;
  const size_t p = (size_t)c->n * c->h * c->w;
#pragma omp parallel for schedule(static)
  for (int it = 0; it < nk * ncb; it++) {
    const int k = it / ncb, cb = (it % ncb) * cblk;
    float *dst = nk > 1 ? part + (size_t)k * cout : db;
    pw_vm mt[PW_NV];
    pw_vf s[PW_NV];
    for (int v = 0; v < PW_NV; v++) {
      mt[v] = pw_mask_range(0, cout - cb - v * PW_VL);
      s[v] = pw_zero();
    }
    const size_t i1 = p * (k + 1) / nk;
    for (size_t i = p * k / nk; i < i1; i++)
      for (int v = 0; v < PW_NV; v++)
        s[v] = pw_add(s[v], pw_loadm(mt[v], dout + i * cout + cb + v * PW_VL));
    for (int v = 0; v < PW_NV; v++) {
      float *d = dst + cb + v * PW_VL;
      pw_storem(d, mt[v], nk > 1 ? s[v] : pw_add(s[v], pw_loadm(mt[v], d)));
    }
  }
  if (nk > 1) pw_add_partials(db, part, cout, nk, 1, cout, 0);
}

/* im2col unit u's rows (row group u / ncb of the kept rows row[], first kept
 * output cob[]) into rw, their sums into pk + row cout (a [kc + 1][cout]
 * partial) if pk, else into dw's row (row kc: db); returns how many */
static inline int cv_im2col_rows(cv_wrow *rw, int u, const cv_items *s, const int *row,
                                 const int *cob, int kc, int cout, float *pk, float *dw,
                                 float *db) {
  const int g = u / s->ncb, q0 = g * (s->nrow / s->ngrp) + (g < s->nrow % s->ngrp ? g : s->nrow % s->ngrp);
  const int nc = cv_group_rows(s, g);
  for (int j = 0; j < nc; j++) {
    const int i = row[q0 + j];
    rw[j] = (cv_wrow){0, 0, i, cob[q0 + j], pk ? pk + (size_t)i * cout : i == kc ? db : dw + (size_t)i * cout};
  }
  return nc;
}

/* Weight gradient in row-im2col mode (few input channels, cv_im2col_fits):
 * dw viewed as [kc][cout] (the kept taps are its first kc rows) is
 * col^T x dout, col the im2col rows of cv_im2col_row plus a column of ones
 * whose "weight row" is db, so the bias gradient rides along (a separate
 * pass over dout cost a quarter of the time). Row groups are up to CV_NC
 * consecutive kept rows, balanced (unlike runs of taps within one kernel
 * row); items are pixel chunks x units (see the top of the file). Each
 * thread gathers the col rows of the bands of its chunks (once per band,
 * for all its units there). A partial is [kc + 1][cout] (row kc: db). The
 * scratch belongs to the calling thread (a col slice per OpenMP thread,
 * then the partials) and grows once; without it, the reference. */
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
  const int ngrp = (nrow + CV_NC - 1) / CV_NC, units = ngrp * ncb;
  const int bpi = (H + CV_WBAND - 1) / CV_WBAND, nb = c->n * bpi; /* bands */
  const size_t ldp = (size_t)(kc + 1) * cout;
  const int nk = pw_chunks(units, nb, ldp);
  const cv_items s = {nk, nb, units, ncb, CV_IM2COL, nrow, ngrp, 0, cin, NULL};
  /* scratch of the calling thread: one col slice per OpenMP thread, then
   * the nk partials */
  const int nth = omp_get_max_threads();
  const size_t slice = (size_t)CV_WBAND * W * ld + (size_t)(W + 2 * r) * cin;
  float *const scratch = pcnn_scratch((size_t)nth * slice + (nk > 1 ? nk * ldp : 0));
  if (!scratch) {
    pcnn_conv_bwd_weights__ref(dw, db, dout, in, c);
    return;
  }
  float *const part = scratch + (size_t)nth * slice;
#pragma omp parallel num_threads(nth)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    int i0, i1;
    cv_my_items(&i0, &i1, &s, tid, nt);
    float *col = scratch + (size_t)tid * slice, *pad = col + (size_t)CV_WBAND * W * ld;
    for (int i = 0; i < CV_WBAND * W; i++) col[(size_t)i * ld + kc] = 1.f;
    for (int it = i0; it >= 0 && it < i1;) {
      const int kk = it / units, ua = it % units, ub = i1 - kk * units < units ? i1 - kk * units : units;
      float *pk = nk > 1 ? part + (size_t)kk * ldp : NULL;
      cv_wrow rw[CV_NC];
      if (pk) /* this chunk's items start from a zeroed partial */
        for (int u = ua; u < ub; u++)
          cv_zero_rows(rw, cv_im2col_rows(rw, u, &s, row, cob, kc, cout, pk, dw, db), (u % ncb) * cblk, cout);
      for (int b = nb * kk / nk; b < nb * (kk + 1) / nk; b++) {
        const int img = b / bpi, y0 = (b % bpi) * CV_WBAND;
        const int nbr = H - y0 < CV_WBAND ? H - y0 : CV_WBAND;
        for (int j = 0; j < nbr; j++)
          cv_im2col_row(col + (size_t)j * W * ld, ld, pad, in, img, y0 + j, H, W, cin, r);
        /* the band as an image of nbr rows and ld channels, every tap at (0, 0) */
        const cv_wgrad_t g = {dout + ((size_t)img * H + y0) * W * cout, col, 1, nbr, W, ld, cout};
        for (int u = ua; u < ub; u++) {
          const int cb = (u % ncb) * cblk;
          const int nv = cout - cb >= cblk ? PW_NV : (cout - cb + PW_VL - 1) / PW_VL;
          const int nc = cv_im2col_rows(rw, u, &s, row, cob, kc, cout, pk, dw, db);
          cv_wgrad_dispatch(&g, rw, nc, nv, 0, 0, nbr, cb);
        }
      }
      it = kk * units + ub;
    }
    if (nk > 1) {
      /* the partials in chunk order, one owner per kept row (row kc: db) */
#pragma omp barrier
#pragma omp for schedule(static)
      for (int q = 0; q < nrow; q++) {
        const int i = row[q], lo = cob[q];
        float *dst = i == kc ? db : dw + (size_t)i * cout;
        pw_add_partials(dst + lo, part + (size_t)i * cout + lo, ldp, nk, 1, cout - lo, 0);
      }
    }
  }
}

/* engine-2 unit u's rows (row group u / ncb: a tap's CV_NC input channels,
 * or a run of taps with all of them) into rw, their sums at base + (the
 * row's offset in dw); returns how many */
static inline int cv_tap_rows(cv_wrow *rw, int u, const cv_items *s, const cv_tap *tap,
                              const int *it_t0, float *base, const float *dw, int cout) {
  const int g = u / s->ncb, cin = s->cin;
  const int t0 = s->mode == CV_TAP_CI ? g / s->per : it_t0[g];
  const int t1 = s->mode == CV_TAP_CI ? t0 + 1 : t0 + s->it_nt[g];
  const int ci0 = s->mode == CV_TAP_CI ? (g % s->per) * CV_NC : 0;
  const int ci1 = s->mode == CV_TAP_CI ? (ci0 + CV_NC < cin ? ci0 + CV_NC : cin) : cin;
  int nc = 0;
  for (int ti = t0; ti < t1; ti++) {
    const cv_tap *t = &tap[ti];
    for (int ci = ci0; ci < ci1; ci++, nc++) {
      int lo = cout;
      for (int q = 0; q < t->nseg; q++)
        if (ci >= t->seg[q].a && ci < t->seg[q].b) lo = t->seg[q].lo;
      rw[nc] = (cv_wrow){t->dy, t->dx, ci, lo, base + (t->w - dw) + (size_t)ci * cout};
    }
  }
  return nc;
}

/* dw += in (x) dout at kept taps, db += sum dout (conv_wgrad.h). */
static inline void cv_conv_bwd_weights(float *dw, float *db, const float *dout, const float *in,
                                       const pcnn_conv_t *c) {
  if (cv_im2col_fits(c)) {
    cv_wgrad_im2col(dw, db, dout, in, c);
    return;
  }
  cv_tap tap[CV_MAX_TAPS];
  const int nt = cv_fwd_taps(tap, dw, c); /* tap[t].w: dw at that tap */
  const int cin = c->cin, cout = c->cout, cblk = PW_NV * PW_VL;
  const int ncb = (cout + cblk - 1) / cblk;
  /* row groups: cin >= NC: (tap, NC input channels); else a run of taps of
   * one kernel row with all their input channels (first layer: cin 1 or 3) */
  int it_t0[CV_MAX_TAPS], it_nt[CV_MAX_TAPS], ngrp = 0;
  const int per = (cin + CV_NC - 1) / CV_NC;
  if (cin >= CV_NC) {
    ngrp = nt * per;
  } else {
    const int tpi = CV_NC / cin;
    for (int t0 = 0; t0 < nt;) {
      int t1 = t0;
      while (t1 < nt && tap[t1].dy == tap[t0].dy) t1++;
      const int nk = t1 - t0, ni = (nk + tpi - 1) / tpi;
      for (int i = 0, q = t0; i < ni; i++) {
        const int m = nk / ni + (i < nk % ni);
        it_t0[ngrp] = q;
        it_nt[ngrp++] = m;
        q += m;
      }
      t0 = t1;
    }
  }
  const int units = ngrp * ncb;
  const int bpi = (c->h + CV_WBAND - 1) / CV_WBAND, nb = c->n * bpi; /* bands */
  const size_t ldp = (size_t)c->k * c->k * cin * cout, p = (size_t)c->n * c->h * c->w;
  const int nk = pw_chunks(units, nb, ldp), nkb = pw_chunks(ncb, (long)((p + 63) / 64), cout);
  const cv_items s = {nk, nb, units, ncb, cin >= CV_NC ? CV_TAP_CI : CV_TAP_RUN, 0, ngrp, per, cin, it_nt};
  /* scratch of the calling thread: the nk partials of dw, then nkb of db */
  const size_t nw = nk > 1 ? nk * ldp : 0, nbias = nkb > 1 ? nkb * (size_t)cout : 0;
  float *const part = nw + nbias ? pcnn_scratch(nw + nbias) : NULL;
  if (nw + nbias && !part) {
    pcnn_conv_bwd_weights__ref(dw, db, dout, in, c);
    return;
  }
  cv_bias_grad(db, part + nw, nkb, dout, c);
  const cv_wgrad_t g = {dout, in, c->n, c->h, c->w, cin, cout};
#pragma omp parallel
  {
    int i0, i1;
    cv_my_items(&i0, &i1, &s, omp_get_thread_num(), omp_get_num_threads());
    for (int it = i0; it >= 0 && it < i1;) {
      const int kk = it / units, ua = it % units, ub = i1 - kk * units < units ? i1 - kk * units : units;
      float *base = nk > 1 ? part + (size_t)kk * ldp : dw;
      cv_wrow rw[CV_NC];
      if (nk > 1) /* this chunk's items start from a zeroed partial */
        for (int u = ua; u < ub; u++)
          cv_zero_rows(rw, cv_tap_rows(rw, u, &s, tap, it_t0, base, dw, cout), (u % ncb) * cblk, cout);
      /* the chunk's bands, image by image: runs of up to CV_WRUN output
       * rows of one image per unit (the tile stays in registers over the
       * run), in row order, so each dw element sums its pixels in the same
       * order as band by band */
      const int bk1 = nb * (kk + 1) / nk;
      for (int b = nb * kk / nk; b < bk1;) {
        const int img = b / bpi, be = bk1 < (img + 1) * bpi ? bk1 : (img + 1) * bpi;
        const int yb = (b % bpi) * CV_WBAND, yl = ((be - 1) % bpi + 1) * CV_WBAND;
        const int ye = yl < c->h ? yl : c->h;
        for (int y0 = yb; y0 < ye; y0 += CV_WRUN) {
          const int y1 = y0 + CV_WRUN < ye ? y0 + CV_WRUN : ye;
          for (int u = ua; u < ub; u++) {
            const int cb = (u % ncb) * cblk;
            const int nv = cout - cb >= cblk ? PW_NV : (cout - cb + PW_VL - 1) / PW_VL;
            const int nc = cv_tap_rows(rw, u, &s, tap, it_t0, base, dw, cout);
            cv_wgrad_dispatch(&g, rw, nc, nv, img, y0, y1, cb);
          }
        }
        b = be;
      }
      it = kk * units + ub;
    }
    if (nk > 1) {
      /* the partials in chunk order: items are runs of up to PW_ADD_BLK /
       * (kept columns) rows of one tap segment (the same kept columns), one
       * owner per kept dw entry */
#pragma omp barrier
      int ncomb = 0;
      for (int t = 0; t < nt; t++)
        for (int j = 0; j < tap[t].nseg; j++) ncomb += cv_seg_runs(&tap[t].seg[j], cout);
#pragma omp for schedule(static)
      for (int it = 0; it < ncomb; it++) {
        int t = 0, j = 0, i = it; /* run i of segment j of tap t */
        for (;; j++) {
          if (j == tap[t].nseg) j = 0, t++;
          const int n = cv_seg_runs(&tap[t].seg[j], cout);
          if (i < n) break;
          i -= n;
        }
        const cv_seg *sg = &tap[t].seg[j];
        const int g = cv_run_rows(sg->lo, cout), r0 = sg->a + i * g, nr = sg->b - r0 < g ? sg->b - r0 : g;
        const size_t off = (size_t)(tap[t].w - dw) + (size_t)r0 * cout + sg->lo;
        pw_add_partials(dw + off, part + off, ldp, nk, nr, cout - sg->lo, cout);
      }
    }
  }
}

int PW_KERNEL(conv_bwd_weights_supports)(const pcnn_conv_t *c) { return cv_taps_fit(c); }

void PW_KERNEL(conv_bwd_weights)(float *dw, float *db, const float *dout, const float *in,
                                 const pcnn_conv_t *c) {
  if (!PW_KERNEL(conv_bwd_weights_supports)(c)) {
    pcnn_conv_bwd_weights__ref(dw, db, dout, in, c);
    return;
  }
  if (c->k == 1 && PW_KERNEL(conv1x1_bwd_weights)(dw, db, dout, in, c)) return;
  cv_conv_bwd_weights(dw, db, dout, in, c);
}
