/* conv1x1_prelu_bwd_data_body.h: the body of pcnn_conv1x1_prelu_bwd_data__avx512
 * and __avx2 (fused masked 1x1 conv + PReLU) and of pcnn_conv1x1_bwd_data__avx512
 * and __avx2 (the plain masked 1x1 conv, pw_conv1x1.h, used by
 * pcnn_conv_bwd_data__<isa> for k == 1), included by
 * kernels/conv1x1_prelu_bwd_data__avx512.c and __avx2.c after their
 * pw_simd__<isa>.h, which sets the vector width; PW_KERNEL(op) names the
 * function for the ISA. One core, bwd_data_core, with a compile-time act flag:
 *   act:  dpre[p][co] = pre > 0 ? dout : alpha[co] dout;  !act: dpre = dout
 *   din[p][ci] += sum_{co >= co_begin(ci)} dpre[p][co] w[ci][co]
 * The weights are packed once per call, transposed and masked, into a
 * zero-padded wt [cout][cin rounded up]. Work split: blocks of up to 96
 * pixels (262 for the seed model at batch 32), statically over threads:
 * with act it first writes the block's dpre (the PReLU gradient folded into
 * the load of dout, vectorised) to a stack buffer; without, dout is read in
 * place (dpre is only broadcast, never loaded as a vector). Then the GEMM
 * dpre x wt runs with register tiles of PW_MR pixels x PW_NV vectors of input
 * channels whose accumulators start from din (0 with PCNN_CONV_OVERWRITE:
 * din not read, not prefetched) (so din accumulates in one
 * pass; din, and dout when read in place, are prefetched PW_PF_ROWS rows
 * ahead, pw_gemm.h). Output colour groups that reach only the first input channels stop
 * at their last vector. Sums run over co in the reference's order; every din
 * element is written by one thread, so results do not depend on the thread
 * count. Layers whose packed weights exceed PW_PACK_MAX floats (cout x cin
 * rounded up to vectors, + a row: e.g. 256 -> 256;
 * pcnn_conv1x1_prelu_bwd_data_supports__<isa>): the fused kernel runs the
 * reference, the plain one returns 0 (its caller runs the direct conv
 * engine). */
#include "pcnn_kernels.h"
#include "pw_conv1x1.h"
#include "pw_gemm.h"

typedef struct {
  int cin, cout, ldt, ldd, nseg; /* ldd: row stride of dpre */
  int set;           /* PCNN_CONV_OVERWRITE: the sums start from 0, not din */
  const float *wt;   /* [cout][ldt] */
  pw_seg_t seg[3];   /* reduction segments: outputs [c0, c1) reach inputs [0, co0) */
} bwd_ctx;

/* one register tile: pixels [0, mr) of din, dp; input channels [j, j + nv PW_VL) */
static PW_INLINE void tile(const int mr, const int nv, float *din, const float *dp, int j,
                           const bwd_ctx *x) {
  pw_vf acc[PW_MR][PW_NV];
#pragma GCC unroll 8
  for (int v = 0; v < nv; v++)
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
      acc[r][v] = x->set ? pw_zero() : pw_load_n(din + (size_t)r * x->cin + j + v * PW_VL, x->cin - j - v * PW_VL);
  for (int s = 0; s < x->nseg; s++) {
    const pw_seg_t *g = &x->seg[s];
    const int v1 = (g->co0 - j + PW_VL - 1) / PW_VL; /* vectors from v1 on are masked */
    if (g->co0 <= j) continue;
    pw_mac_to(acc, mr, nv, v1, dp + g->c0, x->ldd, 1, x->wt + (size_t)g->c0 * x->ldt + j, x->ldt,
              g->c1 - g->c0);
  }
#pragma GCC unroll 8
  for (int v = 0; v < nv; v++)
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
      pw_store_n(din + (size_t)r * x->cin + j + v * PW_VL, x->cin - j - v * PW_VL, acc[r][v]);
}

static PW_INLINE void tile_nv(int mr, const int nv, float *din, const float *dp, int j,
                              const bwd_ctx *x) {
  switch (mr) {
    case 6: tile(6, nv, din, dp, j, x); break;
    case 5: tile(5, nv, din, dp, j, x); break;
    case 4: tile(4, nv, din, dp, j, x); break;
    case 3: tile(3, nv, din, dp, j, x); break;
    case 2: tile(2, nv, din, dp, j, x); break;
    case 1: tile(1, nv, din, dp, j, x); break;
    default: break;
  }
}

static void tile_any(int mr, int nv, float *din, const float *dp, int j, const bwd_ctx *x) {
  switch (nv) {
#if PW_NV > 2
    case 4: tile_nv(mr, 4, din, dp, j, x); break;
    case 3: tile_nv(mr, 3, din, dp, j, x); break;
#endif
    case 2: tile_nv(mr, 2, din, dp, j, x); break;
    case 1: tile_nv(mr, 1, din, dp, j, x); break;
    default: break;
  }
}

/* the shape limit of both kernels of this file: the packed transposed
 * weights [cout][cin rounded up] and the padded slope fit PW_PACK_MAX, a
 * dpre row fits PW_DBUF */
