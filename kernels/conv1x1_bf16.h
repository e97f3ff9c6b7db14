/* conv1x1_bf16.h: the k == 1 path of the bf16 plain convs (conv_fwd,
 * conv_prelu_fwd, conv_bwd_data __avx512bf16.c), a pixel-block GEMM on
 * VDPBF16PS beside engine 1 of conv_bf16.h (whose helpers it uses). Include
 * only from *__avx512bf16.c files.
 *
 * A 1x1 has no neighbours: out (P, nc) = A (P, K) x B (K, nc), reducing over
 * K in pairs. Forward: A = in (K = cin), B = w paired over cin, nc = cout;
 * data gradient: A = dout (K = cout), B = w^T paired over cout, nc = cin,
 * accumulating into din. B is packed once per call as [K/2][ldb] pairs (ldb
 * = nc rounded up to 16; zeros at masked entries, never read, the odd K's
 * partner and the padding). The pixels run as blocks of C1_PB = 96 (the
 * work items, fixed by the shape): a thread converts its block's A rows to
 * pairs in its slice of the scratch (one VCVTNE2PS2BF16 per 32 floats), then
 * runs 6-pixel x 4-vector register tiles (24 accumulators from the bias, or
 * from din) over column blocks of 64; the epilogue adds the residual and
 * writes pre and, through the PReLU, act.
 * What it changes from engine 1's k == 1 rows (cb_direct_1x1), which read
 * the residual from memory after each tile's products (conv3's training
 * forward at N = 32): each tile prefetches into L1 its own and the next
 * tile's residual lines (and, accumulating, the next tile's din), and tensors
 * beyond L2 have the next block's A rows and din prefetched into L2 a share
 * per tile instead of a burst at the start of a row; no ring or tap list.
 * Sums in the same order (bias or din, the pairs in order, then the
 * residual): one writer per output, the same bits
 * at any thread count. */
#ifndef CONV1X1_BF16_H
#define CONV1X1_BF16_H
#include "conv_bf16.h"

#define C1_PB 96 /* pixels per block: the work item */

typedef struct {
  float *out;          /* (P, nc): overwritten (bias) or accumulated (bias NULL) */
  const float *bias;   /* (nc) or NULL */
  const float *res;    /* (P, nc) or NULL: added after the products */
  float *act;          /* (P, nc) or NULL: prelu(out, alpha) */
  const float *alpha;  /* (nc) */
  const float *src;    /* A (P, ksrc) */
  const cb_pair *b;    /* [kp][ldb] */
  long p;              /* pixels */
  int ksrc, kp, nc, ldb;
  int stream; /* bits (cb_stream): 1 out, 2 act by non-temporal stores */
  int pf;     /* prefetch the next block (tensors beyond L2) */
} c1_gemm_t;

/* one register tile: pixels p0 + [0, MR) of the block's pairs a (kp per
 * pixel), columns cb + [0, 16 NV) */
