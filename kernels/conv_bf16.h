/* conv_bf16.h: the engines of the bf16 masked k x k convs (AVX512_BF16:
 * VDPBF16PS, VCVTNE2PS2BF16), shared by conv_fwd__avx512bf16.c,
 * conv_prelu_fwd__avx512bf16.c, conv_bwd_data__avx512bf16.c and
 * conv_bwd_weights__avx512bf16.c. Include only from *__avx512bf16.c files.
 *
 * The precision (pcnn_kernels.h): both operands of every product are rounded
 * to bf16 (round to nearest even, subnormals to zero: VCVTNE2PS2BF16 gives
 * the bits of pcnn_f32_to_bf16 for every float, NaN and subnormals included),
 * the products (exact in fp32) are summed in fp32; bias, residual, PReLU and
 * the bias gradient are fp32. A bf16 kernel differs from the bf16 reference
 * only in the order of its fp32 additions.
 *
 * VDPBF16PS: acc[i] += a[2i] b[2i] + a[2i+1] b[2i+1] (i < 16): the reduction
 * dimension comes in adjacent pairs in both operands, a pair is 32 bits
 * (cb_pair: the lower index in the low half), and a 32-bit broadcast of one
 * operand's pair meets a vector of 16 pairs of the other.
 *
 * Engine 1, direct conv (forward, data gradient): the reduction is over
 * input channels. Each thread converts the input rows its output rows need
 * to pairs of channels, (W, cp) per row, cp = ceil(cin / 2), the odd
 * channel's partner 0, into a tagged ring of r + 1 rows in its slice of the
 * scratch (cb_direct_rows: a row is converted once per thread, in cache);
 * the kept taps are packed once per call as [cp][coutp] pairs (coutp = cout
 * rounded up to 16), zero for the masked centre entries, the odd channel's
 * partner and the padded outputs, which therefore cost nothing in
 * correctness (0 x finite) and let the inner loop run without masks: per
 * channel pair, CB_NV weight vectors and CB_PX broadcasts feed CB_PX x CB_NV
 * VDPBF16PS (6 pixels of a row x 4 vectors: 24 accumulators). Masked taps
 * are not listed (cv_fwd_taps), masked centre entries are read through
 * masked loads only. Few input channels (cv_im2col_fits: the first layer,
 * cin 1 or 3): the row-im2col view of conv_taps.h (each output row's
 * kept-tap inputs as a [W][kc] matrix, one tap), kc paired: 7x7 A, cin 1:
 * 25 kept inputs (the centre's weights zero) = 13 pairs. k == 1: the pixels
 * as rows of CB_ROW1 = 96 (whole blocks). The data gradient is the same
 * engine on dout converted to pairs of output channels and the flipped,
 * transposed kept taps [cp_out][cinp]. Outputs above PW_NT_BYTES are
 * written with non-temporal stores; tensors beyond L2 (CB_PF_BYTES) get the
 * next row prefetched.
 * A 1x1 with at most CB_DOT_MAX = 4 outputs (the Bernoulli head) would use
 * 1 lane of 16: its forward is dot products over cin (cb_conv1x1_dot), its
 * data gradient fp32 FMAs on operands rounded to bf16 (exact products).
 *
 * Engine 2, weight gradient: the reduction is over pixels, so pixels are
 * paired: dout rows are packed as pixel pairs (x, x + 1), each pair
 * [coutp][2] (a zmm: 16 outputs x 2 pixels); the input as two copies of
 * pixel pairs over a row padded by r zero columns each side (pairs starting
 * at even and at odd padded columns), each pair [cin][2], so a tap of any dx
 * finds its pair (in[x + dx], in[x + 1 + dx]) of channel ci as one 32-bit
 * broadcast and the padding needs no edge code. A block is up to 6 kept
 * (tap, ci) rows x 4 output vectors, summed over the pixel pairs of a run
 * of up to CB_WRUN = 16 output rows (whole bands of 4 rows of one image; W
 * odd: the last pair's second pixel is a zero); each thread packs the runs
 * of its items into its own slice (cb_pack_band).
 *
 * Work split, fixed by the shape (never by the thread count): engine 1 and
 * the narrow data gradient: output rows (N x H; k == 1: rows of 96 pixels;
 * the narrow paths: pixels), one writer per output, terms in a fixed order;
 * engine 2: pixel chunks x units with partials added in chunk order
 * (cb_conv_bwd_weights). The same bits at any thread count.
 *
 * Scratch: each kernel file keeps the calling thread's grow-once scratch
 * (kernel_scratch.h) for the packed operands and the per-thread slices; if
 * it cannot be allocated, the kernel runs the bf16 reference. Tap and row
 * lists live there too, so every k is handled in SIMD (no shape limit, no
 * PCNN_SUPPORTS row; pcnn_kernel_falls_back consults the FP32 rows only and
 * answers -1 for avx512bf16, which callers testing == 1 read as "runs in
 * SIMD", true for these kernels). */
#ifndef CONV_BF16_H
#define CONV_BF16_H
#include <immintrin.h>
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pw_simd__avx512.h"
#include "conv_taps.h"
#include "kernel_scratch.h"
#include "pcnn_bf16.h"
#include "pcnn_kernels.h"
#include "pw_gemm.h"

#define CB_PX 6 /* output pixels per engine-1 block */
#define CB_NV 4 /* output vectors per block: 6 x 4 = 24 zmm accumulators */
#define CB_NC 6 /* (tap, ci) rows per engine-2 block */
#define CB_WBAND 4 /* output rows per engine-2 band */
/* inputs above this many bytes (beyond a Zen 4 core's 1 MiB L2) get software
 * prefetches of the next row / band; below, the prefetches only cost */
#define CB_PF_BYTES (1u << 20)

typedef uint32_t cb_pair; /* two bf16, the lower index in the low 16 bits */

static inline __m512 cb_dp(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}
static inline __m512i cb_bcast(const cb_pair *p) { return _mm512_set1_epi32((int)*p); }
static inline __m512i cb_load(const cb_pair *p) { return _mm512_loadu_si512((const void *)p); }

/* the low n bits (n clamped to [0, 32]) */
static inline unsigned cb_bits32(int n) {
  return n <= 0 ? 0u : n >= 32 ? 0xffffffffu : (1u << n) - 1u;
}

/* scratch carving: n elements of size sz from *at, 64-byte aligned */
static inline void *cb_take(char **at, size_t n, size_t sz) {
  void *p = *at;
  *at += (n * sz + 63) / 64 * 64;
  return p;
}
static inline size_t cb_bytes(size_t n, size_t sz) { return (n * sz + 63) / 64 * 64; }