int PW_KERNEL(conv1x1_prelu_bwd_data_supports)(const pcnn_conv_t *c) {
  const int ldt = pw_round_up(c->cin, PW_VL), ldd = pw_round_up(c->cout, PW_VL);
  return (size_t)c->cout * ldt + ldd <= PW_PACK_MAX && ldd <= PW_DBUF;
}

/* din (P, cin) += dpre (P, cout) x w^T; dout, pre (act only) (P, cout);
 * w [cin][cout]; alpha (cout, act only). The shape must pass
 * conv1x1_prelu_bwd_data_supports (callers test it). */
static PW_INLINE void bwd_data_core(const int act, float *din, const float *dout,
                                    const float *pre, const float *w, const float *alpha,
                                    const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, ldt = pw_round_up(cin, PW_VL);
  const int ldd = pw_round_up(cout, PW_VL);
  float pack[PW_PACK_MAX] __attribute__((aligned(64)));
  pw_seg_t fs[3];
  const int nfs = pw_segments(fs, c);
  for (int ci = 0; ci < ldt; ci++) {
    const int co0 = ci < cin ? pw_co_begin(fs, nfs, ci, cout) : cout;
    for (int co = 0; co < cout; co++)
      pack[(size_t)co * ldt + ci] = co >= co0 ? w[(size_t)ci * cout + co] : 0.f;
  }
  float *ap = pack + (size_t)cout * ldt; /* alpha, zero-padded to ldd */
  for (int co = 0; co < ldd; co++) ap[co] = act && co < cout ? alpha[co] : 0.f;
  /* reduction segments: output group [c0, c1) reaches input channels [0, co0) */
  bwd_ctx x = {cin, cout, ldt, act ? ldd : cout, 0, (c->flags & PCNN_CONV_OVERWRITE) != 0, pack, {{0, 0, 0}}};
  for (int g = 0; g < c->groups; g++) {
    const int c0 = pcnn_group_begin(g, cout, c->groups), c1 = pcnn_group_begin(g + 1, cout, c->groups);
    const int e = pw_ci_end(fs, nfs, c0);
    if (c1 > c0 && e > 0) x.seg[x.nseg++] = (pw_seg_t){c0, c1, e};
  }
  if (x.nseg == 0) { /* every tap masked (mask A, one group): din unchanged (or zeroed) */
    pcnn_conv_zero_din(din, c);
    return;
  }
  const int pb = PW_DBUF / ldd < 96 ? PW_DBUF / ldd : 96; /* pixels per block */
  const long p = (long)c->n * c->h * c->w, nblk = (p + pb - 1) / pb;
#pragma omp parallel for schedule(static)
  for (long blk = 0; blk < nblk; blk++) {
    float buf[PW_DBUF] __attribute__((aligned(64))); /* dpre (pb, ldd), act only */
    const long p0 = blk * pb;
    const int pn = (int)(p - p0 < pb ? p - p0 : pb);
    const float *dp = dout + (size_t)p0 * cout;
    if (act) {
      for (int i = 0; i < pn; i++) {
        const float *g = dout + (size_t)(p0 + i) * cout, *v = pre + (size_t)(p0 + i) * cout;
        for (int co = 0; co < ldd; co += PW_VL)
          pw_store(buf + (size_t)i * ldd + co,
                   pw_prelu_sel(pw_load_n(v + co, cout - co), pw_load_n(g + co, cout - co),
                                pw_load(ap + co)));
      }
      dp = buf;
    }
    for (int j = 0; j < cin; j += PW_NV * PW_VL) {
      const int nv = (ldt - j) / PW_VL < PW_NV ? (ldt - j) / PW_VL : PW_NV;
      for (int i = 0; i < pn; i += PW_MR) {
        const size_t q = (size_t)(p0 + i);
        /* rows PW_PF_ROWS ahead into L2 (pw_gemm.h): din, and dout when
         * the tiles broadcast from it in place */
        if (j == 0 && q + PW_PF_ROWS + PW_MR <= (size_t)p) {
          if (!x.set) pw_prefetch_l2(din + (q + PW_PF_ROWS) * cin, (size_t)PW_MR * cin);
          if (!act) pw_prefetch_l2(dout + (q + PW_PF_ROWS) * cout, (size_t)PW_MR * cout);
        }
        tile_any(pn - i < PW_MR ? pn - i : PW_MR, nv, din + q * cin, dp + (size_t)i * x.ldd, j, &x);
      }
    }
  }
}

void PW_KERNEL(conv1x1_prelu_bwd_data)(float *din, const float *dout, const float *pre,
                                         const float *w, const float *alpha,
                                         const pcnn_conv_t *c) {
  if (!PW_KERNEL(conv1x1_prelu_bwd_data_supports)(c)) {
    pcnn_conv1x1_prelu_bwd_data__ref(din, dout, pre, w, alpha, c);
    return;
  }
  bwd_data_core(1, din, dout, pre, w, alpha, c);
}

int PW_KERNEL(conv1x1_bwd_data)(float *din, const float *dout, const float *w,
                                const pcnn_conv_t *c) {
  if (!PW_KERNEL(conv1x1_prelu_bwd_data_supports)(c)) return 0;
  bwd_data_core(0, din, dout, NULL, w, NULL, c);
  return 1;
}
