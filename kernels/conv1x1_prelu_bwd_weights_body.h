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
 * block's input rows are prefetched into L2. On a one-thread team (the
 * model's per-image calls inside its own parallel region) the same items
 * run in item order with one running sum instead of nk partials: each
 * chunk's partial is added to it in chunk order (bww_serial), the same adds
 * in the same order. Every sum runs over the same chunks and blocks in the
 * same order whatever the thread count: bitwise the same at any thread
 * count.
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
  int ldd;     /* cout rounded up to whole vectors */
  long p, nb;  /* pixels, blocks of BWW_PB pixels */
  int nk, nj;  /* pixel chunks, column groups */
  size_t ldp;  /* floats of a partial: dw [cin][cout], then db and dalpha (ldd each) */
  pw_comb_t comb;  /* the combine's items (pw_gemm.h) */
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

/* db and dalpha (ldd floats after it) of gw columns start from 0 */
static inline void bww_zero_sums(float *sdb, int ldd, int gw) {
  for (int v = 0; v < gw; v += PW_VL) {
    pw_store(sdb + v, pw_zero());
    pw_store(sdb + ldd + v, pw_zero());
  }
}

/* the sums of nvv column vectors [j, j + nvv PW_VL) over pn pixels, kept in
 * registers and added pixel by pixel in order: sdb[j..] (db), sdb[ldd + j..]
 * (dalpha, act only) +=; the dpre rows into buf (row stride gw) unless
 * direct. g, xp: dout and pre at the block's first pixel, column j. */
static PW_INLINE void bww_sums(const int act, const int nvv, const int direct, float *sdb, int ldd,
                               float *buf, int gw, const float *g, const float *xp,
                               const float *alpha, int left, int pn, int cout) {
  pw_vf sb[4], sa[4], al[4];
#pragma GCC unroll 4
  for (int u = 0; u < nvv; u++) {
    sb[u] = pw_load(sdb + u * PW_VL);
    sa[u] = act ? pw_load(sdb + ldd + u * PW_VL) : pw_zero();
    al[u] = act ? pw_load_n(alpha + u * PW_VL, left - u * PW_VL) : pw_zero();
  }
  for (int i = 0; i < pn; i++) {
#pragma GCC unroll 4
    for (int u = 0; u < nvv; u++) {
      const int l = left - u * PW_VL;
      const pw_vf gv = pw_load_n(g + (size_t)i * cout + u * PW_VL, l);
      const pw_vf xv = act ? pw_load_n(xp + (size_t)i * cout + u * PW_VL, l) : gv;
      const pw_vf d = act ? pw_prelu_sel(xv, gv, al[u]) : gv;
      if (!direct) pw_store(buf + (size_t)i * gw + u * PW_VL, d);
      sb[u] = pw_add(sb[u], d);
      if (act) sa[u] = pw_add(sa[u], pw_neg_part(xv, gv));
    }
  }
#pragma GCC unroll 4
  for (int u = 0; u < nvv; u++) {
    pw_store(sdb + u * PW_VL, sb[u]);
    if (act) pw_store(sdb + ldd + u * PW_VL, sa[u]);
  }
}

/* dw[c0 + ..] (nvv vectors of input channels; stored when first, else
 * added) = the sums over pn pixels of in[p][ci] dp[p] for one output
 * column (cout == 1), pixel by pixel in order: lane by lane the same FMAs
 * as the register tile's, with the input channels in the vector lanes */
static PW_INLINE void bww_col1_vec(const int nvv, float *dw, const float *in, const float *dp,
                                   int ldq, int pn, int cin, int c0, int first) {
  pw_vf acc[4];
#pragma GCC unroll 4
  for (int u = 0; u < nvv; u++) acc[u] = pw_zero();
  for (int i = 0; i < pn; i++) {
    const pw_vf d = pw_bcast(dp + (size_t)i * ldq);
#pragma GCC unroll 4
    for (int u = 0; u < nvv; u++)
      acc[u] = pw_fma(pw_load_n(in + (size_t)i * cin + c0 + u * PW_VL, cin - c0 - u * PW_VL), d, acc[u]);
  }
#pragma GCC unroll 4
  for (int u = 0; u < nvv; u++) {
    float *q = dw + c0 + u * PW_VL;
    const int left = cin - c0 - u * PW_VL;
    pw_store_n(q, left, first ? acc[u] : pw_add(pw_load_n(q, left), acc[u]));
  }
}

/* The weight gradient of a one-column layer (the Bernoulli head, 128 -> 1)
 * with every tap kept: a register tile of 6 input channels x one vector of
 * output channels would use 1 lane of 16, so the input channels go in the
 * lanes instead (dw [cin][1] is contiguous) */