/* dst[0, np) pairs = (a[2j], a[2j + 1]) rounded to bf16, element i of a read
 * only for lo <= i < n (else 0) */
static inline void cb_cvt_row(cb_pair *dst, const float *a, int lo, int n, int np) {
  int i = 0;
  if (lo <= 0) /* whole vectors without masks */
    for (; i + 32 <= n && i / 2 + 16 <= np; i += 32)
      _mm512_storeu_si512((void *)(dst + i / 2),
                          (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(a + i)));
  for (; i < 2 * np; i += 32) {
    const __m512 v0 = _mm512_maskz_loadu_ps(pw_mask_range(lo - i, n - i), a + i);
    const __m512 v1 = _mm512_maskz_loadu_ps(pw_mask_range(lo - i - 16, n - i - 16), a + i + 16);
    const __m512i r = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
    _mm512_mask_storeu_epi32(dst + i / 2, pw_mask_range(0, np - i / 2), r);
  }
}

/* dst[0, np) pairs = (a[j], b[j]) rounded to bf16; a[j] read only for
 * alo <= j < n, b[j] for blo <= j < n; a or b NULL: zeros */
static inline void cb_cvt_zip(cb_pair *dst, const float *a, int alo, const float *b, int blo, int n,
                              int np) {
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                       23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  int j = 0;
  if (a && b && alo <= 0 && blo <= 0) /* whole vectors without masks */
    for (; j + 16 <= n && j + 16 <= np; j += 16)
      _mm512_storeu_si512((void *)(dst + j),
                          _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(b + j),
                                                                                     _mm512_loadu_ps(a + j))));
  for (; j < np; j += 16) {
    const __m512 va = a ? _mm512_maskz_loadu_ps(pw_mask_range(alo - j, n - j), a + j) : _mm512_setzero_ps();
    const __m512 vb = b ? _mm512_maskz_loadu_ps(pw_mask_range(blo - j, n - j), b + j) : _mm512_setzero_ps();
    const __m512i r = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(vb, va));
    _mm512_mask_storeu_epi32(dst + j, pw_mask_range(0, np - j), r);
  }
}

/* ---- engine 1: direct conv on channel pairs ---- */
typedef struct {
  int dy, dx;       /* input pixel = output pixel + (dy, dx) */
  const cb_pair *w; /* [cp][coutp] */
} cb_tap;

typedef struct {
  float *out;          /* (n, h, w, cout) */
  const float *bias;   /* (cout), or NULL: accumulate into out */
  const cb_pair *zero; /* cp zero pairs (taps in the padding) */
  int n, h, w, cp, cout, coutp, ntap;
  const cb_tap *tap;
  int dymin;  /* the taps' smallest dy: an output row's input rows are rowp[dy - dymin] */
  int stream; /* bits (cb_stream): 1 out, 2 act are written with non-temporal stores */
  int pf;     /* 1: prefetch the next row's input, accumulators, residual (tensors beyond L2) */
} cb_direct_t;

/* optional epilogue (conv_prelu_fwd): out += res, act = prelu(out, alpha) */
typedef struct {
  const float *res; /* or NULL */
  float *act;       /* or NULL */
  const float *alpha;
} cb_epi_t;

/* rowp[dy - dymin]: the input row (w, cp) at output row + dy, NULL outside */
/* mb[v]: the valid lanes of vector v at cb (the cout tail), computed once per
 * row and block column by the caller: computed here, GCC vectorises them
 * through the stack, a store-forwarding stall per block (8% of the 7x7 A
 * first layer, as in conv_direct.h) */
static PW_INLINE void cb_direct_block(const int PX, const int NV, const cb_direct_t *d,
                                      const cb_epi_t *e, const cb_pair *const *rowp, const unsigned *mb,
                                      int img, int y, int x0, int cb) {
  const int cp = d->cp, cout = d->cout;
  const size_t off = (((size_t)img * d->h + y) * d->w + x0) * cout + cb;
  float *op = d->out + off;
  __m512 acc[CB_PX][CB_NV];
  __mmask16 mt[CB_NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) mt[v] = (__mmask16)mb[v];
  if (d->bias) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      const __m512 b = _mm512_maskz_loadu_ps(mt[v], d->bias + cb + v * 16);
#pragma GCC unroll 6
      for (int j = 0; j < PX; j++) acc[j][v] = b;
    }
  } else {
#pragma GCC unroll 6
    for (int j = 0; j < PX; j++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[j][v] = _mm512_maskz_loadu_ps(mt[v], op + (size_t)j * cout + v * 16);
  }
  for (int t = 0; t < d->ntap; t++) {
    const cb_tap *tp = &d->tap[t];
    const cb_pair *row = rowp[tp->dy - d->dymin];
    if (!row) continue;
    const cb_pair *ip[CB_PX];
#pragma GCC unroll 6
    for (int j = 0; j < PX; j++) {
      const int ix = x0 + j + tp->dx;
      ip[j] = ix >= 0 && ix < d->w ? row + (ptrdiff_t)ix * cp : d->zero;
    }
    const cb_pair *wp = tp->w + cb;
    for (int ci = 0; ci < cp; ci++, wp += d->coutp) {
      __m512i wv[CB_NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) wv[v] = cb_load(wp + v * 16);
#pragma GCC unroll 6
      for (int j = 0; j < PX; j++) {
        const __m512i bc = cb_bcast(ip[j] + ci);
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[j][v] = cb_dp(acc[j][v], bc, wv[v]);
      }
    }
  }
  if (e && e->res) {
#pragma GCC unroll 6
    for (int j = 0; j < PX; j++)
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++)
        acc[j][v] = _mm512_add_ps(acc[j][v], _mm512_maskz_loadu_ps(mt[v], e->res + off + (size_t)j * cout + v * 16));
  }
#pragma GCC unroll 6
  for (int j = 0; j < PX; j++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      if (d->stream & 1)
        _mm512_stream_ps(op + (size_t)j * cout + v * 16, acc[j][v]);
      else
        _mm512_mask_storeu_ps(op + (size_t)j * cout + v * 16, mt[v], acc[j][v]);
    }
  if (e && e->act) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      const __m512 al = _mm512_maskz_loadu_ps(mt[v], e->alpha + cb + v * 16);
#pragma GCC unroll 6
      for (int j = 0; j < PX; j++)
      {
        const __m512 a = pw_prelu_sel(acc[j][v], acc[j][v], al);
        if (d->stream & 2)
          _mm512_stream_ps(e->act + off + (size_t)j * cout + v * 16, a);
        else
          _mm512_mask_storeu_ps(e->act + off + (size_t)j * cout + v * 16, mt[v], a);
      }
    }
  }
}

