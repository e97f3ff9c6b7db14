/* conv1x1_prelu_bwd_weights__avx512bf16.c:
 * pcnn_conv1x1_prelu_bwd_weights__avx512bf16, the weight, bias and slope
 * gradients of the fused masked 1x1 conv + PReLU in bf16 precision
 * (pcnn_kernels.h, "precision"; the twin of
 * pcnn_conv1x1_prelu_bwd_weights__ref_bf16):
 *   dpre[p][co] = pre > 0 ? dout : alpha[co] dout        (fp32)
 *   dw[ci][co] += sum_p bf(in[p][ci]) bf(dpre[p][co])    (kept taps co >= co_begin(ci) only)
 *   db[co] += sum_p dpre[p][co];  dalpha[co] += sum_p dout pre (pre <= 0)   (fp32)
 * A GEMM in^T x dpre on VDPBF16PS reducing over pixel pairs: per block of
 * pixels (blocks of at most 256 pixels, or 128 / 64 when cin or the column
 * group is wider than 128 / 256, evened out over the pixels: one image of
 * 784 pixels is 4 blocks of 196; a block's tile sums are added into the
 * chunk's partial, so longer blocks mean fewer of those passes) both
 * operands are interleaved by pixel pairs (pw_bf16.h) into stack buffers:
 * the input as pair words [block pairs][cin rounded up to 16]
 * (in[2t][ci], in[2t+1][ci]), broadcast one per input channel, and dpre as
 * pair words [block pairs][the item's columns], loaded a vector of 16 output
 * channels at a time; an odd last pixel pairs with a zero row. Register
 * tiles of 6 input channels x 4 vectors of 16 output channels.
 * A one-column layer with every tap kept (the Bernoulli head, 128 -> 1)
 * would use 1 lane of 16: it puts the input channels in the lanes instead
 * and multiplies in fp32 FMAs on operands rounded to bf16 (col1; a bf16 x
 * bf16 product is exact in fp32, so only the order of the additions
 * differs from VDPBF16PS), as the FP32 kernel does.
 * The same core without the PReLU (dpre = dout, no dalpha) is the plain
 * masked 1x1's weight gradient, pcnn_conv1x1_bwd_weights__avx512bf16
 * (pw_conv1x1.h), which pcnn_conv_bwd_weights__avx512bf16 runs at k == 1.
 * Work split: as the FP32 kernel (conv1x1_prelu_bwd_weights_body.h), fixed
 * by the shape: nk pixel chunks (runs of whole blocks) x nj column
 * groups of up to 256 output columns, nk = PW_PAR_ITEMS / nj within
 * PW_PART_MAX (pw_chunks): 64 items for the seed 1x1 layers at batch 32, 4
 * at batch 1. Each item sums its chunk in pixel order into the chunk's
 * partial (the calling thread's grow-once scratch, kernel_scratch.h; the
 * first block stores, masked to the kept taps); the partials are then added
 * to dw, db, dalpha in chunk order, one owner per kept dw entry (masked dw
 * entries are never written): bitwise the same at any thread count. On a
 * one-thread team (the model's per-image calls) the same items run in order
 * with one running sum that each chunk's partial is added to in chunk order
 * (serial; the FP32 kernel's bww_serial): the same adds, the same bits.
 * Cost: per block the two interleavings (a conversion and a word permute
 * per 16 pair words) and the fp32 bias and slope sums; per call the partials
 * (nk x (cin x cout + 2 cout) floats) and their combine (one thread: two
 * partials, kept hot). Shapes with more than 4096 output channels or 512
 * input channels, or when the partials cannot be allocated, run the bf16
 * reference (pcnn_conv1x1_prelu_bwd_weights_supports__avx512bf16; the plain
 * one returns 0 and its caller runs engine 2 of conv_bf16.h).
 * Measured (AMD EPYC Zen 4 VM, 2 cores shared with other jobs; one thread,
 * thread CPU time per call, medians of 5 alternating rounds against the
 * FP32 AVX-512 kernel; GFLOP/s of useful multiply-adds, % of the 231
 * GFLOP/s VDPBF16PS peak), one image (N = 1, 28x28, as the model calls it):
 * fused B 128->64 73 us (175 GFLOP/s, 76%; 1.78x FP32; was 86 us, 1.50x),
 * fused B 128->128 143 us (180, 78%; 1.88x; was 169 us, 1.60x), plain B
 * 64->128 70 us (183, 79%; 1.81x; was engine 2, 85 us, 1.52x), the head
 * 128->1 9.4 us (0.70x FP32's 6.6 us: each input is used once, so rounding
 * it costs as much as the FMA; was engine 2, 31 us, 0.21x).
 * Before these changes (13 partials of 64 pixels at N = 1), perf at N = 1:
 * the tiles took 71% of the time (at about 93% of the peak), the
 * conversions, dpre and the partials' combine the rest; at N = 32 the loads
 * of in, dout and pre stall (memory bound; software prefetch of the next
 * block, all at once or spread over the tiles, did not help measurably). */
