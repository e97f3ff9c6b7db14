/* pw_gemm.h: the register-tiled multiply-accumulate shared by the fused
 * masked 1x1 conv + PReLU kernels, written on the pw_* vector operations of
 * pw_simd__avx512.h or pw_simd__avx2.h (include one of them first).
 *
 * A register tile is acc[r][v], r < mr rows (pixels, or input channels for
 * the weight gradient), v < nv vectors of PW_VL columns. mr, nv and the
 * vector range [v0, v1) must be compile-time constants after inlining, so
 * the tile lives in registers: callers switch on the runtime values and call
 * with literals (pw_mac_from, pw_mac_to do it for the range).
 *
 * The PixelCNN mask of a 1x1 (k = 1, centre tap only): input channel ci
 * reaches output channels [co_begin(ci), cout), and co_begin is constant on
 * each input colour group, so the channels split into at most 3 segments. */
#ifndef PW_GEMM_H
#define PW_GEMM_H
#include <stddef.h>

#include "pcnn_kernels.h"

/* Stack budgets, in floats. Packed weights (with the padded bias and slope)
 * must fit PW_PACK_MAX (256 KiB: e.g. 256 -> 240 channels); larger layers go
 * to the reference kernel. Each thread's dpre block is PW_DBUF (64 KiB). */
#define PW_PACK_MAX 65536
#define PW_DBUF 16384
/* outputs above this many bytes are streamed (non-temporal stores) */
#define PW_NT_BYTES (4u << 20)

/* input channels [c0, c1) reach output channels [co0, cout) */
typedef struct {
  int c0, c1, co0;
} pw_seg_t;

/* the segments of a masked 1x1; returns how many (1..3), empty ones dropped */
static inline int pw_segments(pw_seg_t seg[3], const pcnn_conv_t *c) {
  int n = 0;
  for (int g = 0; g < c->groups; g++) {
    const int c0 = pcnn_group_begin(g, c->cin, c->groups);
    const int c1 = pcnn_group_begin(g + 1, c->cin, c->groups);
    const int co0 = pcnn_mask_co_begin(c, 0, 0, c0);
    if (c1 > c0 && co0 < c->cout) seg[n++] = (pw_seg_t){c0, c1, co0};
  }
  return n;
}

/* first kept output channel of input channel ci */
static inline int pw_co_begin(const pw_seg_t *seg, int nseg, int ci, int cout) {
  for (int s = 0; s < nseg; s++)
    if (ci >= seg[s].c0 && ci < seg[s].c1) return seg[s].co0;
  return cout;
}

/* number of input channels reaching output channel co: [0, ci_end) */
static inline int pw_ci_end(const pw_seg_t *seg, int nseg, int co) {
  int e = 0;
  for (int s = 0; s < nseg; s++)
    if (seg[s].co0 <= co) e = seg[s].c1;
  return e;
}

static inline int pw_round_up(int x, int m) { return (x + m - 1) / m * m; }

/* Software prefetch into L2 of [p, p + n floats), for rows (pixels) a tile
 * will read PW_PF_ROWS rows ahead. A tile reads PW_MR short rows at once,
 * which the hardware prefetchers follow poorly from memory. Measured A/B at
 * N = 32 (medians of 3 processes): the plain 1x1 bwd_data 64->128 5.36 ->
 * 4.35 ms on one core, 2.18 -> 1.99 ms on two; the fused 128->64 5.86 ->
 * 5.24 and 2.75 -> 2.46 ms; bwd_weights 2-5%. The forward showed no
 * consistent gain and does not prefetch. Callers keep the range inside the
 * array (a prefetch would not fault, but the pointer would be UB). */
#define PW_PF_ROWS 96
static inline void pw_prefetch_l2(const float *p, size_t n) {
  const char *c = (const char *)p;
  for (size_t b = 0; b < n * sizeof(float); b += 64) __builtin_prefetch(c + b, 0, 2);
}

/* v <= left < PW_VL lanes of a row tail: full vector when left >= PW_VL */
static inline pw_vf pw_load_n(const float *p, int left) {
  return left >= PW_VL ? pw_load(p) : pw_loadm(pw_mask_range(0, left), p);
}
static inline void pw_store_n(float *p, int left, pw_vf v) {
  if (left >= PW_VL)
    pw_store(p, v);
  else
    pw_storem(p, pw_mask_range(0, left), v);
}