#define CB_NV_CASES(PXc)                                          \
  switch (nv) {                                                   \
    case 1: cb_direct_block(PXc, 1, d, e, rowp, mb, img, y, x0, cb); break; \
    case 2: cb_direct_block(PXc, 2, d, e, rowp, mb, img, y, x0, cb); break; \
    case 3: cb_direct_block(PXc, 3, d, e, rowp, mb, img, y, x0, cb); break; \
    default: cb_direct_block(PXc, 4, d, e, rowp, mb, img, y, x0, cb); break; \
  }

static inline void cb_direct_dispatch(const cb_direct_t *d, const cb_epi_t *e,
                                      const cb_pair *const *rowp, const unsigned *mb, int px, int nv,
                                      int img, int y, int x0, int cb) {
  switch (px) {
    case 1: CB_NV_CASES(1) break;
    case 2: CB_NV_CASES(2) break;
    case 3: CB_NV_CASES(3) break;
    case 4: CB_NV_CASES(4) break;
    case 5: CB_NV_CASES(5) break;
    default: CB_NV_CASES(6) break;
  }
}

/* one output row (img, y): output-channel blocks, then pixel blocks */
static inline void cb_direct_row(const cb_direct_t *d, const cb_epi_t *e, const cb_pair *const *rowp,
                                 int img, int y) {
  const int cblk = CB_NV * 16;
  for (int cb = 0; cb < d->cout; cb += cblk) {
    const int rem = d->cout - cb, nv = rem >= cblk ? CB_NV : (rem + 15) / 16;
    unsigned mb[CB_NV];
    for (int v = 0; v < CB_NV; v++) mb[v] = pw_lane_bits(0, rem - v * 16);
    for (int x0 = 0; x0 < d->w; x0 += CB_PX)
      cb_direct_dispatch(d, e, rowp, mb, d->w - x0 < CB_PX ? d->w - x0 : CB_PX, nv, img, y, x0, cb);
  }
}

/* A 1x1 (k == 1) has no neighbours: its N H W pixels run as rows of
 * CB_ROW1 pixels (whole 6-pixel blocks; 28-pixel image rows leave a block of
 * 4), then one row of the rest; the rows are the work items. */
#define CB_ROW1 96
static inline void cb_direct_rows(const cb_direct_t *d, const cb_epi_t *e, const float *src, int c,
                                  int maxdy, cb_pair *ring, int nth);
static inline void cb_direct_1x1(const cb_direct_t *d, const cb_epi_t *e, const float *src, int c,
                                 cb_pair *ring, int nth) {
  const size_t p = (size_t)d->n * d->h * d->w, full = p / CB_ROW1, rem = p % CB_ROW1;
  if (full) {
    cb_direct_t d1 = *d;
    d1.n = 1;
    d1.h = (int)full;
    d1.w = CB_ROW1;
    cb_direct_rows(&d1, e, src, c, 0, ring, nth);
  }
  if (rem) {
    const size_t o = full * CB_ROW1;
    cb_direct_t d2 = *d;
    d2.out += o * d->cout;
    d2.n = d2.h = 1;
    d2.w = (int)rem;
    const cb_epi_t e2 = {e && e->res ? e->res + o * d->cout : NULL, e && e->act ? e->act + o * d->cout : NULL,
                         e ? e->alpha : NULL};
    cb_direct_rows(&d2, e ? &e2 : NULL, src + o * c, c, 0, ring, nth);
  }
}

/* one row of w pixels of c floats -> w pixels of cp = ceil(c / 2) pairs */
static inline void cb_cvt_pixels(cb_pair *dst, const float *src, int w, int c) {
  const int cp = (c + 1) / 2;
  if (c % 2 == 0) { /* the pairs of a row are contiguous */
    cb_cvt_row(dst, src, 0, w * c, w * cp);
  } else if (c == 1) { /* (x, 0) pairs, 16 pixels at a time */
    for (int x = 0; x < w; x += 16) {
      const __mmask16 m = pw_mask_range(0, w - x);
      const __m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + x));
      _mm512_mask_storeu_epi32(dst + x, m, _mm512_cvtepu16_epi32(h));
    }
  } else {
    for (int x = 0; x < w; x++) cb_cvt_row(dst + (size_t)x * cp, src + (size_t)x * c, 0, c, cp);
  }
}

/* Engine 1 over the N x H output rows (statically over threads), each
 * thread converting the input rows it needs to channel pairs as it goes: a
 * ring of nr = maxdy - dymin + 1 rows in its slice of ring (nth slices of
 * nr x (w cp + 16) pairs), tagged by row, so a row is converted once per
 * thread (the conversion is exact: which thread converts changes no bit);
 * the next output row's new input row is prefetched into L2. */
static inline size_t cb_ring_pairs(int nr, int w, int cp) { return (size_t)nr * ((size_t)w * cp + 16); }
static inline void cb_direct_rows(const cb_direct_t *d, const cb_epi_t *e, const float *src, int c,
                                  int maxdy, cb_pair *ring, int nth) {
  const int nr = maxdy - d->dymin + 1, H = d->h, W = d->w, cp = d->cp;
  const size_t rowsz = (size_t)W * cp + 16, rows = (size_t)d->n * H;
  (void)nth; /* unused where OpenMP pragmas are not compiled (the fuzz build) */
#pragma omp parallel num_threads(nth)
  {
    cb_pair *mine = ring + (size_t)omp_get_thread_num() * nr * rowsz;
    long tag[nr]; /* VLAs: nr = r + 1 rows */
    const cb_pair *rowp[nr];
    for (int i = 0; i < nr; i++) tag[i] = -1;
#pragma omp for schedule(static) nowait
    for (size_t ry = 0; ry < rows; ry++) {
      const int img = (int)(ry / H), y = (int)(ry % H);
      for (int i = 0; i < nr; i++) {
        const int iy = y + d->dymin + i;
        rowp[i] = NULL;
        if (iy < 0 || iy >= H) continue;
        const long id = (long)img * H + iy;
        cb_pair *slot = mine + (size_t)(iy % nr) * rowsz;
        if (tag[iy % nr] != id) {
          cb_cvt_pixels(slot, src + (size_t)id * W * c, W, c);
          tag[iy % nr] = id;
        }
        rowp[i] = slot;
      }
      if (d->pf && y + maxdy + 1 < H)
        pw_prefetch_l2(src + ((size_t)img * H + y + maxdy + 1) * W * c, (size_t)W * c);
      if (d->pf && ry + 1 < rows) { /* the next row's accumulators (data gradient) or residual */
        const size_t o = (ry + 1) * W * d->cout;
        if (!d->bias) pw_prefetch_l2(d->out + o, (size_t)W * d->cout);
        if (e && e->res) pw_prefetch_l2(e->res + o, (size_t)W * d->cout);
      }
      cb_direct_row(d, e, rowp, img, y);
    }
    if (d->stream) _mm_sfence();
  }
}