#include <omp.h>

#include "kernel_scratch.h"
#include "pcnn_kernels.h"
#include "pw_conv1x1.h"
#include "pw_simd__avx512.h"
#include "pw_bf16.h"

#define BWW_CG 256      /* output columns of a column group */
#define BWW_ZBUF 16384  /* pair words of each of a thread's two block buffers (64 KiB) */
#define BWW_CIN 512     /* input channels: a block of at least 32 pairs */
#define BWW_PB 256      /* most pixels per block */

typedef struct {
  int cin, cout, nseg;
  pw_seg_t seg[3];
  int ldd, ldi;    /* cout, cin rounded up to whole vectors */
  int col1;        /* one output column, every tap kept: input channels in the lanes */
  long p, nb;      /* pixels, blocks (bstart) */
  int nk, nj;      /* pixel chunks, column groups */
  size_t ldp;      /* floats of a partial: dw [cin][cout], then db and dalpha (ldd each) */
  pw_comb_t comb;  /* the combine's items (pw_gemm.h) */
} bww_ctx;

/* one register tile: input channels [ci0, ci0 + mr), output channels
 * [j, j + 16 nv); nq pixel pairs of the input words iz (row stride ldi) and
 * of the dpre words dz (columns from j on, row stride ldz); the sums are
 * added into dw's kept entries, or stored there when first */
static PW_INLINE void tile(const int mr, const int nv, float *dw, const uint32_t *iz, int ldi,
                           const uint32_t *dz, int ldz, int nq, int ci0, int j, int first,
                           const bww_ctx *x) {
  const int cb = pw_co_begin(x->seg, x->nseg, ci0, x->cout); /* smallest of the tile's rows */
  const int v0 = cb <= j ? 0 : (cb - j) / 16;
  if (v0 >= nv) return;
  __m512 acc[PW_MR][PW_NV];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
  pw_bf_mac_from(acc, mr, nv, v0, iz + ci0, 1, ldi, dz, ldz, nq);
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    const int cbr = pw_co_begin(x->seg, x->nseg, ci0 + r, x->cout);
    float *row = dw + (size_t)(ci0 + r) * x->cout;
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
      const int co = j + v * 16, lo = cbr - co, hi = x->cout - co;
      if (v < v0 || lo >= 16) continue;
      if (lo <= 0 && hi >= 16) {
        pw_store(row + co, first ? acc[r][v] : pw_add(pw_load(row + co), acc[r][v]));
      } else {
        const pw_vm m = pw_mask_range(lo, hi);
        pw_storem(row + co, m, first ? acc[r][v] : pw_add(pw_loadm(m, row + co), acc[r][v]));
      }
    }
  }
}

