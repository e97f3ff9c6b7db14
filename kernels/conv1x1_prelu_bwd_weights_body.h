/* conv1x1_prelu_bwd_weights_body.h: the body of
 * pcnn_conv1x1_prelu_bwd_weights__avx512 and __avx2 (fused masked 1x1 conv +
 * PReLU: weight, bias and slope gradients) and of
 * pcnn_conv1x1_bwd_weights__avx512 and __avx2 (the plain masked 1x1 conv,
 * pw_conv1x1.h, used by pcnn_conv_bwd_weights__<isa> for k == 1), included by
 * kernels/conv1x1_prelu_bwd_weights__avx512.c and __avx2.c after their
 * pw_simd__<isa>.h, which sets the vector width; PW_KERNEL(op) names the
 * function for the ISA. One core, bww_core, with a compile-time act flag:
 *   act:  dpre[p][co] = pre > 0 ? dout : alpha[co] dout;  !act: dpre = dout
 *   dw[ci][co] += sum_p in[p][ci] dpre[p][co]   (kept taps co >= co_begin(ci) only)
 *   db[co] += sum_p dpre[p][co];  act: dalpha[co] += sum_p dout pre (pre <= 0)
 * A GEMM in^T x dpre reducing over pixels: register tiles of PW_MR input
 * channels x PW_NV vectors of output channels, the input broadcast, a dpre
 * row loaded per pixel.
 * Work split (fixed by the shape and the ISA, never by the thread count):
 * the parallel items are nk pixel chunks (runs of whole blocks of 64
 * pixels) x nj column groups (up to 256 output columns, BWW_CG: one group
 * for every seed layer), nk = PW_PAR_ITEMS / nj rounded up, at most one
 * chunk per block and the partials within PW_PART_MAX (pw_chunks,
 * pw_gemm.h): 64 items for every 1x1 layer of the seed model at batch 32,
 * both ISAs. An item walks its chunk block by block: it writes the block's
 * dpre for its own columns (zero-padded to whole vectors) to a stack buffer
 * (without act and with cout a multiple of the vector, dout is read in
 * place), then runs the tiles of every input channel over it, so each input
 * row it loads serves all its columns and no item repeats another's work.
 * Tile sums go into the chunk's partial (dw, db, dalpha of chunk k: the
 * calling thread's grow-once scratch, kernel_scratch.h) with stores masked
 * to the kept taps; the chunk's first block stores them (no zeroing pass).
 * Then the partials are added to dw in chunk order (pw_add_partials), one
 * owner per kept dw entry (masked dw entries are never written). The next
 * block's input rows are prefetched into L2. Every sum runs over the same
 * chunks and blocks in the same order whatever the thread count: bitwise
 * the same at any thread count.
 * Cost of the 64 partials (each chunk's written cold, then all read by the
 * combine: 2 MB for 128 -> 64, 4 MB for 128 -> 128) against the 4 chunks
 * before, A/B medians of per-round time ratios on the 2-core AMD EPYC (Zen
 * 4) VM, seed 1x1 rows, both ISAs: +1 to +11% on one thread (9 rounds),
 * +2 to +7% on two (5 rounds).
 * (Until then: 4 fixed chunks, at most 4 busy threads. Column blocks of one
 * register tile as items re-read each chunk's input once per block: 1.8 to
 * 1.9x slower on AVX2 on one thread (3 rounds). Splitting the rows of dw
 * between threads made every thread build each block's dpre: 2 threads ran
 * 128->64 at 3.3 ms against 2.8 ms.)
 * Layers with more than 4096 output channels
 * (pcnn_conv1x1_prelu_bwd_weights_supports__<isa>; the limit dates from the
 * whole-row dpre block, PW_DBUF / 4), or when the partials cannot be
 * allocated: the fused kernel runs the reference, the plain one returns 0
 * (its caller runs the direct conv engine). */
#include <omp.h>

#include "kernel_scratch.h"
#include "pcnn_kernels.h"
#include "pw_conv1x1.h"
#include "pw_gemm.h"

typedef struct {
  int cin, cout, nseg;
  pw_seg_t seg[3];
} bww_ctx;

/* one register tile: input channels [ci0, ci0 + mr), output channels
 * [j, j + nv PW_VL); pn pixels of in (row stride cin) and of dp, the dpre
 * columns from j on (row stride ldp); the sums are added into dw's kept
 * entries, or stored there when first (a partial's first block) */