/* ---- narrow 1x1 outputs (the Bernoulli head, 128 -> 1): dot products ----
 * With few outputs, engine 1 would use 1 lane of 16; instead each output is
 * a dot product over the input channels: per pixel, 32 channels at a time
 * are converted to bf16 (one VCVTNE2PS2BF16) and meet each output's packed
 * weight column (wd[co][cin32], masked entries zero) in one VDPBF16PS; the
 * 16 lanes are summed at the end (a fixed order). */
#define CB_DOT_MAX 4 /* outputs up to which a 1x1 takes this path */
static inline int cb_dot_fits(const pcnn_conv_t *c) { return c->k == 1 && c->cout <= CB_DOT_MAX; }

static inline int cb_conv1x1_dot(float *out, const float *in, const float *w, const float *b,
                                 const cb_epi_t *e, const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, nch = (cin + 31) / 32;
  uint16_t *wd = (uint16_t *)pcnn_scratch((size_t)cout * nch * 16); /* [cout][nch * 32] bf16 */
  if (!wd) return 0;
  for (int co = 0; co < cout; co++)
    for (int ci = 0; ci < nch * 32; ci++)
      wd[(size_t)co * nch * 32 + ci] =
          ci < cin && pcnn_mask_co_begin(c, 0, 0, ci) <= co ? pcnn_f32_to_bf16(w[(size_t)ci * cout + co]) : 0;
  const long p = (long)c->n * c->h * c->w;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < p; i++) {
    const float *ip = in + (size_t)i * cin;
    __m512 acc[CB_DOT_MAX];
    for (int co = 0; co < cout; co++) acc[co] = _mm512_setzero_ps();
    for (int j = 0; j < nch; j++) {
      const __m512 v0 = _mm512_maskz_loadu_ps(pw_mask_range(0, cin - 32 * j), ip + 32 * j);
      const __m512 v1 = _mm512_maskz_loadu_ps(pw_mask_range(0, cin - 32 * j - 16), ip + 32 * j + 16);
      const __m512i a = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
      for (int co = 0; co < cout; co++)
        acc[co] = cb_dp(acc[co], a, _mm512_loadu_si512((const void *)(wd + ((size_t)co * nch + j) * 32)));
    }
    for (int co = 0; co < cout; co++) {
      float v = b[co] + _mm512_reduce_add_ps(acc[co]);
      if (e && e->res) v += e->res[(size_t)i * cout + co];
      out[(size_t)i * cout + co] = v;
      if (e && e->act) e->act[(size_t)i * cout + co] = v > 0.f ? v : e->alpha[co] * v;
    }
  }
  return 1;
}

/* The row-im2col rows (conv_taps.h) straight in bf16: col[x][0, 2 kp) = the
 * kc inputs output pixel (img, y, x) sees through the kept taps, in
 * (ky, kx, ci) order, rounded to bf16, zeros in the padding and at kc if kc
 * is odd. pad: (W + 2r) cin bf16 whose first and last r cin are zero (the
 * caller zeroes them once); each input row is converted into it once. */
static inline void cb_im2col_row(uint16_t *col, int kp, uint16_t *pad, const float *in, int img, int y,
                                 int H, int W, int cin, int r) {
  const int k = 2 * r + 1, ld = 2 * kp, kc = (r * k + r + 1) * cin;
  for (int ky = 0; ky <= r; ky++) {
    const int iy = y + ky - r, run = (ky < r ? k : r + 1) * cin, off = ky * k * cin;
    if (iy < 0) {
      for (int x = 0; x < W; x++)
        for (int i = 0; i < run; i += 32)
          _mm512_mask_storeu_epi16(col + (size_t)x * ld + off + i, (__mmask32)cb_bits32(run - i),
                                   _mm512_setzero_si512());
      continue;
    }
    const float *src = in + ((size_t)img * H + iy) * W * cin;
    for (int i = 0; i < W * cin; i += 16) {
      const __mmask16 m = pw_mask_range(0, W * cin - i);
      _mm256_mask_storeu_epi16(pad + (size_t)r * cin + i, m,
                               (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i)));
    }
    /* pixel x sees the run pad[x cin, x cin + run) */
    for (int x = 0; x < W; x++)
      for (int i = 0; i < run; i += 32) {
        const __mmask32 m = (__mmask32)cb_bits32(run - i);
        _mm512_mask_storeu_epi16(col + (size_t)x * ld + off + i, m,
                                 _mm512_maskz_loadu_epi16(m, pad + (size_t)x * cin + i));
      }
  }
  if (kc < ld)
    for (int x = 0; x < W; x++) col[(size_t)x * ld + kc] = 0;
}

/* Outputs larger than PW_NT_BYTES go past the caches (non-temporal
 * stores), as the FP32 1x1 forward does: the next reader streams them from
 * memory anyway; so does out alone (pre) when PCNN_CONV_STREAM_PRE says
 * nothing reads it soon. Needs whole aligned vectors: cout a multiple of 16
 * and out, act 64-byte aligned. Returns the bits of cb_direct_t.stream. */
static inline int cb_stream(const float *out, const cb_epi_t *e, const pcnn_conv_t *c) {
  const size_t bytes = (size_t)c->n * c->h * c->w * c->cout * sizeof(float);
  const size_t addr = (size_t)out | (e && e->act ? (size_t)e->act : 0);
  if (c->cout % 16) return 0;
  if (bytes > PW_NT_BYTES && addr % 64 == 0) return 3;
  return e && e->act && (c->flags & PCNN_CONV_STREAM_PRE) && (size_t)out % 64 == 0;
}

/* The forward of conv_fwd / conv_prelu_fwd (e may be NULL): pre / out
 * (N,H,W,cout) = masked_conv(in, w) + b (+ e). Returns 0 if the scratch
 * cannot be had (nothing written; the caller runs the reference). */
