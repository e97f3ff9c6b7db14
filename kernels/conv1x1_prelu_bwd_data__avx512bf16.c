/* conv1x1_prelu_bwd_data__avx512bf16.c: pcnn_conv1x1_prelu_bwd_data__avx512bf16,
 * the data gradient of the fused masked 1x1 conv + PReLU in bf16 precision
 * (pcnn_kernels.h, "precision"; the twin of
 * pcnn_conv1x1_prelu_bwd_data__ref_bf16):
 *   dpre[p][co] = pre > 0 ? dout : alpha[co] dout        (fp32, then rounded)
 *   din[p][ci] += sum_{co >= co_begin(ci)} bf(dpre[p][co]) bf(w[ci][co])
 * A GEMM dpre x w^T on VDPBF16PS reducing over output channel pairs: the
 * weights are packed once per call, transposed, as pair words
 * [cout/2][cin rounded up to 16] (w[ci][2q], w[ci][2q+1]) (pw_bf16.h), zeros
 * at masked taps (never read from w) and in the padding. Per block of pixels
 * the block's dpre is formed in fp32 (the PReLU gradient folded into the
 * loads of dout and pre) and stored as bf16 rows in a stack buffer, so a
 * 32-bit broadcast gives a channel pair. Register tiles of 6 pixels x 4
 * vectors of 16 input channels whose accumulators start from din (or 0:
 * PCNN_CONV_OVERWRITE, din neither read nor prefetched) (din
 * accumulates in one pass and is prefetched PW_PF_ROWS rows ahead, as in the
 * FP32 kernel); output pair runs that reach only the first input channels
 * stop at their last vector (pw_bf_psegs_out).
 * Work split: blocks of up to 96 pixels, statically over threads; every din
 * element is written by one thread with the same sums: bitwise the same at
 * any thread count.
 * Cost: per block the dpre rows (one select, one multiply per 16 floats, one
 * conversion per 32); per call the transposed pack (16 rows of w converted
 * and transposed in registers, c1_pack_wt in conv1x1_bf16.h; it was a
 * scalar scatter of cin x cout / 2 pair words: 73.9 -> 73.1 us for 128->64
 * and 147.7 -> 144.1 us for 128->128 at N = 1, one thread, CPU time,
 * medians of 3 alternating rounds on the loaded Zen 4 VM). Shapes whose
 * pack exceeds 65,536 pair words (256 KiB: e.g. 256 -> 512) or whose dpre
 * row exceeds 5,440 channels run the bf16 reference
 * (pcnn_conv1x1_prelu_bwd_data_supports__avx512bf16).
 * Measured (AMD EPYC Zen 4 VM, 2 cores shared with other jobs; one thread,
 * thread CPU time, medians of 9 alternating rounds against the FP32 AVX-512
 * kernel; GFLOP/s of useful multiply-adds, % of the 231 GFLOP/s VDPBF16PS
 * peak): B 128->64 / 128->128 at N = 1: 181 / 184 GFLOP/s
 * (78 / 80%), 1.89 / 1.92x FP32; at N = 32: 127 / 153 (55 / 66%), 1.64 /
 * 1.75x (there din, dout and pre stream from memory: 38 MB a call for
 * 128->64 against 17 GB/s measured for one core's read stream). The pack and
 * call overhead (a 1-pixel call): 3.4 / 6.2 us (FP32: 7.7 / 14.0 us), 2 to
 * 4.5% of a 28x28 call. */
#include "pcnn_kernels.h"
#include "pw_simd__avx512.h"
#include "pw_bf16.h"
#include "conv1x1_bf16.h"

#define PB 96          /* pixels per block */
#define BF_PACK 65536  /* pair words of packed weights (and the padded slope) */
#define BF_DBUF 32768  /* bf16 words of a thread's dpre block */

typedef struct {
  int cin, ldt, ldd, npseg; /* ldt, ldd: pair words per row of the pack, the dpre block */
  int set;                  /* PCNN_CONV_OVERWRITE: the sums start from 0, not din */
  const uint32_t *wt;       /* [cout/2][ldt] */
  pw_pseg_t ps[PW_PSEG_MAX];
} bwd_ctx;

/* one register tile: pixels [0, mr) of din and of the block's bf16 dpre rows
 * d; input channels [j, j + 16 nv) */
static PW_INLINE void tile(const int mr, const int nv, float *din, const uint32_t *d, int j,
                           const bwd_ctx *x) {
  __m512 acc[PW_MR][PW_NV];
#pragma GCC unroll 8
  for (int v = 0; v < nv; v++)
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
      acc[r][v] = x->set ? _mm512_setzero_ps() : pw_load_n(din + (size_t)r * x->cin + j + v * 16, x->cin - j - v * 16);
  for (int s = 0; s < x->npseg; s++) {
    const pw_pseg_t *g = &x->ps[s];
    if (g->lim <= j) continue;
    const int v1 = (g->lim - j + 15) / 16; /* vectors from v1 on are masked */
    pw_bf_mac_to(acc, mr, nv, v1, d + g->q0, x->ldd, 1, x->wt + (size_t)g->q0 * x->ldt + j, x->ldt,
                 g->q1 - g->q0);
  }
#pragma GCC unroll 8
  for (int v = 0; v < nv; v++)
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
      pw_store_n(din + (size_t)r * x->cin + j + v * 16, x->cin - j - v * 16, acc[r][v]);
}