static PW_INLINE void tile_nv(int mr, const int nv, float *dw, const uint32_t *iz, int ldi,
                              const uint32_t *dz, int ldz, int nq, int ci0, int j, int first,
                              const bww_ctx *x) {
  switch (mr) {
    case 6: tile(6, nv, dw, iz, ldi, dz, ldz, nq, ci0, j, first, x); break;
    case 5: tile(5, nv, dw, iz, ldi, dz, ldz, nq, ci0, j, first, x); break;
    case 4: tile(4, nv, dw, iz, ldi, dz, ldz, nq, ci0, j, first, x); break;
    case 3: tile(3, nv, dw, iz, ldi, dz, ldz, nq, ci0, j, first, x); break;
    case 2: tile(2, nv, dw, iz, ldi, dz, ldz, nq, ci0, j, first, x); break;
    case 1: tile(1, nv, dw, iz, ldi, dz, ldz, nq, ci0, j, first, x); break;
    default: break;
  }
}

static void tile_any(int mr, int nv, float *dw, const uint32_t *iz, int ldi, const uint32_t *dz,
                     int ldz, int nq, int ci0, int j, int first, const bww_ctx *x) {
  switch (nv) {
    case 4: tile_nv(mr, 4, dw, iz, ldi, dz, ldz, nq, ci0, j, first, x); break;
    case 3: tile_nv(mr, 3, dw, iz, ldi, dz, ldz, nq, ci0, j, first, x); break;
    case 2: tile_nv(mr, 2, dw, iz, ldi, dz, ldz, nq, ci0, j, first, x); break;
    case 1: tile_nv(mr, 1, dw, iz, ldi, dz, ldz, nq, ci0, j, first, x); break;
    default: break;
  }
}

int pcnn_conv1x1_prelu_bwd_weights_supports__avx512bf16(const pcnn_conv_t *c) {
  return c->cout <= 4096 && c->cin <= BWW_CIN;
}

/* dw[c0 + ..] (nvv vectors of input channels; stored when first, else
 * added) = the sums over the pn pixels of bf(in[p][ci]) bf(dpre[p]) for one
 * output column (cout == 1), pixel by pixel in order, in fp32 FMAs: a bf16
 * product is exact in fp32, so this is the same sum as VDPBF16PS's products
 * added one by one. dz: the block's dpre pair words (row stride ldz), in:
 * the block's first input pixel. */
static PW_INLINE void col1_vec(const int nvv, float *dw, const float *in, const uint32_t *dz, int ldz,
                               int pn, int cin, int c0, int first) {
  const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
  __m512 acc[4];
#pragma GCC unroll 4
  for (int u = 0; u < nvv; u++) acc[u] = _mm512_setzero_ps();
  for (int i = 0; i < pn; i += 2) {
    const __m512i w = _mm512_set1_epi32((int)dz[(size_t)(i / 2) * ldz]);
    const __m512 d0 = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    const __m512 d1 = _mm512_castsi512_ps(_mm512_and_si512(w, hi));
    const float *r0 = in + (size_t)i * cin + c0;
#pragma GCC unroll 4
    for (int u = 0; u < nvv; u++)
      acc[u] = _mm512_fmadd_ps(pw_bf_round(pw_load_n(r0 + u * 16, cin - c0 - u * 16)), d0, acc[u]);
    if (i + 1 < pn)
#pragma GCC unroll 4
      for (int u = 0; u < nvv; u++)
        acc[u] = _mm512_fmadd_ps(pw_bf_round(pw_load_n(r0 + cin + u * 16, cin - c0 - u * 16)), d1, acc[u]);
  }
#pragma GCC unroll 4
  for (int u = 0; u < nvv; u++) {
    float *q = dw + c0 + u * 16;
    const int left = cin - c0 - u * 16;
    pw_store_n(q, left, first ? acc[u] : pw_add(pw_load_n(q, left), acc[u]));
  }
}

/* The weight gradient of a one-column layer (the Bernoulli head, 128 -> 1)
 * with every tap kept: a register tile of 6 input channels x one vector of
 * output channels would use 1 lane of 16, so the input channels go in the
 * lanes (dw [cin][1] is contiguous), 4 vectors at a time */