static inline int cb_conv_fwd(float *out, const float *in, const float *w, const float *b,
                              const cb_epi_t *e, const pcnn_conv_t *c) {
  const int r = c->k / 2, cin = c->cin, cout = c->cout, coutp = pw_round_up(cout, 16);
  const int kept = cv_kept_taps(c), H = c->h, W = c->w;
  const size_t rows = (size_t)c->n * H;
  if (cb_dot_fits(c)) return cb_conv1x1_dot(out, in, w, b, e, c);
  if (cv_im2col_fits(c)) {
    /* row-im2col: the kept taps' inputs of an output row as [W][kc], paired */
    const int kc = kept * cin, kp = (kc + 1) / 2, base = (r * c->k + r) * cin;
    cb_pair *wp = (cb_pair *)pcnn_scratch((size_t)kp * coutp);
    if (!wp) return 0;
    /* rows 2j, 2j + 1 of w viewed as [kc][cout]; centre row i keeps [co_begin, cout) */
    for (int j = 0; j < kp; j++) {
      const int i0 = 2 * j, i1 = 2 * j + 1;
      const int lo0 = i0 < base ? 0 : pcnn_mask_co_begin(c, r, r, i0 - base);
      const int lo1 = i1 >= kc ? cout : i1 < base ? 0 : pcnn_mask_co_begin(c, r, r, i1 - base);
      cb_cvt_zip(wp + (size_t)j * coutp, w + (size_t)i0 * cout, lo0,
                 i1 < kc ? w + (size_t)i1 * cout : NULL, lo1, cout, coutp);
    }
    const cb_tap tap = {0, 0, wp};
    const int stream = cb_stream(out, e, c);
#pragma omp parallel
    {
      cb_pair col2[CV_IM2COL_MAX]; /* [W][kp] */
      uint16_t pad[CV_IM2COL_MAX];  /* one input row in bf16, r zero pixels each side */
      memset(pad, 0, sizeof pad);
#pragma omp for schedule(static) nowait
      for (size_t ry = 0; ry < rows; ry++) {
        const int img = (int)(ry / H), y = (int)(ry % H);
        cb_im2col_row((uint16_t *)col2, kp, pad, in, img, y, H, W, cin, r);
        const size_t ro = ry * W * cout;
        const cb_direct_t rd = {out + ro, b, NULL, 1, 1, W, kp, cout, coutp, 1, &tap, 0, stream, 0};
        const cb_epi_t re = {e && e->res ? e->res + ro : NULL, e && e->act ? e->act + ro : NULL,
                             e ? e->alpha : NULL};
        const cb_pair *const rp[1] = {col2};
        cb_direct_row(&rd, e ? &re : NULL, rp, 0, 0);
      }
      if (stream) _mm_sfence();
    }
    return 1;
  }
  const int cp = (cin + 1) / 2, nth = omp_get_max_threads();
  const size_t bytes = cb_bytes(kept, sizeof(cv_tap)) + cb_bytes(kept, sizeof(cb_tap)) +
                       cb_bytes((size_t)kept * cp * coutp, 4) + cb_bytes(cp, 4) +
                       cb_bytes(nth * cb_ring_pairs(r + 1, W > CB_ROW1 ? W : CB_ROW1, cp), 4);
  char *at = (char *)pcnn_scratch(bytes / 4);
  if (!at) return 0;
  cv_tap *ft = (cv_tap *)cb_take(&at, kept, sizeof(cv_tap));
  cb_tap *tap = (cb_tap *)cb_take(&at, kept, sizeof(cb_tap));
  cb_pair *wpk = (cb_pair *)cb_take(&at, (size_t)kept * cp * coutp, 4);
  cb_pair *zero = (cb_pair *)cb_take(&at, cp, 4);
  cb_pair *ring = (cb_pair *)cb_take(&at, nth * cb_ring_pairs(r + 1, W > CB_ROW1 ? W : CB_ROW1, cp), 4);
  memset(zero, 0, (size_t)cp * 4);
  const int nt = cv_fwd_taps(ft, w, c);
  for (int t = 0; t < nt; t++) {
    const int ky = ft[t].dy + r, kx = ft[t].dx + r;
    cb_pair *dst = wpk + (size_t)t * cp * coutp;
    for (int j = 0; j < cp; j++) {
      const int i0 = 2 * j, i1 = 2 * j + 1;
      const int lo0 = pcnn_mask_co_begin(c, ky, kx, i0);
      const int lo1 = i1 < cin ? pcnn_mask_co_begin(c, ky, kx, i1) : cout;
      cb_cvt_zip(dst + (size_t)j * coutp, ft[t].w + (size_t)i0 * cout, lo0,
                 i1 < cin ? ft[t].w + (size_t)i1 * cout : NULL, lo1, cout, coutp);
    }
    tap[t] = (cb_tap){ft[t].dy, ft[t].dx, dst};
  }
  const cb_direct_t d = {out, b, zero, c->n, H, W, cp, cout, coutp, nt, tap, -r, cb_stream(out, e, c),
                         rows * W * (cin + cout) * sizeof(float) > CB_PF_BYTES};
  if (c->k == 1)
    cb_direct_1x1(&d, e, in, cin, ring, nth);
  else
    cb_direct_rows(&d, e, in, cin, 0, ring, nth);
  return 1;
}

/* The data gradient of a 1x1 with few outputs (the head): din[p][ci] +=
 * sum_co bf(w[ci][co]) bf(dout[p][co]). The product of two bf16 values is
 * exact in fp32, so an fp32 FMA on the rounded operands adds exactly the
 * bf16 product: vectors over cin, one broadcast per output (1 of 16 lanes
 * would be useful on VDPBF16PS pairs of outputs). Weights rounded once per
 * call into [cout][cinp] (masked entries zero, never read). One writer per
 * pixel. */
static inline int cb_conv1x1_bwd_data_narrow(float *din, const float *dout, const float *w,
                                             const pcnn_conv_t *c) {
  const int cin = c->cin, cout = c->cout, cinp = pw_round_up(cin, 16);
  float *wr = pcnn_scratch((size_t)cout * cinp);
  if (!wr) return 0;
  for (int co = 0; co < cout; co++)
    for (int ci = 0; ci < cinp; ci++)
      wr[(size_t)co * cinp + ci] =
          ci < cin && pcnn_mask_co_begin(c, 0, 0, ci) <= co ? pcnn_bf16_round(w[(size_t)ci * cout + co]) : 0.f;
  const long p = (long)c->n * c->h * c->w;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < p; i++) {
    __m512 dv[CB_DOT_MAX];
    for (int co = 0; co < cout; co++) dv[co] = _mm512_set1_ps(pcnn_bf16_round(dout[(size_t)i * cout + co]));
    float *dp = din + (size_t)i * cin;
    for (int v = 0; v < cinp; v += 16) {
      const __mmask16 m = pw_mask_range(0, cin - v);
      __m512 acc = c->flags & PCNN_CONV_OVERWRITE ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, dp + v);
      for (int co = 0; co < cout; co++) acc = _mm512_fmadd_ps(dv[co], _mm512_load_ps(wr + (size_t)co * cinp + v), acc);
      _mm512_mask_storeu_ps(dp + v, m, acc);
    }
  }
  return 1;
}