static PW_INLINE void tile(const int mr, const int nv, float *dw, const float *in, const float *dp,
                           int ldp, int pn, int ci0, int j, int first, const bww_ctx *x) {
  const int cb = pw_co_begin(x->seg, x->nseg, ci0, x->cout); /* smallest of the tile's rows */
  const int v0 = cb <= j ? 0 : (cb - j) / PW_VL;
  if (v0 >= nv) return;
  pw_vf acc[PW_MR][PW_NV];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) acc[r][v] = pw_zero();
  pw_mac_from(acc, mr, nv, v0, in + ci0, 1, x->cin, dp, ldp, pn);
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    const int cbr = pw_co_begin(x->seg, x->nseg, ci0 + r, x->cout);
    float *row = dw + (size_t)(ci0 + r) * x->cout;
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
      const int co = j + v * PW_VL, lo = cbr - co, hi = x->cout - co;
      if (v < v0 || lo >= PW_VL) continue;
      if (lo <= 0 && hi >= PW_VL) {
        pw_store(row + co, first ? acc[r][v] : pw_add(pw_load(row + co), acc[r][v]));
      } else {
        const pw_vm m = pw_mask_range(lo, hi);
        pw_storem(row + co, m, first ? acc[r][v] : pw_add(pw_loadm(m, row + co), acc[r][v]));
      }
    }
  }
}

static PW_INLINE void tile_nv(int mr, const int nv, float *dw, const float *in, const float *dp,
                              int ldp, int pn, int ci0, int j, int first, const bww_ctx *x) {
  switch (mr) {
    case 6: tile(6, nv, dw, in, dp, ldp, pn, ci0, j, first, x); break;
    case 5: tile(5, nv, dw, in, dp, ldp, pn, ci0, j, first, x); break;
    case 4: tile(4, nv, dw, in, dp, ldp, pn, ci0, j, first, x); break;
    case 3: tile(3, nv, dw, in, dp, ldp, pn, ci0, j, first, x); break;
    case 2: tile(2, nv, dw, in, dp, ldp, pn, ci0, j, first, x); break;
    case 1: tile(1, nv, dw, in, dp, ldp, pn, ci0, j, first, x); break;
    default: break;
  }
}

static void tile_any(int mr, int nv, float *dw, const float *in, const float *dp, int ldp, int pn,
                     int ci0, int j, int first, const bww_ctx *x) {
  switch (nv) {
#if PW_NV > 2
    case 4: tile_nv(mr, 4, dw, in, dp, ldp, pn, ci0, j, first, x); break;
    case 3: tile_nv(mr, 3, dw, in, dp, ldp, pn, ci0, j, first, x); break;
#endif
    case 2: tile_nv(mr, 2, dw, in, dp, ldp, pn, ci0, j, first, x); break;
    case 1: tile_nv(mr, 1, dw, in, dp, ldp, pn, ci0, j, first, x); break;
    default: break;
  }
}

/* the shape limit of both kernels of this file: cout <= 4096 (a dpre block
 * of 4 whole rows fitting PW_DBUF, from before the column blocks) */
int PW_KERNEL(conv1x1_prelu_bwd_weights_supports)(const pcnn_conv_t *c) {
  return 4 * pw_round_up(c->cout, PW_VL) <= PW_DBUF;
}

/* a column group: up to 256 output columns (the whole row of every seed
 * layer), so an item reuses each input row it loads over all its columns */
#define BWW_CG 256
/* pixels per block: the block's dpre (BWW_PB x BWW_CG floats, PW_DBUF) stays
 * in L1/L2; chunks are whole blocks */
#define BWW_PB 64

/* dw [cin][cout], db, dalpha (cout, act only) +=; dout, pre (act only) (P, cout);
 * in (P, cin); alpha (cout, act only). The shape must pass
 * conv1x1_prelu_bwd_weights_supports (callers test it). Returns 0, writing
 * nothing, if the partials cannot be allocated. */
