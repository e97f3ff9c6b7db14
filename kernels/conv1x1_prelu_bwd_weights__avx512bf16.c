/* conv1x1_prelu_bwd_weights__avx512bf16.c:
 * pcnn_conv1x1_prelu_bwd_weights__avx512bf16, the weight, bias and slope
 * gradients of the fused masked 1x1 conv + PReLU in bf16 precision
 * (pcnn_kernels.h, "precision"; the twin of
 * pcnn_conv1x1_prelu_bwd_weights__ref_bf16):
 *   dpre[p][co] = pre > 0 ? dout : alpha[co] dout        (fp32)
 *   dw[ci][co] += sum_p bf(in[p][ci]) bf(dpre[p][co])    (kept taps co >= co_begin(ci) only)
 *   db[co] += sum_p dpre[p][co];  dalpha[co] += sum_p dout pre (pre <= 0)   (fp32)
 * A GEMM in^T x dpre on VDPBF16PS reducing over pixel pairs: per block of
 * pixels (128 when there are at least 64 x 128 pixels and cin <= 256, else
 * 64: a block's tile sums are added into the chunk's partial, so longer
 * blocks mean fewer of those passes) both operands are interleaved by pixel
 * pairs (pw_bf16.h) into stack buffers: the input as pair words [32][cin rounded up to 16]
 * (in[2t][ci], in[2t+1][ci]), broadcast one per input channel, and dpre as
 * pair words [32][the item's columns], loaded a vector of 16 output channels
 * at a time; an odd last pixel pairs with a zero row. Register tiles of 6
 * input channels x 4 vectors of 16 output channels.
 * Work split: as the FP32 kernel (conv1x1_prelu_bwd_weights_body.h), fixed
 * by the shape: nk pixel chunks (runs of whole blocks) x nj column
 * groups of up to 256 output columns, nk = PW_PAR_ITEMS / nj within
 * PW_PART_MAX (pw_chunks): 64 items for the seed 1x1 layers at batch 32, 13
 * at batch 1. Each item sums its chunk in pixel order into the chunk's
 * partial (the calling thread's grow-once scratch, kernel_scratch.h; the
 * first block stores, masked to the kept taps); the partials are then added
 * to dw, db, dalpha in chunk order, one owner per kept dw entry (masked dw
 * entries are never written): bitwise the same at any thread count.
 * Cost: per block the two interleavings (a conversion and a word permute
 * per 16 pair words) and the fp32 bias and slope sums; per call the partials
 * (nk x (cin x cout + 2 cout) floats) and their combine. Shapes with more
 * than 4096 output channels or 512 input channels, or when the partials
 * cannot be allocated, run the bf16 reference
 * (pcnn_conv1x1_prelu_bwd_weights_supports__avx512bf16).
 * Measured (AMD EPYC Zen 4 VM, 2 cores shared with other jobs; one thread,
 * thread CPU time, medians of 9 alternating rounds against the FP32 AVX-512
 * kernel; GFLOP/s of useful multiply-adds, % of the 231 GFLOP/s VDPBF16PS
 * peak): B 128->64 / 128->128 at N = 1: 149 / 154 GFLOP/s
 * (65 / 67%), 1.63 / 1.68x FP32; at N = 32: 108 / 115 (47 / 50%), 1.48 /
 * 1.50x. perf at N = 1: the tiles take 71% of the time (at about 93% of the
 * peak), the conversions, dpre and the partials' combine the rest; at
 * N = 32 the loads of in, dout and pre stall (memory bound; software
 * prefetch of the next block, all at once or spread over the tiles, did not
 * help measurably). */
#include "kernel_scratch.h"
#include "pcnn_kernels.h"
#include "pw_simd__avx512.h"
#include "pw_bf16.h"

#define BWW_CG 256      /* output columns of a column group */
#define BWW_ZBUF 16384  /* pair words of each of a thread's two block buffers (64 KiB) */
#define BWW_CIN 512     /* input channels: a block of at least 32 pairs */