/* din (N,H,W,cin) += masked_conv^T(dout, w): engine 1 on dout's channel
 * pairs and the flipped, transposed kept taps. 0 if no scratch. */
static inline int cb_conv_bwd_data(float *din, const float *dout, const float *w, const pcnn_conv_t *c) {
  if (cb_dot_fits(c)) return cb_conv1x1_bwd_data_narrow(din, dout, w, c);
  const int r = c->k / 2, cin = c->cin, cout = c->cout, cinp = pw_round_up(cin, 16);
  const int kept = cv_kept_taps(c), H = c->h, W = c->w, cp = (cout + 1) / 2, nth = omp_get_max_threads();
  const size_t bytes = cb_bytes(kept, sizeof(cv_tap)) + cb_bytes(kept, sizeof(cb_tap)) +
                       cb_bytes((size_t)kept * cp * cinp, 4) + cb_bytes(cp, 4) * 2 +
                       cb_bytes(nth * cb_ring_pairs(r + 1, W > CB_ROW1 ? W : CB_ROW1, cp), 4);
  char *at = (char *)pcnn_scratch(bytes / 4);
  if (!at) return 0;
  cv_tap *ft = (cv_tap *)cb_take(&at, kept, sizeof(cv_tap));
  cb_tap *tap = (cb_tap *)cb_take(&at, kept, sizeof(cb_tap));
  cb_pair *wpk = (cb_pair *)cb_take(&at, (size_t)kept * cp * cinp, 4);
  cb_pair *zero = (cb_pair *)cb_take(&at, cp, 4);
  cb_pair *tmp = (cb_pair *)cb_take(&at, cp, 4);
  cb_pair *ring = (cb_pair *)cb_take(&at, nth * cb_ring_pairs(r + 1, W > CB_ROW1 ? W : CB_ROW1, cp), 4);
  memset(zero, 0, (size_t)cp * 4);
  const int nt = cv_fwd_taps(ft, w, c);
  for (int t = 0; t < nt; t++) {
    const int ky = ft[t].dy + r, kx = ft[t].dx + r;
    cb_pair *dst = wpk + (size_t)t * cp * cinp;
    memset(dst, 0, (size_t)cp * cinp * 4);
    /* row ci of the tap, paired over cout, to column ci of [cp][cinp] */
    for (int ci = 0; ci < cin; ci++) {
      const int lo = pcnn_mask_co_begin(c, ky, kx, ci);
      if (lo >= cout) continue;
      cb_cvt_row(tmp, ft[t].w + (size_t)ci * cout, lo, cout, cp);
      for (int j = lo / 2; j < cp; j++) dst[(size_t)j * cinp + ci] = tmp[j];
    }
    tap[t] = (cb_tap){-ft[t].dy, -ft[t].dx, dst};
  }
  /* OVERWRITE: the sums start from a zero bias instead of din */
  const int set = (c->flags & PCNN_CONV_OVERWRITE) && cin <= PCNN_ZEROS;
  if (!set) pcnn_conv_zero_din(din, c);
  const cb_direct_t d = {din, set ? pcnn_zeros : NULL, zero, c->n, H, W, cp, cin, cinp, nt, tap, 0, 0,
                         (size_t)c->n * H * W * (cin + cout) * sizeof(float) > CB_PF_BYTES};
  if (c->k == 1)
    cb_direct_1x1(&d, NULL, dout, cout, ring, nth);
  else
    cb_direct_rows(&d, NULL, dout, cout, r, ring, nth);
  return 1;
}

/* ---- engine 2: weight gradient on pixel pairs ---- */
typedef struct {
  int dy, q0, ci, lo; /* tap row offset, first padded column (dx + r), channel, first kept output */
  float *dw;          /* the row's [cout] sums: dw itself or a chunk's partial */
} cb_wrow;

/* one band, packed by the thread that runs it */
typedef struct {
  const cb_pair *dp;    /* dout pixel pairs of rows [y0, y1): (rows, wp2, coutp) */
  const cb_pair *in[2]; /* input pairs from even / odd padded columns, rows [ylo, y1): (rows, qp, cin) */
  const cb_pair *zero;  /* qp x cin zero pairs: rows in the padding */
  int h, y0, ylo, wp2, qp, cin, cout, coutp;
} cb_wgrad_t;

