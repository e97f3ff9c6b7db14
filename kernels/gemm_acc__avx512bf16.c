/* gemm_acc__avx512bf16.c: pcnn_gemm_acc__avx512bf16, the small accumulating
 * GEMM of the caching sampler in bf16 precision (pcnn_kernels.h,
 * "precision"; the twin of pcnn_gemm_acc__ref_bf16):
 *   c[i][j] += sum_p bf(a[i][p]) bf(b[p][j])   (row-major, leading dimensions lda, ldb, ldc)
 * on VDPBF16PS, reducing over pairs of p. The reduction runs in chunks of
 * up to 512 p; per chunk, groups of up to 96 rows of a are converted to
 * bf16 rows in a stack buffer (a 32-bit broadcast gives the pair
 * a[i][2q], a[i][2q+1]), and b is converted a panel of 64 columns at a time
 * to pair words (b[2q][j], b[2q+1][j]) (pw_bf16.h): into a stack panel
 * reused by every register tile of the rows (6 rows x 4 vectors of 16
 * columns), or, when all rows fit one tile (m <= 6: a thread's images in the
 * sampler at small batches), converted inside the tile's loop with no
 * store. The tile of c is loaded into the accumulators and stored back once
 * per chunk; the last vector of a panel uses a lane mask, so c is written
 * only in columns [0, n) and b is read only there. An odd chunk length
 * pairs its last p with zeros.
 * Work split: none, one thread (the caching sampler calls it from each of
 * its threads on that thread's images); each c element sums its chunks in
 * order, whatever m and its row tile.
 * Cost: b is converted once per call and per 96-row group (k x n
 * conversions: with m rows of a, one conversion per m products, so small m
 * gains little over FP32); a once per call.
 * Measured (AMD EPYC Zen 4 VM, 2 cores shared with other jobs; one thread,
 * thread CPU time, medians of 9 alternating rounds against the FP32 AVX-512
 * kernel; GFLOP/s of useful multiply-adds, % of the 231 GFLOP/s VDPBF16PS
 * peak): m x n x k = 16 x 64 x 320: 155 GFLOP/s (67%), 1.34x
 * FP32; 16 x 128 x 128: 160, 1.41x; 16 x 64 x 64: 156, 1.39x; 16 x 128 x 25:
 * 142, 1.35x; 32 x 64 x 320: 175, 1.53x; 8 x 256 x 128: 128, 1.18x;
 * 1 x 64 x 320: 55, 0.97x. The bound is the conversion of b: VCVTNE2PS2BF16
 * takes about 1.25 ns per 32 floats on this Zen 4 and does not overlap the
 * VDPBF16PS (measured: 12 VDPBF16PS 2.2 ns, with one conversion 3.8 ns), so
 * it adds about 8 / m of the multiply-adds' time (m = 16: 1.34x, not 2x). A sampler that
 * kept its packed weights as bf16 pair words would drop it. */
#include "pcnn_kernels.h"
#include "pw_simd__avx512.h"
#include "pw_bf16.h"

#define GA_KC 512 /* p per chunk */
#define GA_MB 96  /* rows of a per converted group */

/* one register tile: rows [0, mr) of c (stride ldc), columns [0, 16 nv)
 * with the last vector masked by last; nq pairs of the bf16 rows of a (aw,
 * row stride lda words) and either the packed panel bz (64 words a pair) or,
 * fused, b itself (rows b, stride ldb, kc rows) */