static PW_INLINE void c1_tile(const int MR, const int NV, const c1_gemm_t *g, const cb_pair *a, size_t p0,
                              int cb, const unsigned *mb) {
  const int nc = g->nc, kp = g->kp;
  const size_t off = p0 * nc + cb;
  float *op = g->out + off;
  __m512 acc[CB_PX][CB_NV];
  __mmask16 mt[CB_NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) mt[v] = (__mmask16)mb[v];
  if (g->bias) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      const __m512 bv = _mm512_maskz_loadu_ps(mt[v], g->bias + cb + v * 16);
#pragma GCC unroll 6
      for (int j = 0; j < MR; j++) acc[j][v] = bv;
    }
  } else {
#pragma GCC unroll 6
    for (int j = 0; j < MR; j++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[j][v] = _mm512_maskz_loadu_ps(mt[v], op + (size_t)j * nc + v * 16);
    /* the next tile's accumulators (the next CB_PX pixels, same columns) */
    const long nx = g->p - (long)p0 - MR < CB_PX ? g->p - (long)p0 - MR : CB_PX;
    for (long j = 0; j < nx; j++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) __builtin_prefetch(op + (size_t)(MR + j) * nc + v * 16, 1, 3);
  }
  /* the residual is added after the products: this tile's and the next
   * tile's lines (the next CB_PX pixels, same columns) are fetched into L1
   * while they run. From memory (N = 32) a prefetch into L2 a block ahead,
   * spread or not, did not help; this did (conv3's 64 -> 128 at N = 32, one
   * thread: 4.4 -> 3.3 ms) */
  if (g->res) {
    const long nx = g->p - (long)p0 - MR < CB_PX ? g->p - (long)p0 - MR : CB_PX;
#pragma GCC unroll 6
    for (int j = 0; j < MR; j++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) __builtin_prefetch(g->res + off + (size_t)j * nc + v * 16, 0, 3);
    for (long j = 0; j < nx; j++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) __builtin_prefetch(g->res + off + (size_t)(MR + j) * nc + v * 16, 0, 3);
  }
  const cb_pair *bp = g->b + cb;
  for (int q = 0; q < kp; q++, bp += g->ldb) {
    __m512i wv[CB_NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) wv[v] = cb_load(bp + v * 16);
#pragma GCC unroll 6
    for (int j = 0; j < MR; j++) {
      const __m512i bc = cb_bcast(a + (size_t)j * kp + q);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[j][v] = cb_dp(acc[j][v], bc, wv[v]);
    }
  }
  if (g->res) {
#pragma GCC unroll 6
    for (int j = 0; j < MR; j++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++)
        acc[j][v] = _mm512_add_ps(acc[j][v], _mm512_maskz_loadu_ps(mt[v], g->res + off + (size_t)j * nc + v * 16));
  }
#pragma GCC unroll 6
  for (int j = 0; j < MR; j++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      if (g->stream & 1)
        _mm512_stream_ps(op + (size_t)j * nc + v * 16, acc[j][v]);
      else
        _mm512_mask_storeu_ps(op + (size_t)j * nc + v * 16, mt[v], acc[j][v]);
    }
  if (g->act) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      const __m512 al = _mm512_maskz_loadu_ps(mt[v], g->alpha + cb + v * 16);
#pragma GCC unroll 6
      for (int j = 0; j < MR; j++) {
        const __m512 y = pw_prelu_sel(acc[j][v], acc[j][v], al);
        if (g->stream & 2)
          _mm512_stream_ps(g->act + off + (size_t)j * nc + v * 16, y);
        else
          _mm512_mask_storeu_ps(g->act + off + (size_t)j * nc + v * 16, mt[v], y);
      }
    }
  }
}

#define C1_NV_CASES(MRc)                                   \
  switch (nv) {                                            \
    case 1: c1_tile(MRc, 1, g, a, p0, cb, mb); break;     \
    case 2: c1_tile(MRc, 2, g, a, p0, cb, mb); break;     \
    case 3: c1_tile(MRc, 3, g, a, p0, cb, mb); break;     \
    default: c1_tile(MRc, 4, g, a, p0, cb, mb); break;    \
  }

static inline void c1_tile_any(const c1_gemm_t *g, const cb_pair *a, size_t p0, int cb, const unsigned *mb,
                               int mr, int nv) {
  switch (mr) {
    case 1: C1_NV_CASES(1) break;
    case 2: C1_NV_CASES(2) break;
    case 3: C1_NV_CASES(3) break;
    case 4: C1_NV_CASES(4) break;
    case 5: C1_NV_CASES(5) break;
    default: C1_NV_CASES(6) break;
  }
}

/* prefetch share i of n of the floats [0, len) at x into L2 */
static inline void c1_prefetch_share(const float *x, size_t len, int i, int n) {
  const size_t lines = (len * sizeof(float) + 63) / 64, l0 = lines * i / n, l1 = lines * (i + 1) / n;
  const char *c = (const char *)x;
  for (size_t l = l0; l < l1; l++) __builtin_prefetch(c + l * 64, 0, 2);
}

/* the blocks of C1_PB pixels statically over nth threads; abuf: nth slices
 * of C1_PB kp pairs */
