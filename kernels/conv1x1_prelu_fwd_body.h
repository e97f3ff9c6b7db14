/* conv1x1_prelu_fwd_body.h: the body of pcnn_conv1x1_prelu_fwd__avx512 and __avx2
 * (fused masked 1x1 conv + PReLU) and of pcnn_conv1x1_fwd__avx512 and __avx2
 * (the plain masked 1x1 conv, pw_conv1x1.h, used by pcnn_conv_fwd__<isa> for
 * k == 1), included by kernels/conv1x1_prelu_fwd__avx512.c and __avx2.c after
 * their pw_simd__<isa>.h, which sets the vector width; PW_KERNEL(op) names the
 * function for the ISA; also of pcnn_conv1x1_res_prelu_fwd__<isa> (the k == 1
 * case of conv_prelu_fwd: residual input, then PReLU). One core, fwd_core,
 * with a compile-time act flag and an optional residual res:
 *   pre[p][co] = b[co] + sum_{ci : co >= co_begin(ci)} in[p][ci] w[ci][co] (+ res[p][co])
 *   act:  out[p][co] = pre > 0 ? pre : alpha[co] pre  (and pre is stored)
 *   !act: out[p][co] = pre                             (no pre, no alpha)
 * A GEMM (P x cin) x (cin x cout): register tiles of PW_MR pixels x PW_NV
 * vectors of output channels, accumulators start at the bias, the input is
 * broadcast, one weight row is loaded per input channel; the epilogue writes
 * pre and out in one pass (masked stores on the channel tail). The weights
 * are packed once per call into a zero-padded [cin][cout rounded up] copy
 * with the masked taps zeroed (the kernel never reads them from w); when that
 * exceeds PW_PACK_MAX floats (the RGB softmax head, 120 -> 768), the output
 * columns are packed and run in chunks of whole tiles; input
 * colour groups whose outputs start past a whole vector skip that vector.
 * Work split: blocks of PB = 96 pixels (262 for the seed model at batch 32),
 * statically over threads; every output is written by one thread, in the
 * reference's order of input channels, so results do not depend on threads.
 * Outputs larger than PW_NT_BYTES are written with non-temporal stores
 * (measured: 128->64 at N=32 went from 69 to 78 GFLOP/s on one core).
 * Layers with so many input channels that not even one tile of columns fits
 * the pack (cin + 2 > PW_PACK_MAX / (PW_NV PW_VL): cin > 1022 on AVX-512,
 * cin > 4094 on AVX2; pcnn_conv1x1_prelu_fwd_supports__<isa>): the fused
 * kernel runs the reference, the plain ones return 0 (their caller runs the
 * direct engine). */
#include "pcnn_kernels.h"
#include "pw_conv1x1.h"
#include "pw_gemm.h"

#define PB 96 /* pixels per block: the unit of work of a thread */

typedef struct {
  int cin, cout, ldw, nseg;
  int j0; /* first output column of the pack */
  int nt; /* stream pre and out past the caches (large, aligned outputs) */
  int ntp; /* stream pre only (PCNN_CONV_STREAM_PRE, aligned rows) */
  const float *wp, *bp, *ap; /* packed w [cin][ldw], padded b and alpha (ldw), columns from j0 */
  pw_seg_t seg[3];
} fwd_ctx;

/* one register tile: pixels [0, mr) of pre/out/in, channels [j, j + nv PW_VL);
 * act: PReLU epilogue, also storing pre; !act: out = the accumulators */
static PW_INLINE void tile(const int act, const int mr, const int nv, float *pre, float *out,
                           const float *res, const float *in, int j, const fwd_ctx *x) {
  pw_vf acc[PW_MR][PW_NV];
#pragma GCC unroll 8
  for (int v = 0; v < nv; v++) {
    const pw_vf bv = pw_load(x->bp + (j - x->j0) + v * PW_VL);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) acc[r][v] = bv;
  }
  for (int s = 0; s < x->nseg; s++) {
    const pw_seg_t *g = &x->seg[s];
    const int v0 = g->co0 <= j ? 0 : (g->co0 - j) / PW_VL; /* vectors below are masked */
    if (v0 >= nv) continue;
    pw_mac_from(acc, mr, nv, v0, in + g->c0, x->cin, 1,
                x->wp + (size_t)g->c0 * x->ldw + (j - x->j0), x->ldw, g->c1 - g->c0);
  }
