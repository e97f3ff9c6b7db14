/* conv1x1_prelu_fwd__avx512bf16.c: pcnn_conv1x1_prelu_fwd__avx512bf16, the
 * fused masked 1x1 conv + PReLU forward in bf16 precision (pcnn_kernels.h,
 * "precision"; the twin of pcnn_conv1x1_prelu_fwd__ref_bf16):
 *   pre[p][co] = b[co] + sum_{ci : co >= co_begin(ci)} bf(in[p][ci]) bf(w[ci][co])
 *   out[p][co] = pre > 0 ? pre : alpha[co] pre
 * (bf: rounded to bf16; products exact, summed in fp32; bias and PReLU fp32).
 * A GEMM (P x cin) x (cin x cout) on VDPBF16PS, reducing over input channel
 * pairs: the weights are packed once per call as pair words
 * [cin/2][cout rounded up to 16] (w[2q][co], w[2q+1][co]) (pw_bf16.h), zeros
 * at masked taps (never read from w) and in the padding; each block's input
 * rows are converted to bf16 in a per-thread stack buffer, so a 32-bit
 * broadcast gives a channel pair. Register tiles of 6 pixels x 4 vectors of
 * 16 output channels (24 zmm accumulators from the bias); input pair runs
 * whose outputs start past a whole vector skip it (pw_bf_psegs_in). The
 * epilogue writes pre and out in one pass, streamed (non-temporal) past the
 * caches when they exceed PW_NT_BYTES, as the FP32 kernel.
 * Work split: blocks of up to 96 pixels, statically over threads; every
 * output is written by one thread with the same sums: bitwise the same at
 * any thread count.
 * Cost: per pixel block a bf16 copy of its input rows (1 conversion per 32
 * floats); per call the weight pack (one permute + conversion per 16 pair
 * words). Shapes whose pack exceeds 65,536 pair words (256 KiB) or whose
 * input row exceeds 5,440 channels run the bf16 reference
 * (pcnn_conv1x1_prelu_fwd_supports__avx512bf16).
 * Measured (AMD EPYC Zen 4 VM, 2 cores shared with other jobs; one thread,
 * thread CPU time, medians of 9 alternating rounds against the FP32 AVX-512
 * kernel; GFLOP/s of useful multiply-adds, % of the 231 GFLOP/s VDPBF16PS
 * peak): B 128->64 / 128->128 at N = 1 (28x28): 189 / 194
 * GFLOP/s (82 / 84%), 1.81 / 1.87x FP32; at N = 32: 145 / 169 (63 / 73%),
 * 2.05 / 1.90x. The pack and call overhead (a 1-pixel call): 2.0 / 2.9 us
 * (FP32: 4.7 / 8.4 us), about 2% of a 28x28 call. */
#include "pcnn_kernels.h"
#include "pw_simd__avx512.h"
#include "pw_bf16.h"

#define PB 96          /* pixels per block: the unit of work of a thread */
#define BF_PACK 65536  /* pair words of packed weights */
#define BF_ABUF 32768  /* bf16 words of a thread's input block */

typedef struct {
  int cin, cout, ldw, lda, npseg, nt; /* ldw, lda: pair words per row of the pack, the block */
  int ntp; /* stream pre only (PCNN_CONV_STREAM_PRE, aligned rows) */
  const uint32_t *wp;                 /* [cin/2][ldw] */
  const float *bp, *ap;               /* bias, slope padded to ldw */
  pw_pseg_t ps[PW_PSEG_MAX];
} fwd_ctx;

/* one register tile: pixels [0, mr) of pre/out, of the block's bf16 rows a;
 * output channels [j, j + 16 nv) */
static PW_INLINE void tile(const int mr, const int nv, float *pre, float *out, const uint32_t *a,
                           int j, const fwd_ctx *x) {
  __m512 acc[PW_MR][PW_NV];
#pragma GCC unroll 8
  for (int v = 0; v < nv; v++) {
    const __m512 bv = _mm512_loadu_ps(x->bp + j + v * 16);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) acc[r][v] = bv;
  }
  for (int s = 0; s < x->npseg; s++) {
    const pw_pseg_t *g = &x->ps[s];
    const int v0 = g->lim <= j ? 0 : (g->lim - j) / 16; /* vectors below are masked */
    if (v0 >= nv) continue;
    pw_bf_mac_from(acc, mr, nv, v0, a + g->q0, x->lda, 1, x->wp + (size_t)g->q0 * x->ldw + j, x->ldw,
                   g->q1 - g->q0);
  }
#pragma GCC unroll 8
  for (int v = 0; v < nv; v++) {
    const int co = j + v * 16, left = x->cout - co;
    const __m512 av = _mm512_loadu_ps(x->ap + co);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      float *pp = pre + (size_t)r * x->cout + co, *oo = out + (size_t)r * x->cout + co;
      const __m512 y = pw_prelu_sel(acc[r][v], acc[r][v], av);
      if (x->nt) { /* nt implies cout % 16 == 0: no tail */
        pw_stream(pp, acc[r][v]);
        pw_stream(oo, y);
      } else if (x->ntp) { /* ntp implies cout % 16 == 0 */
        pw_stream(pp, acc[r][v]);
        pw_store_n(oo, left, y);
      } else {
        pw_store_n(pp, left, acc[r][v]);
        pw_store_n(oo, left, y);
      }
    }
  }
}

