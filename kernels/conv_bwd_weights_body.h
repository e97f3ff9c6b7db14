/* conv_bwd_weights_body.h: the body of pcnn_conv_bwd_weights__avx512 and
 * __avx2, included by kernels/conv_bwd_weights__avx512.c and __avx2.c after
 * their pw_simd__<isa>.h; PW_KERNEL(op) names the function for the ISA.
 * Contract: pcnn_conv_bwd_weights_fn (pcnn_kernels.h): dw [k][k][cin][cout]
 * += in (x) dout at kept taps, db (cout) += sum dout; ACCUMULATES; masked
 * taps of dw are never written (centre: masked stores).
 * Engine 2 (conv_wgrad.h): a work item is 6 (tap, ci) rows x 4 (AVX2: 2)
 * output vectors held in registers; per pixel, the dout vectors are loaded
 * once and each row's input is broadcast once; the tile stays in registers
 * over bands of 4 output rows. For the first layer (cin < 16) the items are
 * rows of the row-im2col view of the kept taps, with a column of ones that
 * yields db in the same pass (cv_wgrad_im2col). Items are split over threads
 * by row count; every dw element has one owner summing pixels in a fixed
 * order, so the result is bitwise identical for any thread count.
 * k == 1 runs on the pointwise GEMM tile instead
 * (pcnn_conv1x1_bwd_weights__<isa>, pw_conv1x1.h); engine 2 only when its
 * dpre block does not fit. Shapes the kernel does not support
 * (pcnn_conv_bwd_weights_supports__<isa>: k >= 17, conv_taps.h) run on the
 * reference; so does the first layer when its col scratch cannot be
 * allocated. */
#include <omp.h>

#include "conv_wgrad.h"
#include "kernel_scratch.h"
#include "pcnn_kernels.h"
#include "pw_conv1x1.h"

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

/* dw += in (x) dout at kept taps, db += sum dout (conv_wgrad.h). */
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