static PW_INLINE void cb_wgrad_block(const int NC, const int NV, const cb_wgrad_t *g, const cb_wrow *rw,
                                     int y1, int cb) {
  const int cin = g->cin, cout = g->cout, wp2 = g->wp2;
  __mmask16 ms[CB_NC][CB_NV];
  __m512 acc[CB_NC][CB_NV];
#pragma GCC unroll 6
  for (int c = 0; c < NC; c++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      ms[c][v] = pw_mask_range(rw[c].lo - cb - v * 16, cout - cb - v * 16);
      acc[c][v] = _mm512_maskz_loadu_ps(ms[c][v], rw[c].dw + cb + v * 16);
    }
  for (int y = g->y0; y < y1; y++) {
    const cb_pair *dp = g->dp + (size_t)(y - g->y0) * wp2 * g->coutp + cb;
    const cb_pair *ip[CB_NC];
#pragma GCC unroll 6
    for (int c = 0; c < NC; c++) {
      const int iy = y + rw[c].dy;
      const cb_pair *row =
          iy >= 0 && iy < g->h ? g->in[rw[c].q0 & 1] + (size_t)(iy - g->ylo) * g->qp * cin : g->zero;
      ip[c] = row + (size_t)(rw[c].q0 >> 1) * cin + rw[c].ci;
    }
    for (int m = 0; m < wp2; m++, dp += g->coutp) {
      __m512i dv[CB_NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) dv[v] = cb_load(dp + v * 16);
#pragma GCC unroll 6
      for (int c = 0; c < NC; c++) {
        const __m512i bc = cb_bcast(ip[c]);
        ip[c] += cin;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[c][v] = cb_dp(acc[c][v], bc, dv[v]);
      }
    }
  }
#pragma GCC unroll 6
  for (int c = 0; c < NC; c++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(rw[c].dw + cb + v * 16, ms[c][v], acc[c][v]);
}

#define CB_WNV_CASES(NCc)                                     \
  switch (nv) {                                               \
    case 1: cb_wgrad_block(NCc, 1, g, rw, y1, cb); break;     \
    case 2: cb_wgrad_block(NCc, 2, g, rw, y1, cb); break;     \
    case 3: cb_wgrad_block(NCc, 3, g, rw, y1, cb); break;     \
    default: cb_wgrad_block(NCc, 4, g, rw, y1, cb); break;    \
  }

static inline void cb_wgrad_dispatch(const cb_wgrad_t *g, const cb_wrow *rw, int nc, int nv, int y1, int cb) {
  switch (nc) {
    case 1: CB_WNV_CASES(1) break;
    case 2: CB_WNV_CASES(2) break;
    case 3: CB_WNV_CASES(3) break;
    case 4: CB_WNV_CASES(4) break;
    case 5: CB_WNV_CASES(5) break;
    default: CB_WNV_CASES(6) break;
  }
}

/* a kept (tap, ci) row of dw: where it lives in dw and its first kept output */
typedef struct {
  int dy, q0, ci, lo;
  size_t off; /* offset of the row in dw */
} cb_krow;

/* pack output rows [y0, y1) of image img: dout as pixel pairs into dp, the
 * input rows [ylo, y1) as pairs from even (ie) and odd (io) padded columns
 * (column q of a padded row is input column q - r); if bp, bp[co] += dout
 * summed over the band's pixels in order (fp32) */
static inline void cb_pack_band(cb_pair *dp, cb_pair *ie, cb_pair *io, float *bp, const float *dout,
                                const float *in, const pcnn_conv_t *c, int img, int y0, int y1, int ylo) {
  const int r = c->k / 2, cin = c->cin, cout = c->cout, W = c->w, H = c->h;
  const int coutp = pw_round_up(cout, 16), wp2 = (W + 1) / 2, qp = wp2 + r;
  for (int y = y0; y < y1; y++) {
    const float *src = dout + ((size_t)img * H + y) * W * cout;
    cb_pair *d = dp + (size_t)(y - y0) * wp2 * coutp;
    for (int m = 0; m < wp2; m++)
      cb_cvt_zip(d + (size_t)m * coutp, src + (size_t)2 * m * cout, 0,
                 2 * m + 1 < W ? src + (size_t)(2 * m + 1) * cout : NULL, 0, cout, coutp);
    if (bp)
      for (int co = 0; co < cout; co += 16) {
        const __mmask16 mk = pw_mask_range(0, cout - co);
        __m512 s = _mm512_maskz_loadu_ps(mk, bp + co);
        for (int x = 0; x < W; x++) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(mk, src + (size_t)x * cout + co));
        _mm512_mask_storeu_ps(bp + co, mk, s);
      }
  }
  for (int iy = ylo; iy < y1; iy++) {
    const float *irow = in + ((size_t)img * H + iy) * W * cin;
    const size_t o = (size_t)(iy - ylo) * qp * cin;
    for (int p = 0; p < qp; p++) {
      const int x0 = 2 * p - r, x1 = 2 * p + 1 - r, x2 = 2 * p + 2 - r;
      const float *a0 = x0 >= 0 && x0 < W ? irow + (size_t)x0 * cin : NULL;
      const float *a1 = x1 >= 0 && x1 < W ? irow + (size_t)x1 * cin : NULL;
      const float *a2 = x2 >= 0 && x2 < W ? irow + (size_t)x2 * cin : NULL;
      cb_cvt_zip(ie + o + (size_t)p * cin, a0, 0, a1, 0, cin, cin);
      if (r) cb_cvt_zip(io + o + (size_t)p * cin, a1, 0, a2, 0, cin, cin); /* k == 1: all even */
    }
  }
}

/* rows per run of the weight gradient, and the packed slice a run may take */
#define CB_WRUN 16
#define CB_RUN_BYTES (384u << 10)
/* bands a pixel chunk holds at least (pw_chunks' span) */
#define CB_CHUNK_BANDS 8

/* the run from band bnd: bands [bnd, *be) (at most rb, of one image, before
 * bk1), output rows [*y0, *y1) */
static inline void cb_run(int bnd, int bk1, int bpi, int rb, int H, int *be, int *y0, int *y1) {
  const int iend = (bnd / bpi + 1) * bpi;
  *be = bnd + rb < bk1 ? bnd + rb : bk1;
  if (*be > iend) *be = iend;
  *y0 = (bnd % bpi) * CB_WBAND;
  *y1 = ((*be - 1) % bpi + 1) * CB_WBAND < H ? ((*be - 1) % bpi + 1) * CB_WBAND : H;
}

/* dw [k][k][cin][cout] += in (x) dout at the kept taps, db (cout) += sum
 * dout. Items (fixed by the shape): nk pixel chunks (runs of whole bands of
 * CB_WBAND rows, in (image, band) order) x units (up to CB_NC consecutive
 * kept (tap, ci) rows x CB_NV output vectors), nk = pw_chunks (PW_PAR_ITEMS
 * items where the shape has them, chunks of at least CB_CHUNK_BANDS bands);
 * nk == 1: every dw entry has one owner
 * summing its pixels in order into dw; nk > 1: each item sums its chunk into
 * the chunk's partial ([kept rows][cout]) and the partials are added in
 * chunk order. Items go to threads in contiguous runs; a thread packs each
 * run (up to CB_WRUN rows: whole bands of one image within the chunk) of its
 * items into its own slice (in cache) and runs its units of that chunk on
 * it, each tile in registers over the run (the same sums in the same order
 * as band by band, so the same bits); the owner of unit 0 of a chunk also sums the chunk's bias
 * partial while packing. The bias partials are added in chunk order. Same
 * bits at any thread count. 0 if no scratch. */