static void bww_col1(float *dw, const float *in, const float *dp, int ldq, int pn, int cin, int first) {
  for (int c0 = 0; c0 < cin; c0 += 4 * PW_VL) {
    const int nvv = (cin - c0 + PW_VL - 1) / PW_VL < 4 ? (cin - c0 + PW_VL - 1) / PW_VL : 4;
    switch (nvv) {
      case 4: bww_col1_vec(4, dw, in, dp, ldq, pn, cin, c0, first); break;
      case 3: bww_col1_vec(3, dw, in, dp, ldq, pn, cin, c0, first); break;
      case 2: bww_col1_vec(2, dw, in, dp, ldq, pn, cin, c0, first); break;
      default: bww_col1_vec(1, dw, in, dp, ldq, pn, cin, c0, first); break;
    }
  }
}

/* One block: pixels [p0, min(p0 + BWW_PB, e)), the columns [j0, j0 + gw)
 * of a column group. Its dpre (zero beyond cout) goes to buf (row stride
 * gw; or is dout itself, row stride cout, when direct); sdb (db) and sdb +
 * ldd (dalpha) += its sums; then the tiles of every input channel run over
 * it: dwk's kept entries += their sums (first: =). The next block's input
 * rows are prefetched into L2 (pw_gemm.h). */
static PW_INLINE void bww_block(const int act, float *dwk, float *sdb, const float *dout,
                                const float *pre, const float *in, const float *alpha, long p0,
                                long e, int j0, int first, float *buf, const bww_ctx *x) {
  const int cin = x->cin, cout = x->cout, ldd = x->ldd;
  const int gw = ldd - j0 < BWW_CG ? ldd - j0 : BWW_CG; /* whole vectors */
  const int direct = !act && ldd == cout;               /* dpre is dout, read in place */
  const int pn = (int)(e - p0 < BWW_PB ? e - p0 : BWW_PB);
  const float *dp = direct ? dout + (size_t)p0 * cout + j0 : buf;
  const int ldq = direct ? cout : gw;
  const long q1 = p0 + 2 * BWW_PB < e ? p0 + 2 * BWW_PB : e;
  if (q1 > p0 + BWW_PB) pw_prefetch_l2(in + (size_t)(p0 + BWW_PB) * cin, (size_t)(q1 - p0 - BWW_PB) * cin);
  for (int v = 0; v < gw; v += 4 * PW_VL) {
    const int nvv = (gw - v) / PW_VL < 4 ? (gw - v) / PW_VL : 4, left = cout - j0 - v;
    const size_t o = (size_t)p0 * cout + j0 + v;
    const float *xp = act ? pre + o : NULL;
    switch (nvv) {
      case 4: bww_sums(act, 4, direct, sdb + v, ldd, buf + v, gw, dout + o, xp, alpha + j0 + v, left, pn, cout); break;
      case 3: bww_sums(act, 3, direct, sdb + v, ldd, buf + v, gw, dout + o, xp, alpha + j0 + v, left, pn, cout); break;
      case 2: bww_sums(act, 2, direct, sdb + v, ldd, buf + v, gw, dout + o, xp, alpha + j0 + v, left, pn, cout); break;
      default: bww_sums(act, 1, direct, sdb + v, ldd, buf + v, gw, dout + o, xp, alpha + j0 + v, left, pn, cout); break;
    }
  }
  if (cout == 1 && x->nseg == 1 && x->seg[0].c0 == 0 && x->seg[0].c1 == cin && x->seg[0].co0 == 0) {
    bww_col1(dwk, in + (size_t)p0 * cin, dp, ldq, pn, cin, first);
    return;
  }
  for (int ci0 = 0; ci0 < cin; ci0 += PW_MR) {
    const int mr = cin - ci0 < PW_MR ? cin - ci0 : PW_MR;
    for (int j = 0; j < gw; j += PW_NV * PW_VL) {
      const int nv = (gw - j) / PW_VL < PW_NV ? (gw - j) / PW_VL : PW_NV;
      tile_any(mr, nv, dwk, in + (size_t)p0 * cin, dp + j, ldq, pn, ci0, j0 + j, first, x);
    }
  }
}

/* pixel chunk k: blocks [b0, b1), pixels [b0 BWW_PB, e) */
static inline void bww_chunk(const bww_ctx *x, int k, long *b0, long *b1, long *e) {
  *b0 = x->nb * k / x->nk;
  *b1 = x->nb * (k + 1) / x->nk;
  *e = *b1 * BWW_PB < x->p ? *b1 * BWW_PB : x->p;
}

/* The items in item order on one thread, with the same sums and so the same
 * bits: instead of nk partials added in chunk order afterwards, a running
 * sum (part 0) that each chunk's partial is added to in chunk order, so two
 * partials' worth of memory stay hot instead of nk (13 x 33 KB for one
 * image of conv1). Chunk 0 is summed in the running sum itself; a later
 * chunk of one block (every chunk of a one-image call) adds its tile sums
 * straight into it; a longer chunk sums in part 1 first. The chunk's db and
 * dalpha start from 0 in part 1 (in part 0 for chunk 0). */