static void col1(float *dw, const float *in, const uint32_t *dz, int ldz, int pn, int cin, int first) {
  for (int c0 = 0; c0 < cin; c0 += 64) {
    const int nvv = (cin - c0 + 15) / 16 < 4 ? (cin - c0 + 15) / 16 : 4;
    switch (nvv) {
      case 4: col1_vec(4, dw, in, dz, ldz, pn, cin, c0, first); break;
      case 3: col1_vec(3, dw, in, dz, ldz, pn, cin, c0, first); break;
      case 2: col1_vec(2, dw, in, dz, ldz, pn, cin, c0, first); break;
      default: col1_vec(1, dw, in, dz, ldz, pn, cin, c0, first); break;
    }
  }
}

/* One block: pixels [p0, e), the columns [j0, j0 + gw) of a
 * column group. The input pairs go to iz (not for col1), the dpre pairs
 * (act: prelu'(pre) dout, else dout; zero beyond cout) to dz; sdb (db) and
 * sdb + ldd (dalpha, act only) += their fp32 sums; then the tiles of every
 * input channel run over them: dwk's kept entries += their sums (first: =). */
static PW_INLINE void block(const int act, float *dwk, float *sdb, const float *dout, const float *pre,
                            const float *in, const float *alpha, long p0, long e, int j0, int first,
                            uint32_t *dz, uint32_t *iz, const bww_ctx *x) {
  const int cin = x->cin, cout = x->cout, ldi = x->ldi, ldd = x->ldd;
  const int gw = ldd - j0 < BWW_CG ? ldd - j0 : BWW_CG; /* whole vectors */
  float *const sda = sdb + ldd;
  const int pn = (int)(e - p0), nq = (pn + 1) / 2;
  for (int t = 0; t < nq; t++) {
    const int two = 2 * t + 1 < pn; /* the pair's second pixel exists */
    if (!x->col1) {
      const float *i0 = in + (size_t)(p0 + 2 * t) * cin, *i1 = two ? i0 + cin : NULL;
      for (int ci = 0; ci < ldi; ci += 16) {
        const pw_vm m = pw_mask_range(0, cin - ci);
        _mm512_storeu_si512(iz + (size_t)t * ldi + ci, pw_bf_interleave(i0 + ci, m, two ? i1 + ci : NULL, m));
      }
    }
    const size_t o = (size_t)(p0 + 2 * t) * cout + j0;
    for (int v = 0; v < gw; v += 16) {
      const int left = cout - j0 - v;
      const __m512 av = act ? pw_load_n(alpha + j0 + v, left) : _mm512_setzero_ps();
      const __m512 g0 = pw_load_n(dout + o + v, left), x0 = act ? pw_load_n(pre + o + v, left) : g0;
      const __m512 d0 = act ? pw_prelu_sel(x0, g0, av) : g0;
      __m512 sb = pw_add(pw_load(sdb + v), d0), sa = act ? pw_add(pw_load(sda + v), pw_neg_part(x0, g0)) : sb;
      __m512 d1 = _mm512_setzero_ps();
      if (two) {
        const __m512 g1 = pw_load_n(dout + o + cout + v, left), x1 = act ? pw_load_n(pre + o + cout + v, left) : g1;
        d1 = act ? pw_prelu_sel(x1, g1, av) : g1;
        sb = pw_add(sb, d1);
        if (act) sa = pw_add(sa, pw_neg_part(x1, g1));
      }
      pw_store(sdb + v, sb);
      if (act) pw_store(sda + v, sa);
      _mm512_storeu_si512(dz + (size_t)t * gw + v, pw_bf_zip(d0, d1));
    }
  }
  if (x->col1) {
    col1(dwk, in + (size_t)p0 * cin, dz, gw, pn, cin, first);
    return;
  }
  for (int ci0 = 0; ci0 < cin; ci0 += PW_MR) {
    const int mr = cin - ci0 < PW_MR ? cin - ci0 : PW_MR;
    for (int j = 0; j < gw; j += 64) {
      const int nv = (gw - j) / 16 < 4 ? (gw - j) / 16 : 4;
      tile_any(mr, nv, dwk, iz, ldi, dz + j, gw, nq, ci0, j0 + j, first, x);
    }
  }
}