static inline void c1_run(const c1_gemm_t *g, cb_pair *abuf, int nth) {
  const long nblk = (g->p + C1_PB - 1) / C1_PB;
  const int cblk = CB_NV * 16, ncb = (g->nc + cblk - 1) / cblk;
  (void)nth; /* unused where OpenMP pragmas are not compiled (the fuzz build) */
#pragma omp parallel num_threads(nth)
  {
    cb_pair *a = abuf + (size_t)omp_get_thread_num() * C1_PB * g->kp;
#pragma omp for schedule(static) nowait
    for (long blk = 0; blk < nblk; blk++) {
      const long p0 = blk * C1_PB;
      const int pn = (int)(g->p - p0 < C1_PB ? g->p - p0 : C1_PB);
      cb_cvt_pixels(a, g->src + (size_t)p0 * g->ksrc, pn, g->ksrc);
      /* the next block: its A rows and accumulators, a share per tile */
      const long q0 = p0 + pn;
      const size_t qn = g->pf && q0 < g->p ? (size_t)(g->p - q0 < C1_PB ? g->p - q0 : C1_PB) : 0;
      const int ntile = ncb * ((pn + CB_PX - 1) / CB_PX);
      int ti = 0;
      for (int cb = 0; cb < g->nc; cb += cblk) {
        const int rem = g->nc - cb, nv = rem >= cblk ? CB_NV : (rem + 15) / 16;
        unsigned mb[CB_NV];
        for (int v = 0; v < CB_NV; v++) mb[v] = pw_lane_bits(0, rem - v * 16);
        for (int i = 0; i < pn; i += CB_PX, ti++) {
          if (qn) {
            c1_prefetch_share(g->src + (size_t)q0 * g->ksrc, qn * g->ksrc, ti, ntile);
            if (!g->bias) c1_prefetch_share(g->out + (size_t)q0 * g->nc, qn * g->nc, ti, ntile);
          }
          c1_tile_any(g, a + (size_t)i * g->kp, (size_t)(p0 + i), cb, mb, pn - i < CB_PX ? pn - i : CB_PX, nv);
        }
      }
    }
    if (g->stream) _mm_sfence();
  }
}

/* a k = 1 call's scratch: the packed weights bp (kp pair rows of ldb), then
 * c1_run's nth slices of C1_PB pixels' pairs (abuf); 0 if it cannot be had */
static inline int c1_scratch(int kp, int ldb, int nth, cb_pair **bp, cb_pair **abuf) {
  const size_t pb = cb_bytes((size_t)kp * ldb, 4), ab = cb_bytes((size_t)C1_PB * kp, 4);
  char *at = (char *)pcnn_scratch((pb + nth * ab) / 4);
  if (!at) return 0;
  *bp = (cb_pair *)cb_take(&at, (size_t)kp * ldb, 4);
  *abuf = (cb_pair *)at;
  return 1;
}

/* pre / out (P, cout) = in (P, cin) x w + b (+ e: res, act); k == 1, not the
 * narrow head (cb_dot_fits). 0 if the scratch cannot be had (nothing
 * written). */
static inline int c1_conv_fwd(float *out, const float *in, const float *w, const float *b, const cb_epi_t *e,
                              const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, kp = (cin + 1) / 2, ldb = pw_round_up(cout, 16);
  const int nth = omp_get_max_threads();
  cb_pair *bp, *abuf;
  if (!c1_scratch(kp, ldb, nth, &bp, &abuf)) return 0;
  /* pair row j: input channels 2j, 2j + 1, each zero below its first kept output */
  for (int j = 0; j < kp; j++) {
    const int i0 = 2 * j, i1 = 2 * j + 1;
    const int lo0 = pcnn_mask_co_begin(c, 0, 0, i0), lo1 = i1 < cin ? pcnn_mask_co_begin(c, 0, 0, i1) : cout;
    cb_cvt_zip(bp + (size_t)j * ldb, w + (size_t)i0 * cout, lo0, i1 < cin ? w + (size_t)i1 * cout : NULL, lo1,
               cout, ldb);
  }
  const long p = (long)c->n * c->h * c->w;
  const c1_gemm_t g = {out, b, e ? e->res : NULL, e ? e->act : NULL, e ? e->alpha : NULL, in, bp, p,
                       cin, kp, cout, ldb, cb_stream(out, e, c),
                       (size_t)p * (cin + cout) * sizeof(float) > CB_PF_BYTES};
  c1_run(&g, abuf, nth);
  return 1;
}

