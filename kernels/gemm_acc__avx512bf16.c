/* gemm_acc__avx512bf16.c: pcnn_gemm_acc__avx512bf16, the small accumulating
 * GEMM of the caching sampler in bf16 precision (pcnn_kernels.h,
 * "precision"; the twin of pcnn_gemm_acc__ref_bf16):
 *   c[i][j] += sum_p bf(a[i][p]) b[p][j]   (a, c row-major floats; b packed)
 * on VDPBF16PS, reducing over pairs of p. b comes packed as bf16 pair words
 * (pcnn_gemm_pack_b: word [q][j] = b[2q][j] | b[2q+1][j] << 16), converted
 * once by the caller for all the calls on the same weights, so the kernel
 * converts only a. The reduction runs in chunks of up to 512 p; per chunk,
 * groups of up to 96 rows of a are converted to bf16 rows in a stack buffer
 * (a 32-bit broadcast gives the pair a[i][2q], a[i][2q+1], zero-padded), and
 * each register tile (6 rows x 4 vectors of 16 columns) loads one 64-column
 * row of pair words per q and multiplies it by the broadcast pairs of its
 * rows. The tile of c is loaded into the accumulators and stored back once
 * per chunk (started from the epilogue's bias in the first chunk; the
 * residual add and the PReLU into out applied in registers at the last
 * chunk's store, gemm_epi.h); the last vector uses a lane mask, so c is
 * written and b read only in columns [0, n). With k odd, the high halves of the last pair word
 * (row k of the packed block, which belongs to the caller) are cleared
 * before the multiply.
 * pcnn_gemm_acc_a16__avx512bf16, its twin on a given as bf16 bits, reads
 * the pairs of a in place (lda even) instead of converting them: the
 * caching sampler's 3x3 layers read each activation at 5 kept taps, so it
 * keeps a bf16 copy of their input windows, which the writing layer's call
 * stores from its registers (epilogue out16, one VCVTNE2PS2BF16 per 32
 * columns; gemm_epi.h) and every reader takes as is.
 * Work split: none, one thread (the caching sampler calls it from each of
 * its threads on that thread's images); each c element sums its chunks in
 * order, whatever m and its row tile.
 * Cost: a is converted once per call (m x k conversions, one per n
 * products); b not at all.
 * Measured (make bench, AMD EPYC Zen 4, quiet, 5 alternating rounds):
 * 32 x 128 x 128 (the sampler's 1x1 step at batch 32) 5.05 us against the
 * FP32 AVX-512 kernel's 9.24 us: 1.83x, 208 GFLOP/s, 89% of the 234 GFLOP/s
 * VDPBF16PS peak on one core.
 * History: this kernel converted b on every call (k x n conversions, one
 * per m products); VCVTNE2PS2BF16 does not overlap VDPBF16PS on Zen 4
 * (measured: 12 VDPBF16PS 2.2 ns, with one conversion 3.8 ns), which held it
 * to 1.18-1.53x FP32 at m = 8-32 and the bf16 caching sampler to 1.11x its
 * FP32 twin at 2 threads. */
#include "pcnn_kernels.h"
#include "pw_simd__avx512.h"
#include "pw_bf16.h"
#define GE_OUT16 /* ge_store writes epi->out16 too (VCVTNE2PS2BF16) */
#include "gemm_epi.h"

#define GA_KC 512 /* p per chunk (even: chunks start on a pair) */
#define GA_MB 96  /* rows of a per converted group */

/* one register tile: rows [0, mr) of c (stride ldc), columns [0, 16 nv)
 * with the last vector masked by last; nq pairs of the bf16 rows of a (aw,
 * row stride lda words) times the pair words of b (stride ldb words); odd:
 * the last pair's high halves are cleared */
static PW_INLINE void tile(const int mr, const int nv, float *c, int ldc, const uint32_t *aw, int lda,
                           const uint32_t *b, int ldb, int nq, int odd, pw_vm last, const float *bias,
                           const pcnn_gemm_epi_t *fin) {
  __m512 acc[PW_MR][PW_NV];
  ge_load(acc, mr, nv, c, ldc, bias, last);
  const __m512i keep = _mm512_set1_epi32(odd ? 0xffff : -1);
  for (int q = 0; q < nq; q++) {
    const uint32_t *bq = b + (size_t)q * ldb;
    __m512i bv[PW_NV];
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
      bv[v] = v == nv - 1 ? _mm512_maskz_loadu_epi32(last, bq + v * 16) : _mm512_loadu_si512(bq + v * 16);
    if (q == nq - 1)
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++) bv[v] = _mm512_and_si512(bv[v], keep);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32((int)aw[(size_t)r * lda + q]);
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, (__m512bh)bv[v]);
    }
  }
  ge_store(acc, mr, nv, c, ldc, fin, last);
}