/* ---- the partials of the reductions over pixels (PW_PAR_ITEMS, pw_simd.h) ---- */
/* at most this many floats of partials per call (16 MiB) */
#define PW_PART_MAX (1u << 22)

/* pixel chunks for a reduction with `units` items per chunk, over `span`
 * pieces of pixels (a chunk holds at least one), a partial of ldp floats per
 * chunk: enough for PW_PAR_ITEMS items, within PW_PART_MAX; 1 means no
 * partials. A function of the shape only, never of the thread count. */
static inline int pw_chunks(long units, long span, size_t ldp) {
  long k = (PW_PAR_ITEMS + units - 1) / units;
  if (k > span) k = span;
  if ((size_t)k * ldp > PW_PART_MAX) k = (long)(PW_PART_MAX / ldp);
  return k < 1 ? 1 : (int)k;
}

/* floats of the block pw_add_partials sums partial by partial (2 KiB) */
#define PW_ADD_BLK 512

/* For the nr rows (stride ld) of w floats at dst and part:
 *   dst[e] += (part[e] + part[ldp + e] + ... + part[(nk - 1) ldp + e]),
 * the partials added in order (the same bits however the rows are grouped).
 * Blocks of up to PW_ADD_BLK floats (whole rows, or pieces of a long row) go
 * partial by partial through a stack sum, so each partial's rows stream in
 * and no add waits on the one before. */
static inline void pw_add_partials(float *dst, const float *part, size_t ldp, int nk, int nr, int w,
                                   size_t ld) {
  float acc[PW_ADD_BLK] __attribute__((aligned(64)));
  for (int c0 = 0; c0 < w; c0 += PW_ADD_BLK) {
    const int cw = w - c0 < PW_ADD_BLK ? w - c0 : PW_ADD_BLK, cwv = pw_round_up(cw, PW_VL);
    const int g = PW_ADD_BLK / cwv; /* rows per block */
    for (int r0 = 0; r0 < nr; r0 += g) {
      const int gr = nr - r0 < g ? nr - r0 : g;
      for (int k = 0; k < nk; k++)
        for (int r = 0; r < gr; r++) {
          const float *q = part + (size_t)k * ldp + (size_t)(r0 + r) * ld + c0;
          float *a = acc + (size_t)r * cwv;
          for (int i = 0; i < cw; i += PW_VL) {
            const pw_vf v = pw_load_n(q + i, cw - i);
            pw_store(a + i, k ? pw_add(pw_load(a + i), v) : v);
          }
        }
      for (int r = 0; r < gr; r++) {
        float *d = dst + (size_t)(r0 + r) * ld + c0;
        const float *a = acc + (size_t)r * cwv;
        for (int i = 0; i < cw; i += PW_VL)
          pw_store_n(d + i, cw - i, pw_add(pw_load_n(d + i, cw - i), pw_load(a + i)));
      }
    }
  }
}

/* The combine of a 1x1 weight gradient's nk partials (each dw [cin][cout],
 * then db and dalpha, ldd floats each; ldp floats apart) into dw, db and
 * dalpha, as independent work items: runs of up to g[s] dw rows of segment
 * s (its kept columns, about PW_ADD_BLK floats), then one item for db and
 * dalpha. The FP32 and the bf16 conv1x1_prelu_bwd_weights both run it. */
typedef struct {
  int cin, cout, ldd, nseg;
  pw_seg_t seg[3];
  size_t ldp;
  int g[3], n; /* dw rows per item of each segment; the items */
} pw_comb_t;

static inline void pw_comb_plan(pw_comb_t *cb, const pw_seg_t *seg, int nseg, int cin, int cout, int ldd,
                                size_t ldp) {
  cb->cin = cin, cb->cout = cout, cb->ldd = ldd, cb->nseg = nseg, cb->ldp = ldp;
  cb->n = 1;
  for (int q = 0; q < nseg; q++) {
    const int w = pw_round_up(cout - seg[q].co0, PW_VL);
    cb->seg[q] = seg[q];
    cb->g[q] = PW_ADD_BLK / w > 1 ? PW_ADD_BLK / w : 1;
    cb->n += (seg[q].c1 - seg[q].c0 + cb->g[q] - 1) / cb->g[q];
  }
}