static PW_INLINE void tile_nv(int mr, const int nv, float *din, const uint32_t *d, int j,
                              const bwd_ctx *x) {
  switch (mr) {
    case 6: tile(6, nv, din, d, j, x); break;
    case 5: tile(5, nv, din, d, j, x); break;
    case 4: tile(4, nv, din, d, j, x); break;
    case 3: tile(3, nv, din, d, j, x); break;
    case 2: tile(2, nv, din, d, j, x); break;
    case 1: tile(1, nv, din, d, j, x); break;
    default: break;
  }
}

static void tile_any(int mr, int nv, float *din, const uint32_t *d, int j, const bwd_ctx *x) {
  switch (nv) {
    case 4: tile_nv(mr, 4, din, d, j, x); break;
    case 3: tile_nv(mr, 3, din, d, j, x); break;
    case 2: tile_nv(mr, 2, din, d, j, x); break;
    case 1: tile_nv(mr, 1, din, d, j, x); break;
    default: break;
  }
}

int pcnn_conv1x1_prelu_bwd_data_supports__avx512bf16(const pcnn_conv_t *c) {
  const size_t ldt = (size_t)pw_round_up(c->cin, 16), nq = (size_t)(c->cout + 1) / 2;
  const size_t coutp = (size_t)pw_round_up(c->cout, 32);
  return nq * ldt + coutp <= BF_PACK && coutp * PW_MR <= BF_DBUF;
}

void pcnn_conv1x1_prelu_bwd_data__avx512bf16(float *din, const float *dout, const float *pre,
                                             const float *w, const float *alpha,
                                             const pcnn_conv_t *c) {
  /* din (P, cin) +=; dout, pre (P, cout); w [cin][cout]; alpha (cout) */
  if (!pcnn_conv1x1_prelu_bwd_data_supports__avx512bf16(c)) {
    pcnn_conv1x1_prelu_bwd_data__ref_bf16(din, dout, pre, w, alpha, c);
    return;
  }
  const int cin = c->cin, cout = c->cout, ldt = pw_round_up(cin, 16), nq = (cout + 1) / 2;
  const int coutp = pw_round_up(cout, 32); /* bf16 words per dpre row */
  uint32_t pack[BF_PACK] __attribute__((aligned(64)));
  pw_seg_t fs[3];
  const int nfs = pw_segments(fs, c);
  /* pack[q][ci] = the pair (w[ci][2q], w[ci][2q+1]), each zero if masked:
   * 16 rows converted whole (their masked columns not loaded), then
   * transposed in registers (conv1x1_bf16.h) */
  c1_pack_wt(pack, w, c, nq, ldt);
  float *ap = (float *)(pack + (size_t)nq * ldt); /* alpha, zero-padded to coutp */
  for (int co = 0; co < coutp; co++) ap[co] = co < cout ? alpha[co] : 0.f;
  bwd_ctx x = {cin, ldt, coutp / 2, 0, (c->flags & PCNN_CONV_OVERWRITE) != 0, pack, {{0, 0, 0}}};
  x.npseg = pw_bf_psegs_out(x.ps, fs, nfs, cout);
  if (x.npseg == 0) { /* every tap masked (mask A, one group): din unchanged (or zeroed) */
    pcnn_conv_zero_din(din, c);
    return;
  }
  const int pb = BF_DBUF / coutp < PB ? BF_DBUF / coutp : PB;
  const long p = (long)c->n * c->h * c->w, nblk = (p + pb - 1) / pb;
#pragma omp parallel for schedule(static)
  for (long blk = 0; blk < nblk; blk++) {
    uint16_t buf[BF_DBUF] __attribute__((aligned(64))); /* dpre (pb, coutp), bf16 */
    const long p0 = blk * pb;
    const int pn = (int)(p - p0 < pb ? p - p0 : pb);
    for (int i = 0; i < pn; i++) {
      const float *g = dout + (size_t)(p0 + i) * cout, *v = pre + (size_t)(p0 + i) * cout;
      for (int co = 0; co < coutp; co += 32) {
        const __m512 lo = pw_prelu_sel(pw_load_n(v + co, cout - co), pw_load_n(g + co, cout - co),
                                       _mm512_loadu_ps(ap + co));
        const int c2 = co + 16;
        const __m512 hi = c2 < cout ? pw_prelu_sel(pw_load_n(v + c2, cout - c2), pw_load_n(g + c2, cout - c2),
                                                   _mm512_loadu_ps(ap + c2))
                                    : _mm512_setzero_ps();
        _mm512_storeu_si512(buf + (size_t)i * coutp + co, pw_bf_pack2(lo, hi));
      }
    }
    const uint32_t *d = (const uint32_t *)buf;
    for (int j = 0; j < cin; j += 64) {
      const int nv = (ldt - j) / 16 < 4 ? (ldt - j) / 16 : 4;
      for (int i = 0; i < pn; i += PW_MR) {
        const size_t q = (size_t)(p0 + i);
        /* din rows PW_PF_ROWS ahead into L2 (pw_gemm.h) */
        if (j == 0 && !x.set && q + PW_PF_ROWS + PW_MR <= (size_t)p)
          pw_prefetch_l2(din + (q + PW_PF_ROWS) * cin, (size_t)PW_MR * cin);
        tile_any(pn - i < PW_MR ? pn - i : PW_MR, nv, din + q * cin, d + (size_t)i * x.ldd, j, &x);
      }
    }
  }
}