static PW_INLINE void tile(const int fused, const int mr, const int nv, float *c, int ldc,
                           const uint32_t *aw, int lda, const uint32_t *bz, const float *b, int ldb,
                           int kc, int nq, pw_vm last) {
  __m512 acc[PW_MR][PW_NV];
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
      acc[r][v] = v == nv - 1 ? pw_loadm(last, c + (size_t)r * ldc + v * 16) : pw_load(c + (size_t)r * ldc + v * 16);
  if (!fused) {
    pw_bf_mac(acc, mr, 0, nv, aw, lda, 1, bz, 64, nq);
  } else {
    for (int q = 0; q < nq; q++) {
      const float *r0 = b + (size_t)(2 * q) * ldb, *r1 = 2 * q + 1 < kc ? r0 + ldb : NULL;
      __m512bh bv[PW_NV];
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++) {
        const pw_vm m = v == nv - 1 ? last : (pw_vm)0xffff;
        bv[v] = (__m512bh)pw_bf_interleave(r0 + v * 16, m, r1 ? r1 + v * 16 : NULL, m);
      }
#pragma GCC unroll 8
      for (int r = 0; r < mr; r++) {
        const __m512bh av = (__m512bh)_mm512_set1_epi32((int)aw[(size_t)r * lda + q]);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
      float *cp = c + (size_t)r * ldc + v * 16;
      if (v == nv - 1)
        pw_storem(cp, last, acc[r][v]);
      else
        pw_store(cp, acc[r][v]);
    }
}

static PW_INLINE void tile_nv(const int fused, int mr, const int nv, float *c, int ldc,
                              const uint32_t *aw, int lda, const uint32_t *bz, const float *b,
                              int ldb, int kc, int nq, pw_vm last) {
  switch (mr) {
    case 6: tile(fused, 6, nv, c, ldc, aw, lda, bz, b, ldb, kc, nq, last); break;
    case 5: tile(fused, 5, nv, c, ldc, aw, lda, bz, b, ldb, kc, nq, last); break;
    case 4: tile(fused, 4, nv, c, ldc, aw, lda, bz, b, ldb, kc, nq, last); break;
    case 3: tile(fused, 3, nv, c, ldc, aw, lda, bz, b, ldb, kc, nq, last); break;
    case 2: tile(fused, 2, nv, c, ldc, aw, lda, bz, b, ldb, kc, nq, last); break;
    case 1: tile(fused, 1, nv, c, ldc, aw, lda, bz, b, ldb, kc, nq, last); break;
    default: break;
  }
}

static void tile_any(const int fused, int mr, int nv, float *c, int ldc, const uint32_t *aw, int lda,
                     const uint32_t *bz, const float *b, int ldb, int kc, int nq, pw_vm last) {
  switch (nv) {
    case 4: tile_nv(fused, mr, 4, c, ldc, aw, lda, bz, b, ldb, kc, nq, last); break;
    case 3: tile_nv(fused, mr, 3, c, ldc, aw, lda, bz, b, ldb, kc, nq, last); break;
    case 2: tile_nv(fused, mr, 2, c, ldc, aw, lda, bz, b, ldb, kc, nq, last); break;
    case 1: tile_nv(fused, mr, 1, c, ldc, aw, lda, bz, b, ldb, kc, nq, last); break;
    default: break;
  }
}

void pcnn_gemm_acc__avx512bf16(float *c, const float *a, const float *b, int m, int n, int k, int lda,
                               int ldb, int ldc) {
  /* c (m, ldc) +=; a (m, lda); b (k, ldb) */
  uint16_t abuf[GA_MB * GA_KC] __attribute__((aligned(64))); /* a rows of a chunk, bf16 */
  uint32_t bz[GA_KC / 2 * 64] __attribute__((aligned(64)));  /* b panel, pair words */
  if (m <= 0 || n <= 0) return;
  for (int k0 = 0; k0 < k; k0 += GA_KC) {
    const int kc = k - k0 < GA_KC ? k - k0 : GA_KC, nq = (kc + 1) / 2, kcp = pw_round_up(kc, 32);
    for (int i0 = 0; i0 < m; i0 += GA_MB) {
      const int mb = m - i0 < GA_MB ? m - i0 : GA_MB;
      for (int i = 0; i < mb; i++) pw_bf_row(abuf + (size_t)i * kcp, a + (size_t)(i0 + i) * lda + k0, kc, kcp);
      const uint32_t *aw = (const uint32_t *)abuf;
      for (int j = 0; j < n; j += 64) {
        const int nc = n - j < 64 ? n - j : 64, nv = (nc + 15) / 16;
        const pw_vm last = pw_mask_range(0, nc % 16 ? nc % 16 : 16);
        const float *bj = b + (size_t)k0 * ldb + j;
        if (mb <= PW_MR) {
          tile_any(1, mb, nv, c + (size_t)i0 * ldc + j, ldc, aw, kcp / 2, NULL, bj, ldb, kc, nq, last);
          continue;
        }
        for (int q = 0; q < nq; q++) {
          const float *r0 = bj + (size_t)(2 * q) * ldb, *r1 = 2 * q + 1 < kc ? r0 + ldb : NULL;
          for (int v = 0; v < 64; v += 16) {
            const pw_vm msk = pw_mask_range(0, nc - v);
            _mm512_storeu_si512(bz + (size_t)q * 64 + v,
                                pw_bf_interleave(r0 + v, msk, r1 ? r1 + v : NULL, msk));
          }
        }
        for (int i = 0; i < mb; i += PW_MR)
          tile_any(0, mb - i < PW_MR ? mb - i : PW_MR, nv, c + (size_t)(i0 + i) * ldc + j, ldc,
                   aw + (size_t)i * (kcp / 2), kcp / 2, bz, NULL, 0, kc, nq, last);
      }
    }
  }
}