/* the first pixel of block b (b = nb: the end); no block is empty, none
 * longer than ceil(p / nb) */
static inline long bstart(const bww_ctx *x, long b) { return x->p * b / x->nb; }

/* pixel chunk k: blocks [b0, b1) */
static inline void chunk(const bww_ctx *x, int k, long *b0, long *b1) {
  *b0 = x->nb * k / x->nk;
  *b1 = x->nb * (k + 1) / x->nk;
}

/* db and dalpha (ldd floats after it) of gw columns start from 0 */
static inline void zero_sums(float *sdb, int ldd, int gw) {
  for (int v = 0; v < gw; v += 16) {
    pw_store(sdb + v, pw_zero());
    pw_store(sdb + ldd + v, pw_zero());
  }
}

/* The items in item order on one thread (the model's per-image calls run
 * on a one-thread team), with the same sums and so the same bits: instead
 * of nk partials added in chunk order afterwards, a running sum (part 0)
 * that each chunk's partial is added to in chunk order, so two partials'
 * worth of memory stay hot instead of nk (13 x 33 KB for one image of
 * conv1). Chunk 0 is summed in the running sum itself; a later chunk of one
 * block (every chunk of a one-image call) adds its tile sums straight into
 * it; a longer chunk sums in part 1 first. The chunk's db and dalpha start
 * from 0 in part 1 (in part 0 for chunk 0). As bww_serial of the FP32
 * kernel (conv1x1_prelu_bwd_weights_body.h). */