static PW_INLINE void tile_nv(int mr, const int nv, float *c, int ldc, const uint32_t *aw, int lda,
                              const uint32_t *b, int ldb, int nq, int odd, pw_vm last, const float *bias,
                              const pcnn_gemm_epi_t *fin) {
  switch (mr) {
    case 6: tile(6, nv, c, ldc, aw, lda, b, ldb, nq, odd, last, bias, fin); break;
    case 5: tile(5, nv, c, ldc, aw, lda, b, ldb, nq, odd, last, bias, fin); break;
    case 4: tile(4, nv, c, ldc, aw, lda, b, ldb, nq, odd, last, bias, fin); break;
    case 3: tile(3, nv, c, ldc, aw, lda, b, ldb, nq, odd, last, bias, fin); break;
    case 2: tile(2, nv, c, ldc, aw, lda, b, ldb, nq, odd, last, bias, fin); break;
    case 1: tile(1, nv, c, ldc, aw, lda, b, ldb, nq, odd, last, bias, fin); break;
    default: break;
  }
}

static void tile_any(int mr, int nv, float *c, int ldc, const uint32_t *aw, int lda, const uint32_t *b,
                     int ldb, int nq, int odd, pw_vm last, const float *bias, const pcnn_gemm_epi_t *fin) {
  switch (nv) {
    case 4: tile_nv(mr, 4, c, ldc, aw, lda, b, ldb, nq, odd, last, bias, fin); break;
    case 3: tile_nv(mr, 3, c, ldc, aw, lda, b, ldb, nq, odd, last, bias, fin); break;
    case 2: tile_nv(mr, 2, c, ldc, aw, lda, b, ldb, nq, odd, last, bias, fin); break;
    case 1: tile_nv(mr, 1, c, ldc, aw, lda, b, ldb, nq, odd, last, bias, fin); break;
    default: break;
  }
}

/* a (floats, converted here) or a16 (bf16 bits, read in place: lda even) */
static void gemm(float *c, const float *a, const uint16_t *a16, const void *bv, int m, int n, int k, int lda,
                 int ldb, int ldc, const pcnn_gemm_epi_t *epi) {
  /* c (m, ldc) +=; a (m, lda); b (ceil(k/2), ldb) pair words */
  const uint32_t *b = bv;
  uint16_t abuf[GA_MB * GA_KC] __attribute__((aligned(64))); /* a rows of a chunk, bf16 */
  if (m <= 0 || n <= 0) return;
  /* one pass at least (k = 0: the epilogue alone); the bias starts the
   * first chunk, the rest of the epilogue ends the last */
  for (int k0 = 0; k0 == 0 || k0 < k; k0 += GA_KC) {
    const int kc = k - k0 < GA_KC ? k - k0 : GA_KC, nq = (kc + 1) / 2, kcp = pw_round_up(kc, 32);
    const int first = k0 == 0, final = k0 + GA_KC >= k;
    const uint32_t *bk = b + (size_t)(k0 / 2) * ldb;
    for (int i0 = 0; i0 < m; i0 += GA_MB) {
      const int mb = m - i0 < GA_MB ? m - i0 : GA_MB;
      const uint32_t *aw = (const uint32_t *)abuf;
      int ldw = kcp / 2; /* pair words per row of aw */
      if (a16) {
        aw = (const uint32_t *)(a16 + (size_t)i0 * lda + k0);
        ldw = lda / 2;
      } else {
        for (int i = 0; i < mb; i++) pw_bf_row(abuf + (size_t)i * kcp, a + (size_t)(i0 + i) * lda + k0, kc, kcp);
      }
      for (int j = 0; j < n; j += 64) {
        const int nc = n - j < 64 ? n - j : 64, nv = (nc + 15) / 16;
        const pw_vm last = pw_mask_range(0, nc % 16 ? nc % 16 : 16);
        /* the rows in ceil(mb / 6) tiles of balanced heights (16 rows: 6 5 5,
         * not 6 6 4; 32: 6 6 5 5 5 5, not ... 6 2): a low tile reloads the
         * b row for few products */
        const int nt = (mb + PW_MR - 1) / PW_MR;
        for (int t = 0, i = 0; t < nt; t++) {
          const int mr = (mb - i) / (nt - t) + ((mb - i) % (nt - t) != 0);
          const pcnn_gemm_epi_t e = ge_at(epi, i0 + i, j);
          tile_any(mr, nv, c + (size_t)(i0 + i) * ldc + j, ldc, aw + (size_t)i * ldw, ldw, bk + j, ldb, nq,
                   kc & 1, last, first ? e.bias : NULL, final && epi ? &e : NULL);
          i += mr;
        }
      }
    }
  }
}

void pcnn_gemm_acc__avx512bf16(float *c, const float *a, const void *b, int m, int n, int k, int lda,
                               int ldb, int ldc, const pcnn_gemm_epi_t *epi) {
  gemm(c, a, NULL, b, m, n, k, lda, ldb, ldc, epi);
}

void pcnn_gemm_acc_a16__avx512bf16(float *c, const uint16_t *a, const void *b, int m, int n, int k, int lda,
                                   int ldb, int ldc, const pcnn_gemm_epi_t *epi) {
  gemm(c, NULL, a, b, m, n, k, lda, ldb, ldc, epi);
}