static PW_INLINE int bww_core(const int act, float *dw, float *db, float *dalpha,
                              const float *dout, const float *pre, const float *in,
                              const float *alpha, const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, ldd = pw_round_up(cout, PW_VL);
  const int direct = !act && ldd == cout; /* dpre is dout, read in place */
  bww_ctx x = {cin, cout, 0, {{0, 0, 0}}};
  x.nseg = pw_segments(x.seg, c);
  const long p = (long)c->n * c->h * c->w;
  /* partial k: dw [cin][cout], then db and dalpha (ldd each) of chunk k */
  const size_t ldp = (size_t)cin * cout + 2 * (size_t)ldd;
  /* the items: nk pixel chunks (runs of whole blocks) x nj column groups,
   * chunk-major; nk: enough items for PW_PAR_ITEMS threads, at least a
   * block a chunk, the partials within PW_PART_MAX */
  const long nb = (p + BWW_PB - 1) / BWW_PB;
  const int nj = (ldd + BWW_CG - 1) / BWW_CG, nk = pw_chunks(nj, nb, ldp), items = nk * nj;
  float *const part = pcnn_scratch((size_t)nk * ldp);
  if (!part) return 0;
  /* the combine's items: runs of up to g[s] dw rows of segment s (the same
   * kept columns, about PW_ADD_BLK floats), then one for db and dalpha */
  int g[3], ncomb = 1;
  for (int q = 0; q < x.nseg; q++) {
    const int w = pw_round_up(cout - x.seg[q].co0, PW_VL);
    g[q] = PW_ADD_BLK / w > 1 ? PW_ADD_BLK / w : 1;
    ncomb += (x.seg[q].c1 - x.seg[q].c0 + g[q] - 1) / g[q];
  }
#pragma omp parallel
  {
    float buf[BWW_PB * BWW_CG] __attribute__((aligned(64))); /* dpre (pn, gw) */
#pragma omp for schedule(static)
    for (int it = 0; it < items; it++) {
      const int k = it / nj, j0 = (it % nj) * BWW_CG;
      const int gw = ldd - j0 < BWW_CG ? ldd - j0 : BWW_CG; /* whole vectors */
      const int pb = BWW_PB;
      float *dwk = part + (size_t)k * ldp, *sdb = dwk + (size_t)cin * cout + j0, *sda = sdb + ldd;
      /* this item's columns of partial k: the first block stores the kept
       * dw entries (tile), db and dalpha start from 0 */
      for (int v = 0; v < gw; v += PW_VL) {
        pw_store(sdb + v, pw_zero());
        pw_store(sda + v, pw_zero());
      }
      const long b0 = nb * k / nk, e = nb * (k + 1) / nk * pb < p ? nb * (k + 1) / nk * pb : p;
      for (long p0 = b0 * pb; p0 < e; p0 += pb) {
        const int pn = (int)(e - p0 < pb ? e - p0 : pb);
        /* dpre (pn, gw) of columns [j0, j0 + gw), zero beyond cout: in buf
         * (row stride gw), or dout itself (row stride cout) */
        const float *dp = direct ? dout + (size_t)p0 * cout + j0 : buf;
        const int ldq = direct ? cout : gw;
        /* the next block's input rows, into L2 (pw_gemm.h) */
        const long q1 = p0 + 2 * pb < e ? p0 + 2 * pb : e;
        if (q1 > p0 + pb) pw_prefetch_l2(in + (size_t)(p0 + pb) * cin, (size_t)(q1 - p0 - pb) * cin);
        for (int i = 0; i < pn; i++) {
          const size_t o = (size_t)(p0 + i) * cout + j0;
          for (int v = 0; v < gw; v += PW_VL) {
            const int left = cout - j0 - v;
            const pw_vf gv = pw_load_n(dout + o + v, left);
            const pw_vf xv = act ? pw_load_n(pre + o + v, left) : gv;
            const pw_vf d = act ? pw_prelu_sel(xv, gv, pw_load_n(alpha + j0 + v, left)) : gv;
            if (!direct) pw_store(buf + (size_t)i * gw + v, d);
            pw_store(sdb + v, pw_add(pw_load(sdb + v), d));
            if (act) pw_store(sda + v, pw_add(pw_load(sda + v), pw_neg_part(xv, gv)));
          }
        }
        for (int ci0 = 0; ci0 < cin; ci0 += PW_MR) {
          const int mr = cin - ci0 < PW_MR ? cin - ci0 : PW_MR;
          for (int j = 0; j < gw; j += PW_NV * PW_VL) {
            const int nv = (gw - j) / PW_VL < PW_NV ? (gw - j) / PW_VL : PW_NV;
            tile_any(mr, nv, dwk, in + (size_t)p0 * cin, dp + j, ldq, pn, ci0, j0 + j, p0 == b0 * pb, &x);
          }
        }
      }
    }
    /* the partials in chunk order, one owner per kept dw entry */
#pragma omp for schedule(static)
    for (int it = 0; it < ncomb; it++) {
      int q = 0, i = it; /* item i of segment q */
      for (; q < x.nseg; q++) {
        const int n = (x.seg[q].c1 - x.seg[q].c0 + g[q] - 1) / g[q];
        if (i < n) break;
        i -= n;
      }
      if (q < x.nseg) {
        const int r0 = x.seg[q].c0 + i * g[q], nr = x.seg[q].c1 - r0 < g[q] ? x.seg[q].c1 - r0 : g[q];
        const size_t o = (size_t)r0 * cout + x.seg[q].co0;
        pw_add_partials(dw + o, part + o, ldp, nk, nr, cout - x.seg[q].co0, cout);
      } else {
        const float *pdb = part + (size_t)cin * cout;
        pw_add_partials(db, pdb, ldp, nk, 1, cout, 0);
        if (act) pw_add_partials(dalpha, pdb + ldd, ldp, nk, 1, cout, 0);
      }
    }
  }
  return 1;
}

void PW_KERNEL(conv1x1_prelu_bwd_weights)(float *dw, float *db, float *dalpha,
                                            const float *dout, const float *pre, const float *in,
                                            const float *alpha, const pcnn_conv_t *c) {
  if (!PW_KERNEL(conv1x1_prelu_bwd_weights_supports)(c) ||
      !bww_core(1, dw, db, dalpha, dout, pre, in, alpha, c))
    pcnn_conv1x1_prelu_bwd_weights__ref(dw, db, dalpha, dout, pre, in, alpha, c);
}

int PW_KERNEL(conv1x1_bwd_weights)(float *dw, float *db, const float *dout, const float *in,
                                   const pcnn_conv_t *c) {
  return PW_KERNEL(conv1x1_prelu_bwd_weights_supports)(c) &&
         bww_core(0, dw, db, NULL, dout, NULL, in, NULL, c);
}