static PW_INLINE void tile_nv(int mr, const int nv, float *pre, float *out, const uint32_t *a, int j,
                              const fwd_ctx *x) {
  switch (mr) {
    case 6: tile(6, nv, pre, out, a, j, x); break;
    case 5: tile(5, nv, pre, out, a, j, x); break;
    case 4: tile(4, nv, pre, out, a, j, x); break;
    case 3: tile(3, nv, pre, out, a, j, x); break;
    case 2: tile(2, nv, pre, out, a, j, x); break;
    case 1: tile(1, nv, pre, out, a, j, x); break;
    default: break;
  }
}

static void tile_any(int mr, int nv, float *pre, float *out, const uint32_t *a, int j,
                     const fwd_ctx *x) {
  switch (nv) {
    case 4: tile_nv(mr, 4, pre, out, a, j, x); break;
    case 3: tile_nv(mr, 3, pre, out, a, j, x); break;
    case 2: tile_nv(mr, 2, pre, out, a, j, x); break;
    case 1: tile_nv(mr, 1, pre, out, a, j, x); break;
    default: break;
  }
}

int pcnn_conv1x1_prelu_fwd_supports__avx512bf16(const pcnn_conv_t *c) {
  const size_t ldw = (size_t)pw_round_up(c->cout, 16), pairs = (size_t)(c->cin + 1) / 2;
  return pairs * ldw + 2 * ldw <= BF_PACK && pw_round_up(c->cin, 32) * PW_MR <= BF_ABUF;
}

void pcnn_conv1x1_prelu_fwd__avx512bf16(float *pre, float *out, const float *in, const float *w,
                                        const float *b, const float *alpha, const pcnn_conv_t *c) {
  /* pre, out (P, cout); in (P, cin); w [cin][cout]; b, alpha (cout) */
  if (!pcnn_conv1x1_prelu_fwd_supports__avx512bf16(c)) {
    pcnn_conv1x1_prelu_fwd__ref_bf16(pre, out, in, w, b, alpha, c);
    return;
  }
  const int cin = c->cin, cout = c->cout, ldw = pw_round_up(cout, 16), nq = (cin + 1) / 2;
  const int cinp = pw_round_up(cin, 32); /* bf16 words per block row */
  uint32_t pack[BF_PACK] __attribute__((aligned(64)));
  pw_seg_t seg[3];
  const int nseg = pw_segments(seg, c);
  /* weights: pair row q holds channels 2q, 2q+1, each zero below its first
   * kept output channel and from cout on */
  for (int q = 0; q < nq; q++) {
    const int c0 = 2 * q, c1 = 2 * q + 1;
    const int b0 = pw_co_begin(seg, nseg, c0, cout), b1 = c1 < cin ? pw_co_begin(seg, nseg, c1, cout) : cout;
    const float *r0 = w + (size_t)c0 * cout, *r1 = c1 < cin ? w + (size_t)c1 * cout : NULL;
    for (int co = 0; co < ldw; co += 16)
      _mm512_storeu_si512(pack + (size_t)q * ldw + co,
                          pw_bf_interleave(r0 + co, pw_mask_range(b0 - co, cout - co), r1 ? r1 + co : NULL,
                                           pw_mask_range(b1 - co, cout - co)));
  }
  float *bp = (float *)(pack + (size_t)nq * ldw), *ap = bp + ldw;
  for (int co = 0; co < ldw; co++) {
    bp[co] = co < cout ? b[co] : 0.f;
    ap[co] = co < cout ? alpha[co] : 0.f;
  }
  const long p = (long)c->n * c->h * c->w;
  const int pb = BF_ABUF / cinp < PB ? BF_ABUF / cinp : PB;
  const long nblk = (p + pb - 1) / pb;
  const int nt = (double)p * cout * sizeof(float) > PW_NT_BYTES && cout % 16 == 0 &&
                 ((size_t)pre | (size_t)out) % 64 == 0;
  const int ntp = !nt && (c->flags & PCNN_CONV_STREAM_PRE) && cout % 16 == 0 && (size_t)pre % 64 == 0;
  fwd_ctx x = {cin, cout, ldw, cinp / 2, 0, nt, ntp, pack, bp, ap, {{0, 0, 0}}};
  x.npseg = pw_bf_psegs_in(x.ps, seg, nseg, cin, cout);
#pragma omp parallel for schedule(static)
  for (long blk = 0; blk < nblk; blk++) {
    uint16_t abuf[BF_ABUF] __attribute__((aligned(64))); /* the block's input rows, bf16 */
    const long p0 = blk * pb;
    const int pn = (int)(p - p0 < pb ? p - p0 : pb);
    for (int i = 0; i < pn; i++) pw_bf_row(abuf + (size_t)i * cinp, in + (size_t)(p0 + i) * cin, cin, cinp);
    const uint32_t *a = (const uint32_t *)abuf;
    for (int j = 0; j < cout; j += 64) {
      const int left = (ldw - j) / 16, nv = left < 4 ? left : 4;
      for (int i = 0; i < pn; i += PW_MR) {
        const size_t q = (size_t)(p0 + i);
        tile_any(pn - i < PW_MR ? pn - i : PW_MR, nv, pre + q * cout, out + q * cout,
                 a + (size_t)i * x.lda, j, &x);
      }
    }
    if (nt || ntp) pw_fence();
  }
}