/* item it: dw, db, dalpha += the nk partials at part in chunk order (act 0:
 * no dalpha) */
static inline void pw_comb_item(const pw_comb_t *cb, float *dw, float *db, float *dalpha, const float *part,
                                int nk, int it, int act) {
  const int cout = cb->cout;
  int q = 0, i = it; /* item i of segment q */
  for (; q < cb->nseg; q++) {
    const int n = (cb->seg[q].c1 - cb->seg[q].c0 + cb->g[q] - 1) / cb->g[q];
    if (i < n) break;
    i -= n;
  }
  if (q < cb->nseg) {
    const int r0 = cb->seg[q].c0 + i * cb->g[q];
    const int nr = cb->seg[q].c1 - r0 < cb->g[q] ? cb->seg[q].c1 - r0 : cb->g[q];
    const size_t o = (size_t)r0 * cout + cb->seg[q].co0;
    pw_add_partials(dw + o, part + o, cb->ldp, nk, nr, cout - cb->seg[q].co0, cout);
  } else {
    const float *pdb = part + (size_t)cb->cin * cout;
    pw_add_partials(db, pdb, cb->ldp, nk, 1, cout, 0);
    if (act) pw_add_partials(dalpha, pdb + cb->ldd, cb->ldp, nk, 1, cout, 0);
  }
}

/* acc[r][v] += sum_{k < kn} a[r*ar + k*ak] * b[k*ldb + v*PW_VL], v in [v0, v1):
 * a row of b is loaded once per k and reused by the mr rows (broadcast a) */
static PW_INLINE void pw_mac(pw_vf acc[PW_MR][PW_NV], const int mr, const int v0, const int v1,
                             const float *a, ptrdiff_t ar, ptrdiff_t ak, const float *b,
                             ptrdiff_t ldb, int kn) {
  for (int k = 0; k < kn; k++) {
    pw_vf bv[PW_NV];
#pragma GCC unroll 8
    for (int v = v0; v < v1; v++) bv[v] = pw_load(b + v * PW_VL);
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++) {
      const pw_vf av = pw_bcast(a + r * ar);
#pragma GCC unroll 8
      for (int v = v0; v < v1; v++) acc[r][v] = pw_fma(av, bv[v], acc[r][v]);
    }
    a += ak;
    b += ldb;
  }
}

/* pw_mac over vectors [v0, nv): the vectors below v0 are all masked out */
static PW_INLINE void pw_mac_from(pw_vf acc[PW_MR][PW_NV], const int mr, const int nv, int v0,
                                  const float *a, ptrdiff_t ar, ptrdiff_t ak, const float *b,
                                  ptrdiff_t ldb, int kn) {
  switch (v0) {
    case 0: pw_mac(acc, mr, 0, nv, a, ar, ak, b, ldb, kn); break;
    case 1: pw_mac(acc, mr, 1, nv, a, ar, ak, b, ldb, kn); break;
#if PW_NV > 2
    case 2: pw_mac(acc, mr, 2, nv, a, ar, ak, b, ldb, kn); break;
    case 3: pw_mac(acc, mr, 3, nv, a, ar, ak, b, ldb, kn); break;
#endif
    default: break;
  }
}

/* pw_mac over vectors [0, min(v1, nv)): the vectors from v1 on are masked out */
static PW_INLINE void pw_mac_to(pw_vf acc[PW_MR][PW_NV], const int mr, const int nv, int v1,
                                const float *a, ptrdiff_t ar, ptrdiff_t ak, const float *b,
                                ptrdiff_t ldb, int kn) {
  if (v1 >= nv) {
    pw_mac(acc, mr, 0, nv, a, ar, ak, b, ldb, kn);
    return;
  }
  switch (v1) {
    case 1: pw_mac(acc, mr, 0, 1, a, ar, ak, b, ldb, kn); break;
#if PW_NV > 2
    case 2: pw_mac(acc, mr, 0, 2, a, ar, ak, b, ldb, kn); break;
    case 3: pw_mac(acc, mr, 0, 3, a, ar, ak, b, ldb, kn); break;
#endif
    default: break;
  }
}
#endif