static PW_INLINE void bww_serial(const int act, float *dw, float *db, float *dalpha, const float *dout,
                                 const float *pre, const float *in, const float *alpha, float *part,
                                 float *buf, const bww_ctx *x) {
  float *const run = part, *const cur = part + x->ldp; /* cur: only when nk > 1 */
  const size_t odb = (size_t)x->cin * x->cout;
  for (int k = 0; k < x->nk; k++) {
    long b0, b1, e;
    bww_chunk(x, k, &b0, &b1, &e);
    const int straight = k == 0 || b1 - b0 == 1; /* dw sums straight into run */
    float *dwk = straight ? run : cur, *sums = k == 0 ? run : cur;
    for (int jg = 0; jg < x->nj; jg++) {
      const int j0 = jg * BWW_CG;
      bww_zero_sums(sums + odb + j0, x->ldd, x->ldd - j0 < BWW_CG ? x->ldd - j0 : BWW_CG);
      /* the chunk's first block stores (into run for chunk 0, into cur for
       * a longer chunk), other blocks add */
      for (long p0 = b0 * BWW_PB; p0 < e; p0 += BWW_PB)
        bww_block(act, dwk, sums + odb + j0, dout, pre, in, alpha, p0, e, j0,
                  p0 == b0 * BWW_PB && (k == 0 || !straight), buf, x);
    }
    if (k == 0) continue;
    /* run += chunk k's partial (as the combine would add it) */
    for (int it = 0; it < x->comb.n; it++) {
      if (straight && it < x->comb.n - 1) continue; /* dw already in run */
      pw_comb_item(&x->comb, run, run + odb, run + odb + x->ldd, cur, 1, it, act);
    }
  }
  for (int it = 0; it < x->comb.n; it++) pw_comb_item(&x->comb, dw, db, dalpha, run, 1, it, act);
}

/* dw [cin][cout], db, dalpha (cout, act only) +=; dout, pre (act only) (P, cout);
 * in (P, cin); alpha (cout, act only). The shape must pass
 * conv1x1_prelu_bwd_weights_supports (callers test it). Returns 0, writing
 * nothing, if the partials cannot be allocated. */
static PW_INLINE int bww_core(const int act, float *dw, float *db, float *dalpha,
                              const float *dout, const float *pre, const float *in,
                              const float *alpha, const pcnn_conv_t *c) {
  bww_ctx x = {.cin = c->cin, .cout = c->cout};
  x.nseg = pw_segments(x.seg, c);
  x.ldd = pw_round_up(x.cout, PW_VL);
  x.p = (long)c->n * c->h * c->w;
  x.ldp = (size_t)x.cin * x.cout + 2 * (size_t)x.ldd;
  /* the items: nk pixel chunks (runs of whole blocks) x nj column groups,
   * chunk-major; nk: enough items for PW_PAR_ITEMS threads, at least a
   * block a chunk, the partials within PW_PART_MAX */
  x.nb = (x.p + BWW_PB - 1) / BWW_PB;
  x.nj = (x.ldd + BWW_CG - 1) / BWW_CG;
  x.nk = pw_chunks(x.nj, x.nb, x.ldp);
  const int items = x.nk * x.nj;
  float *const part = pcnn_scratch((size_t)x.nk * x.ldp);
  if (!part) return 0;
  pw_comb_plan(&x.comb, x.seg, x.nseg, x.cin, x.cout, x.ldd, x.ldp);
#pragma omp parallel
  {
    float buf[BWW_PB * BWW_CG] __attribute__((aligned(64))); /* dpre (pn, gw) */
    if (omp_get_num_threads() == 1) {
      bww_serial(act, dw, db, dalpha, dout, pre, in, alpha, part, buf, &x);
    } else {
#pragma omp for schedule(static)
      for (int it = 0; it < items; it++) {
        const int k = it / x.nj, j0 = (it % x.nj) * BWW_CG;
        float *dwk = part + (size_t)k * x.ldp, *sdb = dwk + (size_t)x.cin * x.cout + j0;
        long b0, b1, e;
        bww_chunk(&x, k, &b0, &b1, &e);
        /* this item's columns of partial k: the first block stores the kept
         * dw entries (tile), db and dalpha start from 0 */
        bww_zero_sums(sdb, x.ldd, x.ldd - j0 < BWW_CG ? x.ldd - j0 : BWW_CG);
        for (long p0 = b0 * BWW_PB; p0 < e; p0 += BWW_PB)
          bww_block(act, dwk, sdb, dout, pre, in, alpha, p0, e, j0, p0 == b0 * BWW_PB, buf, &x);
      }
      /* the partials in chunk order, one owner per kept dw entry */
#pragma omp for schedule(static)
      for (int it = 0; it < x.comb.n; it++) pw_comb_item(&x.comb, dw, db, dalpha, part, x.nk, it, act);
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