#pragma GCC unroll 8
  for (int v = 0; v < nv; v++) {
    const int co = j + v * PW_VL, left = x->cout - co;
    const pw_vf av = act ? pw_load(x->ap + (co - x->j0)) : pw_zero();
    if (res) {
#pragma GCC unroll 8
      for (int r = 0; r < mr; r++)
        acc[r][v] = pw_add(acc[r][v], pw_load_n(res + (size_t)r * x->cout + co, left));
    }
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      float *oo = out + (size_t)r * x->cout + co;
      const pw_vf y = act ? pw_prelu_sel(acc[r][v], acc[r][v], av) : acc[r][v];
      if (x->nt) { /* nt implies cout % PW_VL == 0: no tail */
        if (act) pw_stream(pre + (size_t)r * x->cout + co, acc[r][v]);
        pw_stream(oo, y);
      } else if (x->ntp) { /* ntp implies act and cout % PW_VL == 0 */
        pw_stream(pre + (size_t)r * x->cout + co, acc[r][v]);
        pw_store_n(oo, left, y);
      } else {
        if (act) pw_store_n(pre + (size_t)r * x->cout + co, left, acc[r][v]);
        pw_store_n(oo, left, y);
      }
    }
  }
}

static PW_INLINE void tile_nv(const int act, int mr, const int nv, float *pre, float *out,
                              const float *res, const float *in, int j, const fwd_ctx *x) {
  switch (mr) {
    case 6: tile(act, 6, nv, pre, out, res, in, j, x); break;
    case 5: tile(act, 5, nv, pre, out, res, in, j, x); break;
    case 4: tile(act, 4, nv, pre, out, res, in, j, x); break;
    case 3: tile(act, 3, nv, pre, out, res, in, j, x); break;
    case 2: tile(act, 2, nv, pre, out, res, in, j, x); break;
    case 1: tile(act, 1, nv, pre, out, res, in, j, x); break;
    default: break;
  }
}

static PW_INLINE void tile_any(const int act, int mr, int nv, float *pre, float *out,
                               const float *res, const float *in, int j, const fwd_ctx *x) {
  switch (nv) {
#if PW_NV > 2
    case 4: tile_nv(act, mr, 4, pre, out, res, in, j, x); break;
    case 3: tile_nv(act, mr, 3, pre, out, res, in, j, x); break;
#endif
    case 2: tile_nv(act, mr, 2, pre, out, res, in, j, x); break;
    case 1: tile_nv(act, mr, 1, pre, out, res, in, j, x); break;
    default: break;
  }
}

/* output columns per pack: all of them, or as many whole tiles as fit; 0 if
 * not even one tile fits (the pack holds cin + 2 rows: w, b, alpha) */
static inline int fwd_pack_cols(const pcnn_conv_t *c) {
  const int tw = PW_NV * PW_VL;
  return (int)(PW_PACK_MAX / (size_t)(c->cin + 2)) / tw * tw;
}

/* the shape limit of every forward of this file (fused, plain, residual) */
int PW_KERNEL(conv1x1_prelu_fwd_supports)(const pcnn_conv_t *c) { return fwd_pack_cols(c) > 0; }

/* pre (P, cout, act only), out (P, cout); res (P, cout) added before the
 * activation, or NULL; in (P, cin); w [cin][cout]; b, alpha (cout, alpha act
 * only). The shape must pass conv1x1_prelu_fwd_supports (callers test it). */