typedef struct {
  int cin, cout, nseg;
  pw_seg_t seg[3];
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

/* 1 when done, 0 (nothing written) if the partials cannot be allocated */
static int bww(float *dw, float *db, float *dalpha, const float *dout, const float *pre,
               const float *in, const float *alpha, const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, ldd = pw_round_up(cout, 16), ldi = pw_round_up(cin, 16);
  bww_ctx x = {cin, cout, 0, {{0, 0, 0}}};
  x.nseg = pw_segments(x.seg, c);
  const long p = (long)c->n * c->h * c->w;
  /* partial k: dw [cin][cout], then db and dalpha (ldd each) of chunk k */
  const size_t ldp = (size_t)cin * cout + 2 * (size_t)ldd;
  /* pixels per block: 64 pairs if the input rows fit and there are blocks
   * for PW_PAR_ITEMS chunks, else 32 (fewer tile stores into the partial
   * per pixel; a function of the shape only) */
  const int pb = ldi <= BWW_ZBUF / 64 && p >= 128L * PW_PAR_ITEMS ? 128 : 64;
  const long nb = (p + pb - 1) / pb;
  const int nj = (ldd + BWW_CG - 1) / BWW_CG, nk = pw_chunks(nj, nb, ldp), items = nk * nj;
  float *const part = pcnn_scratch((size_t)nk * ldp);
  if (!part) return 0;
  /* the combine's items: runs of up to g[s] dw rows of segment s, then one
   * for db and dalpha */
  int g[3], ncomb = 1;
  for (int q = 0; q < x.nseg; q++) {
    const int w = pw_round_up(cout - x.seg[q].co0, 16);
    g[q] = PW_ADD_BLK / w > 1 ? PW_ADD_BLK / w : 1;
    ncomb += (x.seg[q].c1 - x.seg[q].c0 + g[q] - 1) / g[q];
  }
#pragma omp parallel
  {
    uint32_t dz[BWW_ZBUF] __attribute__((aligned(64))); /* dpre pairs (pb / 2, gw) */
    uint32_t iz[BWW_ZBUF] __attribute__((aligned(64))); /* input pairs (pb / 2, ldi) */
#pragma omp for schedule(static)
    for (int it = 0; it < items; it++) {
      const int k = it / nj, j0 = (it % nj) * BWW_CG;
      const int gw = ldd - j0 < BWW_CG ? ldd - j0 : BWW_CG; /* whole vectors */
      float *dwk = part + (size_t)k * ldp, *sdb = dwk + (size_t)cin * cout + j0, *sda = sdb + ldd;
      for (int v = 0; v < gw; v += 16) {
        pw_store(sdb + v, pw_zero());
        pw_store(sda + v, pw_zero());
      }
      const long b0 = nb * k / nk, e = nb * (k + 1) / nk * pb < p ? nb * (k + 1) / nk * pb : p;
      for (long p0 = b0 * pb; p0 < e; p0 += pb) {
        const int pn = (int)(e - p0 < pb ? e - p0 : pb), nq = (pn + 1) / 2;
        for (int t = 0; t < nq; t++) {
          const int two = 2 * t + 1 < pn; /* the pair's second pixel exists */
          const float *i0 = in + (size_t)(p0 + 2 * t) * cin, *i1 = two ? i0 + cin : NULL;
          for (int ci = 0; ci < ldi; ci += 16) {
            const pw_vm m = pw_mask_range(0, cin - ci);
            _mm512_storeu_si512(iz + (size_t)t * ldi + ci, pw_bf_interleave(i0 + ci, m, two ? i1 + ci : NULL, m));
          }
          const size_t o = (size_t)(p0 + 2 * t) * cout + j0;
          for (int v = 0; v < gw; v += 16) {
            const int left = cout - j0 - v;
            const __m512 av = pw_load_n(alpha + j0 + v, left);
            const __m512 g0 = pw_load_n(dout + o + v, left), x0 = pw_load_n(pre + o + v, left);
            const __m512 d0 = pw_prelu_sel(x0, g0, av);
            __m512 sb = pw_add(pw_load(sdb + v), d0), sa = pw_add(pw_load(sda + v), pw_neg_part(x0, g0));
            __m512 d1 = _mm512_setzero_ps();
            if (two) {
              const __m512 g1 = pw_load_n(dout + o + cout + v, left), x1 = pw_load_n(pre + o + cout + v, left);
              d1 = pw_prelu_sel(x1, g1, av);
              sb = pw_add(sb, d1);
              sa = pw_add(sa, pw_neg_part(x1, g1));
            }
            pw_store(sdb + v, sb);
            pw_store(sda + v, sa);
            _mm512_storeu_si512(dz + (size_t)t * gw + v, pw_bf_zip(d0, d1));
          }
        }
        for (int ci0 = 0; ci0 < cin; ci0 += PW_MR) {
          const int mr = cin - ci0 < PW_MR ? cin - ci0 : PW_MR;
          for (int j = 0; j < gw; j += 64) {
            const int nv = (gw - j) / 16 < 4 ? (gw - j) / 16 : 4;
            tile_any(mr, nv, dwk, iz, ldi, dz + j, gw, nq, ci0, j0 + j, p0 == b0 * pb, &x);
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
        pw_add_partials(dalpha, pdb + ldd, ldp, nk, 1, cout, 0);
      }
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
      !bww(dw, db, dalpha, dout, pre, in, alpha, c))
    pcnn_conv1x1_prelu_bwd_weights__ref_bf16(dw, db, dalpha, dout, pre, in, alpha, c);
}