static PW_INLINE void serial(const int act, float *dw, float *db, float *dalpha, const float *dout,
                             const float *pre, const float *in, const float *alpha, float *part,
                             uint32_t *dz, uint32_t *iz, const bww_ctx *x) {
  float *const run = part, *const cur = part + x->ldp; /* cur: only when nk > 1 */
  const size_t odb = (size_t)x->cin * x->cout;
  for (int k = 0; k < x->nk; k++) {
    long b0, b1;
    chunk(x, k, &b0, &b1);
    const int straight = k == 0 || b1 - b0 == 1; /* dw sums straight into run */
    float *dwk = straight ? run : cur, *sums = k == 0 ? run : cur;
    for (int jg = 0; jg < x->nj; jg++) {
      const int j0 = jg * BWW_CG;
      zero_sums(sums + odb + j0, x->ldd, x->ldd - j0 < BWW_CG ? x->ldd - j0 : BWW_CG);
      for (long b = b0; b < b1; b++)
        block(act, dwk, sums + odb + j0, dout, pre, in, alpha, bstart(x, b), bstart(x, b + 1), j0,
              b == b0 && (k == 0 || !straight), dz, iz, x);
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

/* dw [cin][cout], db, dalpha (cout, act only) +=; dout, pre (act only) (P,
 * cout); in (P, cin); alpha (cout, act only). 1 when done, 0 (nothing
 * written) if the partials cannot be allocated */
static PW_INLINE int bww(const int act, float *dw, float *db, float *dalpha, const float *dout,
                         const float *pre, const float *in, const float *alpha, const pcnn_conv_t *c) {
  bww_ctx x = {.cin = c->cin, .cout = c->cout};
  x.nseg = pw_segments(x.seg, c);
  x.ldd = pw_round_up(x.cout, 16);
  x.ldi = pw_round_up(x.cin, 16);
  x.p = (long)c->n * c->h * c->w;
  x.col1 = x.cout == 1 && x.nseg == 1 && x.seg[0].c0 == 0 && x.seg[0].c1 == x.cin && x.seg[0].co0 == 0;
  /* partial k: dw [cin][cout], then db and dalpha (ldd each) of chunk k */
  x.ldp = (size_t)x.cin * x.cout + 2 * (size_t)x.ldd;
  /* blocks: at most pbmax pixels, as many as the two block buffers hold, up
   * to BWW_PB (fewer tile epilogues per pixel), evened out (bstart: 784
   * pixels are 4 blocks of 196, not 3 of 256 and one of 16); a function of
   * the shape only */
  int pbmax = 64;
  while (2 * pbmax <= BWW_PB && pbmax * x.ldi <= BWW_ZBUF &&
         pbmax * (x.ldd < BWW_CG ? x.ldd : BWW_CG) <= BWW_ZBUF)
    pbmax *= 2;
  x.nb = (x.p + pbmax - 1) / pbmax;
  x.nj = (x.ldd + BWW_CG - 1) / BWW_CG;
  x.nk = pw_chunks(x.nj, x.nb, x.ldp);
  const int items = x.nk * x.nj;
  float *const part = pcnn_scratch((size_t)x.nk * x.ldp);
  if (!part) return 0;
  pw_comb_plan(&x.comb, x.seg, x.nseg, x.cin, x.cout, x.ldd, x.ldp);
#pragma omp parallel
  {
    uint32_t dz[BWW_ZBUF] __attribute__((aligned(64))); /* dpre pairs (block pairs, gw) */
    uint32_t iz[BWW_ZBUF] __attribute__((aligned(64))); /* input pairs (block pairs, ldi) */
    if (omp_get_num_threads() == 1) {
      serial(act, dw, db, dalpha, dout, pre, in, alpha, part, dz, iz, &x);
    } else {
#pragma omp for schedule(static)
      for (int it = 0; it < items; it++) {
        const int k = it / x.nj, j0 = (it % x.nj) * BWW_CG;
        float *dwk = part + (size_t)k * x.ldp, *sdb = dwk + (size_t)x.cin * x.cout + j0;
        long b0, b1;
        chunk(&x, k, &b0, &b1);
        zero_sums(sdb, x.ldd, x.ldd - j0 < BWW_CG ? x.ldd - j0 : BWW_CG);
        for (long b = b0; b < b1; b++)
          block(act, dwk, sdb, dout, pre, in, alpha, bstart(&x, b), bstart(&x, b + 1), j0, b == b0, dz, iz, &x);
      }
      /* the partials in chunk order, one owner per kept dw entry */
#pragma omp for schedule(static)
      for (int it = 0; it < x.comb.n; it++) pw_comb_item(&x.comb, dw, db, dalpha, part, x.nk, it, act);
    }
  }
  return 1;
}

void pcnn_conv1x1_prelu_bwd_weights__avx512bf16(float *dw, float *db, float *dalpha,
                                                const float *dout, const float *pre,
                                                const float *in, const float *alpha,
                                                const pcnn_conv_t *c) {
  /* dw [cin][cout], db, dalpha (cout) +=; dout, pre (P, cout); in (P, cin); alpha (cout) */
  if (!pcnn_conv1x1_prelu_bwd_weights_supports__avx512bf16(c) ||
      !bww(1, dw, db, dalpha, dout, pre, in, alpha, c))
    pcnn_conv1x1_prelu_bwd_weights__ref_bf16(dw, db, dalpha, dout, pre, in, alpha, c);
}

/* the plain masked 1x1 (pw_conv1x1.h): dw [cin][cout] += in (x) dout at the
 * kept taps, db (cout) += sum dout; for pcnn_conv_bwd_weights__avx512bf16 at
 * k == 1. 0 (nothing written) when the shape is too big or no scratch */
int pcnn_conv1x1_bwd_weights__avx512bf16(float *dw, float *db, const float *dout, const float *in,
                                         const pcnn_conv_t *c) {
  return pcnn_conv1x1_prelu_bwd_weights_supports__avx512bf16(c) &&
         bww(0, dw, db, NULL, dout, NULL, in, NULL, c);
}