static PW_INLINE void fwd_core(const int act, float *pre, float *out, const float *res,
                               const float *in, const float *w, const float *b, const float *alpha,
                               const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, tw = PW_NV * PW_VL;
  const int cw = fwd_pack_cols(c); /* output columns per pack */
  float pack[PW_PACK_MAX] __attribute__((aligned(64)));
  const long p = (long)c->n * c->h * c->w, nblk = (p + PB - 1) / PB;
  /* outputs larger than a core's L2 go past the caches: pre is next read by
   * the backward pass, out by the next layer after it streamed from memory */
  const int nt = (double)p * cout * sizeof(float) > PW_NT_BYTES && cout % PW_VL == 0 &&
                 ((size_t)(act ? pre : out) | (size_t)out) % (PW_VL * sizeof(float)) == 0;
  const int ntp = !nt && act && (c->flags & PCNN_CONV_STREAM_PRE) && cout % PW_VL == 0 &&
                  (size_t)pre % (PW_VL * sizeof(float)) == 0;
  fwd_ctx x = {cin, cout, 0, 0, 0, nt, ntp, NULL, NULL, NULL, {{0, 0, 0}}};
  x.nseg = pw_segments(x.seg, c);
  /* column chunks [j0, j1): a wide layer (the RGB softmax head, 120 -> 768)
   * packs and runs its columns in pieces; the sums are unchanged */
  for (int j0 = 0; j0 < cout; j0 += cw) {
    const int j1 = cout - j0 < cw ? cout : j0 + cw, ldw = pw_round_up(j1 - j0, PW_VL);
    x.j0 = j0;
    x.ldw = ldw;
    x.wp = pack;
    x.bp = pack + (size_t)cin * ldw;
    x.ap = pack + (size_t)(cin + 1) * ldw;
    for (int ci = 0; ci < cin; ci++) {
      const int co0 = pw_co_begin(x.seg, x.nseg, ci, cout);
      for (int k = 0; k < ldw; k++) {
        const int co = j0 + k;
        pack[(size_t)ci * ldw + k] = co >= co0 && co < j1 ? w[(size_t)ci * cout + co] : 0.f;
      }
    }
    for (int k = 0; k < ldw; k++) {
      const int co = j0 + k;
      pack[(size_t)cin * ldw + k] = co < j1 ? b[co] : 0.f;
      pack[(size_t)(cin + 1) * ldw + k] = act && co < j1 ? alpha[co] : 0.f;
    }
#pragma omp parallel for schedule(static)
    for (long blk = 0; blk < nblk; blk++) {
      const long p0 = blk * PB;
      const int pn = (int)(p - p0 < PB ? p - p0 : PB);
      for (int j = j0; j < j1; j += tw) {
        const int left = (j0 + ldw - j) / PW_VL, nv = left < PW_NV ? left : PW_NV;
        for (int i = 0; i < pn; i += PW_MR) {
          const size_t q = (size_t)(p0 + i);
          tile_any(act, pn - i < PW_MR ? pn - i : PW_MR, nv, act ? pre + q * cout : NULL,
                   out + q * cout, res ? res + q * cout : NULL, in + q * cin, j, &x);
        }
      }
      if (nt || ntp) pw_fence();
    }
  }
}

void PW_KERNEL(conv1x1_prelu_fwd)(float *pre, float *out, const float *in, const float *w,
                                    const float *b, const float *alpha, const pcnn_conv_t *c) {
  if (!PW_KERNEL(conv1x1_prelu_fwd_supports)(c)) {
    pcnn_conv1x1_prelu_fwd__ref(pre, out, in, w, b, alpha, c);
    return;
  }
  fwd_core(1, pre, out, NULL, in, w, b, alpha, c);
}

int PW_KERNEL(conv1x1_fwd)(float *out, const float *in, const float *w, const float *b,
                           const pcnn_conv_t *c) {
  if (!PW_KERNEL(conv1x1_prelu_fwd_supports)(c)) return 0;
  fwd_core(0, NULL, out, NULL, in, w, b, NULL, c);
  return 1;
}

int PW_KERNEL(conv1x1_res_prelu_fwd)(float *pre, float *out, const float *in, const float *w,
                                     const float *b, const float *res, const float *alpha,
                                     const pcnn_conv_t *c) {
  if (!PW_KERNEL(conv1x1_prelu_fwd_supports)(c)) return 0;
  fwd_core(1, pre, out, res, in, w, b, alpha, c);
  return 1;
}