/* 16 x 16 32-bit words transposed in registers: r[i] word j -> r[j] word i */
static inline void c1_transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++) {
      t[8 * i + j] = _mm512_shuffle_i32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
      t[8 * i + 4 + j] = _mm512_shuffle_i32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
    }
  for (int j = 0; j < 8; j++) {
    r[j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0xdd);
  }
}

/* The data gradient's weights of a masked 1x1, w [cin][cout], transposed and
 * paired over cout: bp[q][ci] (q < kp = ceil(cout / 2), ci < ldb, ldb a
 * multiple of 16) = the pair (w[ci][2q], w[ci][2q + 1]) rounded to bf16,
 * each zero if masked (never read: below pcnn_mask_co_begin) or past cout,
 * zero for ci >= cin. 16 rows of w are converted (each 32 floats: 16 pairs)
 * and transposed in registers, replacing a scalar scatter of every pair.
 * Returns 0 if every entry is masked. */
static inline int c1_pack_wt(cb_pair *bp, const float *w, const pcnn_conv_t *c, int kp, int ldb) {
  const int cin = c->cin, cout = c->cout;
  int any = 0;
  for (int ci0 = 0; ci0 < ldb; ci0 += 16) {
    int lo[16];
    for (int i = 0; i < 16; i++) {
      lo[i] = ci0 + i < cin ? pcnn_mask_co_begin(c, 0, 0, ci0 + i) : cout;
      any |= lo[i] < cout;
    }
    for (int q0 = 0; q0 < kp; q0 += 16) {
      const int co = 2 * q0;
      __m512i r[16];
      for (int i = 0; i < 16; i++) {
        if (lo[i] >= cout) {
          r[i] = _mm512_setzero_si512();
          continue;
        }
        const float *wr = w + (size_t)(ci0 + i) * cout + co;
        const __m512 a = _mm512_maskz_loadu_ps(pw_mask_range(lo[i] - co, cout - co), wr);
        const __m512 b = _mm512_maskz_loadu_ps(pw_mask_range(lo[i] - co - 16, cout - co - 16), wr + 16);
        r[i] = (__m512i)_mm512_cvtne2ps_pbh(b, a);
      }
      c1_transpose16(r);
      for (int j = 0; j < 16 && q0 + j < kp; j++) _mm512_storeu_si512((void *)(bp + (size_t)(q0 + j) * ldb + ci0), r[j]);
    }
  }
  return any;
}

/* din (P, cin) += dout (P, cout) x w^T; k == 1, not the narrow head. 0 if
 * the scratch cannot be had (nothing written). */
static inline int c1_conv_bwd_data(float *din, const float *dout, const float *w, const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, kp = (cout + 1) / 2, ldb = pw_round_up(cin, 16);
  const int nth = omp_get_max_threads();
  cb_pair *bp, *abuf;
  if (!c1_scratch(kp, ldb, nth, &bp, &abuf)) return 0;
  if (!c1_pack_wt(bp, w, c, kp, ldb)) { /* every tap masked (1x1 A, one group): din unchanged (or zeroed) */
    pcnn_conv_zero_din(din, c);
    return 1;
  }
  const long p = (long)c->n * c->h * c->w;
  /* OVERWRITE: the sums start from a zero bias instead of din */
  const int set = (c->flags & PCNN_CONV_OVERWRITE) && cin <= PCNN_ZEROS;
  if (!set) pcnn_conv_zero_din(din, c);
  const c1_gemm_t g = {din, set ? pcnn_zeros : NULL, NULL, NULL, NULL, dout, bp, p, cout, kp, cin, ldb, 0,
                       (size_t)p * (cin + cout) * sizeof(float) > CB_PF_BYTES};
  c1_run(&g, abuf, nth);
  return 1;
}
#endif
