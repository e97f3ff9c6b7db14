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
 * row loaded per pixel. Pixels go in blocks; each block's dpre is first
 * written (zero-padded to whole vectors) to a stack buffer (without act and
 * with cout a multiple of the vector, dout is read in place instead), and
 * each tile's block sum is added into dw with stores masked to the kept taps
 * (masked dw entries are never written). The pixels split into BWW_CHUNKS
 * fixed chunks, the parallel items: each chunk sums its dw, db and dalpha
 * into its own partial (the calling thread's grow-once scratch,
 * kernel_scratch.h), and the partials are then added to dw in chunk order,
 * each kept tap by one thread. (Splitting the rows of dw between threads
 * instead made every thread build each block's dpre: 2 threads ran 128->64
 * at 3.3 ms against 2.8 ms now; one thread pays ~1-2% for the partials.)
 * The next block's input rows are prefetched into L2. Every sum runs over
 * the same chunks and blocks in the same order whatever the thread count,
 * so results are bitwise reproducible (and independent of the
 * thread count). Layers with more than PW_DBUF / 4 output channels
 * (pcnn_conv1x1_prelu_bwd_weights_supports__<isa>), or when the partials
 * cannot be allocated: the fused kernel runs the reference, the plain one
 * returns 0 (its caller runs the direct conv engine). */
#include <omp.h>
#include <string.h>

#include "kernel_scratch.h"
#include "pcnn_kernels.h"
#include "pw_conv1x1.h"
#include "pw_gemm.h"

typedef struct {
  int cin, cout, ldd, nseg; /* ldd: row stride of dpre */
  pw_seg_t seg[3];
} bww_ctx;

/* one register tile: input channels [ci0, ci0 + mr), output channels
 * [j, j + nv PW_VL); pn pixels of in (row stride cin) and dp (row stride ldd) */
static PW_INLINE void tile(const int mr, const int nv, float *dw, const float *in, const float *dp,
                           int pn, int ci0, int j, const bww_ctx *x) {
  const int cb = pw_co_begin(x->seg, x->nseg, ci0, x->cout); /* smallest of the tile's rows */
  const int v0 = cb <= j ? 0 : (cb - j) / PW_VL;
  if (v0 >= nv) return;
  pw_vf acc[PW_MR][PW_NV];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) acc[r][v] = pw_zero();
  pw_mac_from(acc, mr, nv, v0, in + ci0, 1, x->cin, dp + j, x->ldd, pn);
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++) {
    const int cbr = pw_co_begin(x->seg, x->nseg, ci0 + r, x->cout);
    float *row = dw + (size_t)(ci0 + r) * x->cout;
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
      const int co = j + v * PW_VL, lo = cbr - co, hi = x->cout - co;
      if (v < v0 || lo >= PW_VL) continue;
      if (lo <= 0 && hi >= PW_VL) {
        pw_store(row + co, pw_add(pw_load(row + co), acc[r][v]));
      } else {
        const pw_vm m = pw_mask_range(lo, hi);
        pw_storem(row + co, m, pw_add(pw_loadm(m, row + co), acc[r][v]));
      }
    }
  }
}

static PW_INLINE void tile_nv(int mr, const int nv, float *dw, const float *in, const float *dp,
                              int pn, int ci0, int j, const bww_ctx *x) {
  switch (mr) {
    case 6: tile(6, nv, dw, in, dp, pn, ci0, j, x); break;
    case 5: tile(5, nv, dw, in, dp, pn, ci0, j, x); break;
    case 4: tile(4, nv, dw, in, dp, pn, ci0, j, x); break;
    case 3: tile(3, nv, dw, in, dp, pn, ci0, j, x); break;
    case 2: tile(2, nv, dw, in, dp, pn, ci0, j, x); break;
    case 1: tile(1, nv, dw, in, dp, pn, ci0, j, x); break;
    default: break;
  }
}

static void tile_any(int mr, int nv, float *dw, const float *in, const float *dp, int pn, int ci0,
                     int j, const bww_ctx *x) {
  switch (nv) {
#if PW_NV > 2
    case 4: tile_nv(mr, 4, dw, in, dp, pn, ci0, j, x); break;
    case 3: tile_nv(mr, 3, dw, in, dp, pn, ci0, j, x); break;
#endif
    case 2: tile_nv(mr, 2, dw, in, dp, pn, ci0, j, x); break;
    case 1: tile_nv(mr, 1, dw, in, dp, pn, ci0, j, x); break;
    default: break;
  }
}

/* fixed pixel chunks: the parallel items, each summed into its own partial
 * (4: every thread busy up to 4 cores; more partials cost one core more) */
#define BWW_CHUNKS 4

/* dst[i] += sum over chunks k in order of part[k ldp + i], i < n */
static inline void add_partials(float *dst, const float *part, size_t ldp, int n) {
  for (int i = 0; i < n; i++) {
    float s = 0.f;
    for (int k = 0; k < BWW_CHUNKS; k++) s += part[(size_t)k * ldp + i];
    dst[i] += s;
  }
}