static inline int cb_conv_bwd_weights(float *dw, float *db, const float *dout, const float *in,
                                      const pcnn_conv_t *c) {
  const int r = c->k / 2, k = c->k, cin = c->cin, cout = c->cout, H = c->h, W = c->w;
  const int coutp = pw_round_up(cout, 16), wp2 = (W + 1) / 2, qp = wp2 + r; /* 2 qp padded columns */
  const int kept = cv_kept_taps(c), cblk = CB_NV * 16, ncb = (cout + cblk - 1) / cblk;
  int nrow = 0; /* kept rows, in (tap, ci) order */
  for (int t = 0; t < kept; t++)
    for (int ci = 0; ci < cin; ci++) nrow += pcnn_mask_co_begin(c, t / k, t % k, ci) < cout;
  if (!nrow) { /* every tap masked (1x1 A, one group): only db */
    const size_t p = (size_t)c->n * H * W;
    for (size_t i = 0; i < p; i++)
      for (int co = 0; co < cout; co++) db[co] += dout[i * cout + co];
    return 1;
  }
  const int ngrp = (nrow + CB_NC - 1) / CB_NC, units = ngrp * ncb;
  const int bpi = (H + CB_WBAND - 1) / CB_WBAND, nb = c->n * bpi;
  const size_t ldp = (size_t)nrow * cout;
  /* at least CB_CHUNK_BANDS bands a chunk: one image (7 bands of 28 rows)
   * is one chunk, no partials (a one-image call runs on a one-thread team
   * in the model; its 2 partials and their combine cost 6% of a 3x3 call) */
  const int nk = pw_chunks(units, nb / CB_CHUNK_BANDS, ldp), nth = omp_get_max_threads();
  /* bands per run: the tiles stay in registers over a run of up to
   * CB_WRUN rows of one image (as many bands as fit CB_RUN_BYTES of packed
   * slice, at least one) */
  const size_t rowb = ((size_t)wp2 * coutp + 2 * (size_t)qp * cin) * 4;
  int rb = CB_WRUN / CB_WBAND;
  while (rb > 1 && (size_t)(rb * CB_WBAND + r) * rowb > CB_RUN_BYTES) rb--;
  const size_t sdp = (size_t)rb * CB_WBAND * wp2 * coutp, sin = (size_t)(rb * CB_WBAND + r) * qp * cin;
  const size_t slice = cb_bytes(sdp, 4) + 2 * cb_bytes(sin, 4);
  const size_t bytes = cb_bytes(nrow, sizeof(cb_krow)) + cb_bytes((size_t)qp * cin, 4) +
                       cb_bytes((size_t)nk * cout, 4) + (nk > 1 ? cb_bytes(nk * ldp, 4) : 0) + nth * slice;
  char *at = (char *)pcnn_scratch(bytes / 4);
  if (!at) return 0;
  cb_krow *kr = (cb_krow *)cb_take(&at, nrow, sizeof(cb_krow));
  cb_pair *zero = (cb_pair *)cb_take(&at, (size_t)qp * cin, 4);
  float *bpart = (float *)cb_take(&at, (size_t)nk * cout, 4);
  float *part = nk > 1 ? (float *)cb_take(&at, nk * ldp, 4) : NULL;
  char *const slices = at;
  memset(zero, 0, (size_t)qp * cin * 4);
  nrow = 0;
  for (int t = 0; t < kept; t++) {
    const int ky = t / k, kx = t % k;
    for (int ci = 0; ci < cin; ci++) {
      const int lo = pcnn_mask_co_begin(c, ky, kx, ci);
      if (lo < cout) kr[nrow++] = (cb_krow){ky - r, kx, ci, lo, ((size_t)t * cin + ci) * cout};
    }
  }
  const long tot = (long)nk * units;
  const int pfw = (size_t)c->n * H * W * (cin + cout) * sizeof(float) > CB_PF_BYTES;
#pragma omp parallel num_threads(nth)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    const long i0 = tot * tid / nt, i1 = tot * (tid + 1) / nt;
    char *sl = slices + (size_t)tid * slice;
    cb_pair *dp = (cb_pair *)cb_take(&sl, sdp, 4);
    cb_pair *ie = (cb_pair *)cb_take(&sl, sin, 4);
    cb_pair *io = (cb_pair *)cb_take(&sl, sin, 4);
    for (long it = i0; it < i1;) {
      const int kk = (int)(it / units), ua = (int)(it % units);
      const int ub = i1 - (long)kk * units < units ? (int)(i1 - (long)kk * units) : units;
      float *base = nk > 1 ? part + (size_t)kk * ldp : NULL;
      float *bp = ua == 0 ? bpart + (size_t)kk * cout : NULL;
      if (bp) memset(bp, 0, (size_t)cout * 4);
      const int bk0 = nb * kk / nk, bk1 = nb * (kk + 1) / nk;
      for (int bnd = bk0; bnd < bk1;) {
        /* a run: bands [bnd, be) of one image, rows [y0, y1) */
        int be, y0, y1;
        cb_run(bnd, bk1, bpi, rb, H, &be, &y0, &y1);
        const int img = bnd / bpi, ylo = y0 - r > 0 ? y0 - r : 0;
        cb_pack_band(dp, ie, io, bp, dout, in, c, img, y0, y1, ylo);
        const cb_wgrad_t g = {dp, {ie, io}, zero, H, y0, ylo, wp2, qp, cin, cout, coutp};
        /* the next run's dout and input rows (contiguous), prefetched into
         * L2 a share per unit while this run computes */
        const float *pf0 = NULL, *pf1 = NULL;
        size_t pn0 = 0, pn1 = 0;
        if (pfw && be < bk1) {
          int nbe, ny0, ny1;
          cb_run(be, bk1, bpi, rb, H, &nbe, &ny0, &ny1);
          const int nimg = be / bpi, nlo = ny0 - r > 0 ? ny0 - r : 0;
          pf0 = dout + ((size_t)nimg * H + ny0) * W * cout;
          pn0 = (size_t)(ny1 - ny0) * W * cout;
          pf1 = in + ((size_t)nimg * H + nlo) * W * cin;
          pn1 = (size_t)(ny1 - nlo) * W * cin;
        }
        for (int u = ua; u < ub; u++) {
          if (pf0) {
            const size_t n = ub - ua, i = u - ua;
            pw_prefetch_l2(pf0 + pn0 * i / n, pn0 * (i + 1) / n - pn0 * i / n);
            pw_prefetch_l2(pf1 + pn1 * i / n, pn1 * (i + 1) / n - pn1 * i / n);
          }
          const int cb = (u % ncb) * cblk, q0 = (u / ncb) * CB_NC;
          const int nc = nrow - q0 < CB_NC ? nrow - q0 : CB_NC;
          const int nv = cout - cb >= cblk ? CB_NV : (cout - cb + 15) / 16;
          cb_wrow rw[CB_NC];
          for (int j = 0; j < nc; j++) {
            const cb_krow *q = &kr[q0 + j];
            rw[j] = (cb_wrow){q->dy, q->q0, q->ci, q->lo, base ? base + (size_t)(q0 + j) * cout : dw + q->off};
          }
          if (base && bnd == bk0) /* a chunk's partial starts at zero */
            for (int j = 0; j < nc; j++)
              memset(rw[j].dw + cb, 0, (size_t)(cout - cb < cblk ? cout - cb : cblk) * 4);
          cb_wgrad_dispatch(&g, rw, nc, nv, y1, cb);
        }
        bnd = be;
      }
      it = (long)kk * units + ub;
    }
#pragma omp barrier
    if (nk > 1) {
      /* the partials in chunk order, one owner per kept row */
#pragma omp for schedule(static) nowait
      for (int q = 0; q < nrow; q++) {
        const int lo = kr[q].lo;
        pw_add_partials(dw + kr[q].off + lo, part + (size_t)q * cout + lo, ldp, nk, 1, cout - lo, 0);
      }
    }
#pragma omp single nowait
    pw_add_partials(db, bpart, cout, nk, 1, cout, 0);
  }
  return 1;
}
#endif