/* the shape limit of both kernels of this file: a dpre block of at least 4
 * rows (cout rounded up to vectors) fits PW_DBUF, i.e. cout <= 4096 */
int PW_KERNEL(conv1x1_prelu_bwd_weights_supports)(const pcnn_conv_t *c) {
  return 4 * pw_round_up(c->cout, PW_VL) <= PW_DBUF;
}

/* dw [cin][cout], db, dalpha (cout, act only) +=; dout, pre (act only) (P, cout);
 * in (P, cin); alpha (cout, act only). The shape must pass
 * conv1x1_prelu_bwd_weights_supports (callers test it). Returns 0, writing
 * nothing, if the partials cannot be allocated. */
static PW_INLINE int bww_core(const int act, float *dw, float *db, float *dalpha,
                              const float *dout, const float *pre, const float *in,
                              const float *alpha, const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, ldd = pw_round_up(cout, PW_VL);
  const int direct = !act && ldd == cout; /* dpre is dout, read in place */
  bww_ctx x = {cin, cout, ldd, 0, {{0, 0, 0}}};
  x.nseg = pw_segments(x.seg, c);
  /* pixels per block: the block's dpre stays in L1 (at most 64 rows) */
  const int pb = PW_DBUF / ldd < 64 ? PW_DBUF / ldd : 64;
  const long p = (long)c->n * c->h * c->w;
  /* partial k: dw [cin][cout], then db and dalpha (ldd each) of chunk k */
  const size_t ldp = (size_t)cin * cout + 2 * (size_t)ldd;
  float *const part = pcnn_scratch(BWW_CHUNKS * ldp);
  if (!part) return 0;
#pragma omp parallel
  {
    float buf[PW_DBUF] __attribute__((aligned(64))); /* dpre (pb, ldd) */
#pragma omp for schedule(static)
    for (int k = 0; k < BWW_CHUNKS; k++) {
      float *dwk = part + (size_t)k * ldp, *sdb = dwk + (size_t)cin * cout, *sda = sdb + ldd;
      memset(dwk, 0, ldp * sizeof(float));
      const long e = p * (k + 1) / BWW_CHUNKS;
      for (long p0 = p * k / BWW_CHUNKS; p0 < e; p0 += pb) {
        const int pn = (int)(e - p0 < pb ? e - p0 : pb);
        /* dpre (pn, ldd), zero beyond cout: in buf, or dout itself */
        const float *dp = direct ? dout + (size_t)p0 * cout : buf;
        /* the next block's input rows, into L2 (pw_gemm.h) */
        const long q1 = p0 + 2 * pb < e ? p0 + 2 * pb : e;
        if (q1 > p0 + pb) pw_prefetch_l2(in + (size_t)(p0 + pb) * cin, (size_t)(q1 - p0 - pb) * cin);
        for (int i = 0; i < pn; i++) {
          const float *g = dout + (size_t)(p0 + i) * cout;
          for (int co = 0; co < ldd; co += PW_VL) {
            const pw_vf gv = pw_load_n(g + co, cout - co);
            const pw_vf xv = act ? pw_load_n(pre + (size_t)(p0 + i) * cout + co, cout - co) : gv;
            const pw_vf d = act ? pw_prelu_sel(xv, gv, pw_load_n(alpha + co, cout - co)) : gv;
            if (!direct) pw_store(buf + (size_t)i * ldd + co, d);
            pw_store(sdb + co, pw_add(pw_load(sdb + co), d));
            if (act) pw_store(sda + co, pw_add(pw_load(sda + co), pw_neg_part(xv, gv)));
          }
        }
        for (int ci0 = 0; ci0 < cin; ci0 += PW_MR) {
          const int mr = cin - ci0 < PW_MR ? cin - ci0 : PW_MR;
          for (int j = 0; j < cout; j += PW_NV * PW_VL) {
            const int nv = (ldd - j) / PW_VL < PW_NV ? (ldd - j) / PW_VL : PW_NV;
            tile_any(mr, nv, dwk, in + (size_t)p0 * cin, dp, pn, ci0, j, &x);
          }
        }
      }
    }
    /* the partials in chunk order, each kept tap by one thread; row cin: db, dalpha */
    const float *pdb = part + (size_t)cin * cout;
#pragma omp for schedule(static)
    for (int ci = 0; ci <= cin; ci++) {
      if (ci < cin) {
        const int cb = pw_co_begin(x.seg, x.nseg, ci, cout);
        add_partials(dw + (size_t)ci * cout + cb, part + (size_t)ci * cout + cb, ldp, cout - cb);
      } else {
        add_partials(db, pdb, ldp, cout);
        if (act) add_partials(dalpha, pdb + ldd, ldp, cout);
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
