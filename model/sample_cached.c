/* sample_cached.c: the caching sampler (Ramachandran et al. 2017, "Fast
 * Generation for Convolutional Autoregressive Models").
 *
 * In a PixelCNN every activation at position p depends only on the input
 * before p in raster order (and, with 3 colour groups, on the earlier colours
 * at p), so once sampling reaches p it never changes. The naive sampler still
 * recomputes the whole image for every draw; this one computes each layer's
 * output once, at the position being drawn, and keeps what later positions
 * will read.
 *
 * The steps come from the model's layer records (model.h): at each position
 * the records run in order, each as one small GEMM plus its epilogue (bias,
 * residual, PReLU), exactly as model.c's forward runs them over the image.
 *
 * What is kept. Only records with k > 1 read other positions: the 7x7
 * input conv reads the image itself (kept whole by the caller), and each
 * block's 3x3 conv2 reads a2 = PReLU(conv1(...)) of the current and the
 * previous row. Every other layer is a 1x1 and needs its input at the current
 * position only. So a slot read by a k > 1 record keeps a rolling window of
 * its last k/2 + 1 rows (2 for the seed's a2), indexed by row mod that; every
 * other slot keeps the current position only. We chose the window over a
 * whole-image cache for memory: the seed model at batch 64, 64x64 would need
 * D*n*H*W*F/2*4 B = 400 MB whole-image, 12 MB as a window (and the window
 * stays in cache); the extra cost is one `% R` in the address.
 *
 * One position of one layer is a small GEMM. Each conv's kept taps (rows above
 * the centre, the centre row left of the centre, then the centre tap) are
 * packed once into a (ntap*cin + cin) x cout matrix; at a position the inputs
 * at those taps are gathered into one row per image (zero outside the image),
 * and out[n_img][cout] = bias + gathered[n_img][K] * packed[K][cout] is one
 * gemm_acc call of the kernel table the plan picked for that layer's forward
 * (AVX-512 / AVX2, or a bf16 level), on the weights packed once per run in
 * that kernel's precision (pcnn_gemm_pack_b: bf16 pair words at bf16).
 * Colour groups: for colour g only output group g of every layer is
 * computed (columns [group_begin(g), group_begin(g+1))), reading the
 * centre-tap channels the mask keeps for it, a prefix of cin
 * (pcnn_mask_co_begin); the masked-out taps are never read. So R, G, B cost
 * one position's forward in total.
 * The bias, the residual add and the PReLU are gemm_acc's epilogue
 * (pcnn_gemm_epi_t), applied as it stores each register tile: the same
 * operations per element as model.c's forward, with no pass of their own
 * over the few dozen floats per image (a separate kernel-table call, with
 * its omp region, would cost more than that work; the plain-C loops this
 * replaced were 14% of the bf16 sampler's time).
 *
 * Threads: the batch is split into one contiguous chunk of images per thread
 * and each thread runs the whole sampling of its chunk with its own buffers,
 * without barriers. The draw order of sample.h is kept: each thread holds a
 * copy of the one generator and, at every (position, colour), advances it past
 * the draws of the images before its chunk, draws its own, and skips the rest
 * (pcnn_draw takes exactly one pcnn_rng_double per draw), so every image gets
 * the same uniform as in the naive sampler.
 *
 * bf16: a window a k > 1 record reads has a bf16 twin (same layout, 16-bit
 * words) that the writing record's GEMM fills in its epilogue (out16), and
 * inside the image the k x k record multiplies from it (gemm_acc_a16): each
 * activation is converted once, not by each of the 5 kept-tap calls that
 * read it (the conversions were 6% of the bf16 sampler's time). The same
 * words either way (both round to nearest even), so the same bits.
 *
 * Image completion: the primed rows are run through one batched
 * pcnn_model_forward (in chunks of the model's batch_cap), and the last rows
 * of each block's a2 are copied from the model's activations into the windows;
 * sampling then continues position by position. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcnn_bf16.h"
#include "sample.h"

/* a layer of m->layers seen from one output position */
typedef struct {
  const pcnn_layer_t *l;
  int cin, cout;
  int ntap;     /* full taps: all cin -> all cout kept */
  int *dy, *dx; /* their offsets from the output position */
  int kc[3];    /* centre-tap rows (a prefix of cin) kept for output group g */
  float *w;     /* packed (ntap*cin + cin, cout): full taps, then the centre */
  void *bp;     /* w in gemm's packed form for its precision (pcnn_gemm_pack_b;
                   at FP32 that is w itself, not a copy) */
  pcnn_prec_t prec;
  const float *b, *alpha; /* bias (cout); PReLU slope (cout) or NULL */
  pcnn_gemm_acc_fn *gemm; /* the plan's kernel for this layer's forward */
  pcnn_gemm_acc_a16_fn *gemm16; /* its twin on bf16 inputs, or NULL (FP32) */
} clayer_t;

/* where a slot lives for one thread: value(i, y, x, c) =
 * base[i*s_img + (y % ring)*s_row + x*s_pix + c], zero outside the image */
typedef struct {
  const float *base;
  size_t s_img, s_row;
  int s_pix, ring, w;
} src_t;

typedef struct {
  const pcnn_model_t *m;
  int G, H, W, C, K, L; /* L = C*K logits per pixel */
  clayer_t *ly;         /* m->nlayers */
  int *ring;            /* per slot: rows of the window a k > 1 layer reads, 0 if only
                           the current position is kept */
  int *half;            /* per slot: 1 if the window has a bf16 twin (tstate_t.slot16) */
  int R;                /* the largest window */
} net_t;

/* one thread's images [i0, i0 + nt) and its buffers */
typedef struct {
  int i0, nt;
  float *mem;
  float **slot;  /* per slot: (nt, ring, W, ch) window, or (nt, ch) at the current position */
  uint16_t **slot16; /* per slot: the window's bf16 twin (N->half), or NULL */
  float **gath;  /* per layer with k > 1: (nt, lda) gathered input */
  int *lda;
  pcnn_rng_t rng;
} tstate_t;

static void clayer_free(clayer_t *L) {
  if (L->bp != L->w) free(L->bp);
  free(L->w);
  free(L->dy);
}

/* packs layer l; returns 0, or -1 (out of memory, or a mask this code does not
 * know: a full tap that drops channels, or a centre whose kept inputs are not
 * a prefix) */
static int clayer_pack(clayer_t *L, const pcnn_model_t *m, const pcnn_layer_t *l,
                       const float *params) {
  const pcnn_conv_t *c = &l->c;
  const int k = c->k, r = k / 2, cin = c->cin, cout = c->cout;
  memset(L, 0, sizeof *L);
  L->l = l;
  L->gemm = m->tab[l->role][PCNN_DIR_FWD].gemm_acc;
  L->cin = cin;
  L->cout = cout;
  L->ntap = r * k + r;
  L->dy = malloc(sizeof(int) * 2 * (size_t)(L->ntap + 1));
  L->w = pcnn_floats64((size_t)(L->ntap + 1) * cin * cout);
  if (!L->dy || !L->w) return -1;
  L->dx = L->dy + L->ntap + 1;
  const float *w = params + l->w;
  int t = 0;
  for (int ky = 0; ky <= r; ky++)
    for (int kx = 0; kx < k; kx++) {
      const int centre = ky == r && kx == r;
      if (ky == r && kx > r) break;
      for (int ci = 0; ci < cin; ci++)
        if (!centre && pcnn_mask_co_begin(c, ky, kx, ci) != 0) return -1;
      const int row = centre ? L->ntap : t;
      memcpy(L->w + (size_t)row * cin * cout, w + ((size_t)ky * k + kx) * cin * cout,
             sizeof(float) * (size_t)cin * cout);
      if (!centre) {
        L->dy[t] = ky - r;
        L->dx[t] = kx - r;
        t++;
      }
    }
  for (int g = 0; g < c->groups; g++) {
    const int co = pcnn_group_begin(g, cout, c->groups);
    int n = 0;
    while (n < cin && pcnn_mask_co_begin(c, r, r, n) <= co) n++;
    for (int ci = n; ci < cin; ci++)
      if (pcnn_mask_co_begin(c, r, r, ci) <= co) return -1; /* not a prefix */
    L->kc[g] = n;
  }
  L->b = params + l->b;
  L->alpha = l->alpha != PCNN_NO_PARAM ? params + l->alpha : NULL;
  /* the weights are constant while the sampler runs: converted to the
   * kernel's precision once here, not at every position */
  L->prec = m->tab[l->role][PCNN_DIR_FWD].prec_of[PCNN_OP_gemm_acc];
  L->gemm16 = L->prec == PCNN_PREC_BF16 ? pcnn_gemm_a16_of(L->gemm) : NULL;
  const int K = (L->ntap + 1) * cin;
  if (L->prec == PCNN_PREC_FP32) {
    L->bp = L->w;
  } else {
    L->bp = pcnn_floats64(pcnn_gemm_packed_len(L->prec, K, cout));
    if (!L->bp) return -1;
    pcnn_gemm_pack_b(L->prec, L->bp, cout, L->w, K, cout, cout);
  }
  return 0;
}

static void net_free(net_t *N) {
  for (int i = 0; N->ly && i < N->m->nlayers; i++) clayer_free(&N->ly[i]);
  free(N->ly);
  free(N->ring);
  free(N->half);
}

static int net_init(net_t *N, const pcnn_model_t *m, int no_twins) {
  memset(N, 0, sizeof *N);
  N->m = m;
  N->G = m->groups;
  N->H = m->cfg.height;
  N->W = m->cfg.width;
  N->C = m->cfg.channels;
  N->K = m->k_out;
  N->L = N->C * N->K;
  N->ly = calloc((size_t)m->nlayers, sizeof *N->ly);
  N->ring = calloc((size_t)m->nslots, sizeof *N->ring);
  N->half = calloc((size_t)m->nslots, sizeof *N->half);
  if (!N->ly || !N->ring || !N->half) return -1;
  int bad = 0;
  N->R = 1;
  /* the layers packed by the threads (the bf16 packs were 0.65 ms of a
   * 2-thread run on one thread) */
#pragma omp parallel for schedule(dynamic, 1) reduction(| : bad)
  for (int i = 0; i < m->nlayers; i++) bad |= clayer_pack(&N->ly[i], m, &m->layers[i], m->params);
  for (int i = 0; i < m->nlayers; i++) {
    const pcnn_layer_t *l = &m->layers[i];
    /* a k > 1 layer reads rows y - k/2 .. y of its input: keep k/2 + 1 */
    if (l->c.k > 1 && l->src != PCNN_SLOT_IMAGE) {
      const int rows = l->c.k / 2 + 1;
      N->ring[l->src] = rows > N->ring[l->src] ? rows : N->ring[l->src];
      N->R = rows > N->R ? rows : N->R;
    }
  }
  /* a bf16 twin for a window that only k > 1 records with an a16 GEMM
   * read, written as some record's PReLU output (out16 rides on that
   * epilogue), with an even channel count (rows start on a pair) */
  for (int s = 0; s < m->nslots && !bad; s++) {
    int readers = 0, ok = N->ring[s] > 0 && m->slots[s].ch % 2 == 0, written = 0;
    for (int i = 0; i < m->nlayers; i++) {
      const pcnn_layer_t *l = &m->layers[i];
      if (l->out == s) written = 1;
      if (l->pre == s) ok = 0;
      if (l->res == s) ok = 0;
      if (l->src == s) {
        readers++;
        if (l->c.k == 1 || !N->ly[i].gemm16) ok = 0;
      }
    }
    N->half[s] = ok && written && readers > 0 && !no_twins;
  }
  return bad ? -1 : 0;
}

/* floats one image of slot s takes in a thread's buffers */
static size_t slot_floats(const net_t *N, int s) {
  const size_t ch = (size_t)N->m->slots[s].ch;
  return N->ring[s] ? (size_t)N->ring[s] * N->W * ch : ch;
}

static int tstate_init(tstate_t *T, const net_t *N, int i0, int nt, uint64_t seed) {
  const pcnn_model_t *m = N->m;
  const size_t n = (size_t)nt;
  T->i0 = i0;
  T->nt = nt;
  T->slot = calloc((size_t)m->nslots + (size_t)m->nlayers, sizeof(float *));
  T->slot16 = calloc((size_t)m->nslots, sizeof(uint16_t *));
  T->lda = calloc((size_t)m->nlayers, sizeof(int));
  if (!T->slot || !T->slot16 || !T->lda) return -1;
  T->gath = T->slot + m->nslots;
  size_t total = 0;
  for (int s = 0; s < m->nslots; s++) total += n * slot_floats(N, s);
  for (int s = 0; s < m->nslots; s++) /* the twins: 16-bit words, 2 a float, on 64-byte lines */
    if (N->half[s]) total += (n * slot_floats(N, s) + 1) / 2 + 16;
  for (int i = 0; i < m->nlayers; i++)
    if (m->layers[i].c.k > 1) {
      T->lda[i] = (N->ly[i].ntap + 1) * N->ly[i].cin;
      total += n * (size_t)T->lda[i];
    }
  T->mem = pcnn_floats64(total);
  if (!T->mem) return -1;
  float *p = T->mem;
  for (int s = 0; s < m->nslots; s++) T->slot[s] = p, p += n * slot_floats(N, s);
  for (int s = 0; s < m->nslots; s++)
    if (N->half[s]) {
      p += (16 - (size_t)((uintptr_t)p / sizeof(float)) % 16) % 16;
      T->slot16[s] = (uint16_t *)p, p += (n * slot_floats(N, s) + 1) / 2;
    }
  for (int i = 0; i < m->nlayers; i++)
    if (T->lda[i]) T->gath[i] = p, p += n * (size_t)T->lda[i];
  pcnn_rng_seed(&T->rng, seed);
  return 0;
}

/* slot s (or the image) as this thread reads and writes it */
static src_t view(const net_t *N, const tstate_t *T, const float *img, int s) {
  if (s == PCNN_SLOT_IMAGE)
    return (src_t){img + (size_t)T->i0 * N->H * N->W * N->C, (size_t)N->H * N->W * N->C,
                   (size_t)N->W * N->C, N->C, N->H, N->W};
  const size_t ch = (size_t)N->m->slots[s].ch;
  if (N->ring[s]) return (src_t){T->slot[s], slot_floats(N, s), (size_t)N->W * ch, (int)ch, N->ring[s], N->W};
  return (src_t){T->slot[s], ch, 0, 0, 1, N->W};
}

/* the address of (image 0 of this thread, y, x) in a view */
static float *at(const src_t *v, int y, int x) {
  return (float *)v->base + (size_t)(y % v->ring) * v->s_row + (size_t)x * v->s_pix;
}

/* the same place in slot s's bf16 twin (N->half[s]) */
static uint16_t *at16(const tstate_t *T, int s, const src_t *v, int y, int x) {
  return T->slot16[s] + (size_t)(y % v->ring) * v->s_row + (size_t)x * v->s_pix;
}

/* ---- one layer at one position ---- */

/* d[0..n) = s[0..n) (s NULL: zeros). A tap of the 1- or 3-channel image
 * the first layer gathers is 1 or 3 floats, and there are tens of thousands
 * of them per image: those are moved inline, not by a libc call each (GCC
 * turns a plain copy loop back into memcpy, so spelled out) */
static inline void copy_floats(float *restrict d, const float *restrict s, int n) {
  switch (n) {
    case 3: d[2] = s ? s[2] : 0.0f; /* fall through */
    case 2: d[1] = s ? s[1] : 0.0f; /* fall through */
    case 1: d[0] = s ? s[0] : 0.0f; /* fall through */
    case 0: return;
    default:
      if (s)
        memcpy(d, s, sizeof(float) * (size_t)n);
      else
        memset(d, 0, sizeof(float) * (size_t)n);
  }
}

/* gathers layer L's inputs at (y, x) for output group g into a (nt, lda):
 * the full taps (only when g == 0: they do not change between colours), then
 * the kept centre channels. Returns the GEMM depth K. */
static int gather(float *a, int lda, const clayer_t *L, const src_t *s, int nt, int y, int x, int g) {
  const int cin = L->cin;
  for (int i = 0; i < nt; i++) {
    float *ai = a + (size_t)i * lda;
    const float *si = s->base + (size_t)i * s->s_img;
    if (g == 0)
      for (int t = 0; t < L->ntap; t++) {
        const int yy = y + L->dy[t], xx = x + L->dx[t];
        const int out = yy < 0 || xx < 0 || xx >= s->w;
        copy_floats(ai + (size_t)t * cin,
                    out ? NULL : si + (size_t)(yy % s->ring) * s->s_row + (size_t)xx * s->s_pix, cin);
      }
    copy_floats(ai + (size_t)L->ntap * cin, si + (size_t)(y % s->ring) * s->s_row + (size_t)x * s->s_pix,
                L->kc[g]);
  }
  return L->ntap * cin + L->kc[g];
}

/* the packed weights from row p0 (even at bf16: a pair boundary), column c0:
 * past the packed form of rows [0, p0), in elements of 4 bytes (both forms) */
static const void *wrows(const clayer_t *L, int p0, int c0) {
  return (const uint32_t *)L->bp + pcnn_gemm_packed_len(L->prec, p0, L->cout) + c0;
}

/* whether layer L (k > 1) can read its taps at (y, x) in place, kernel row by
 * kernel row (layer_at): every tap inside the image, pixels of the source
 * packed back to back (s_pix == cin), each kernel row's weight rows starting
 * on a pair (bf16), and rows deep enough (k cin >= 16) that a call per row
 * costs less than the gather */
static int by_rows(const clayer_t *L, const src_t *s, int y, int x) {
  const int k = L->l->c.k, r = k / 2;
  return y >= r && x >= r && x + r < s->w && s->s_pix == L->cin && k * L->cin >= 16 &&
         (L->prec != PCNN_PREC_BF16 || k * L->cin % 2 == 0);
}

/* layer i at (y, x) for output group g: pre = b + conv (+ res), out = PReLU(pre)
 * over the group's columns, exactly the epilogue of model.c's forward */
static void layer_at(const net_t *N, tstate_t *T, const float *img, int i, int y, int x, int g) {
  const clayer_t *L = &N->ly[i];
  const pcnn_layer_t *l = L->l;
  const int nt = T->nt, c0 = pcnn_group_begin(g, L->cout, N->G), c1 = pcnn_group_begin(g + 1, L->cout, N->G);
  const src_t s = view(N, T, img, l->src);
  const src_t sp = view(N, T, img, l->pre);
  const src_t sr = l->res >= 0 ? view(N, T, img, l->res) : (src_t){0};
  const src_t so = l->out >= 0 ? view(N, T, img, l->out) : (src_t){0};
  float *pre = at(&sp, y, x) + c0;
  const int n = c1 - c0, ldc = (int)sp.s_img, k = l->c.k, r = k / 2, cin = L->cin;
  /* the epilogue rides on the GEMM's stores (pcnn_gemm_epi_t): pre = bias +
   * the products (the bias starts the first call), + res, out = PReLU(pre)
   * (at the last call) */
  const int half_out = l->out >= 0 && N->half[l->out]; /* the out window's bf16 twin too */
  const pcnn_gemm_epi_t first = {L->b + c0, NULL, 0, NULL, 0, NULL, NULL, 0};
  const pcnn_gemm_epi_t last = {NULL, l->res >= 0 ? at(&sr, y, x) + c0 : NULL, (int)sr.s_img,
                                l->out >= 0 ? at(&so, y, x) + c0 : NULL, (int)so.s_img,
                                L->alpha ? L->alpha + c0 : NULL,
                                half_out ? at16(T, l->out, &so, y, x) + c0 : NULL, (int)so.s_img};
  const pcnn_gemm_epi_t both = {first.bias, last.res, last.ldr, last.out, last.ldo, last.alpha, last.out16,
                                last.ldo16};
  if (k == 1) {
    L->gemm(pre, at(&s, y, x), wrows(L, 0, c0), nt, n, L->kc[g], (int)s.s_img, L->cout, ldc, &both);
  } else if (by_rows(L, &s, y, x)) {
    /* inside the image the kept taps of kernel row ky are contiguous in the
     * source row y + ky - r (k taps; the centre row: r taps then the kept
     * centre channels), as are the packed weight rows they meet: one GEMM
     * per kernel row, no gather. The same products in the same order as the
     * gathered GEMM (its sums over p run in order across calls), so the
     * same bits. */
    for (int ky = 0; ky <= r; ky++) {
      const int kk = ky < r ? k * cin : r * cin + L->kc[g];
      const pcnn_gemm_epi_t *e = ky == 0 ? &first : ky == r ? &last : NULL;
      if (l->src >= 0 && N->half[l->src]) /* (the same words the float GEMM would round to) */
        L->gemm16(pre, at16(T, l->src, &s, y + ky - r, x - r), wrows(L, ky * k * cin, c0), nt, n, kk,
                  (int)s.s_img, L->cout, ldc, e);
      else
        L->gemm(pre, at(&s, y + ky - r, x - r), wrows(L, ky * k * cin, c0), nt, n, kk, (int)s.s_img, L->cout,
                ldc, e);
    }
  } else {
    const int K = gather(T->gath[i], T->lda[i], L, &s, nt, y, x, g);
    L->gemm(pre, T->gath[i], wrows(L, 0, c0), nt, n, K, T->lda[i], L->cout, ldc, &both);
  }
}

/* the whole network at (y, x) for colour group g of this thread's images:
 * leaves colour g's logits in the logits slot and the windows updated */
static void position(const net_t *N, tstate_t *T, const float *img, int y, int x, int g) {
  if (!N->m->prof) {
    for (int i = 0; i < N->m->nlayers; i++) layer_at(N, T, img, i, y, x, g);
    return;
  }
  for (int i = 0; i < N->m->nlayers; i++) { /* the model's profile: each layer's time */
    const double t0 = omp_get_wtime();
    layer_at(N, T, img, i, y, x, g);
    pcnn_model_prof_add(N->m, (size_t)i * PCNN_DIRS + PCNN_DIR_FWD, omp_get_wtime() - t0);
  }
}

/* copies rows [y0, y1) of every windowed slot for images [j0, j0 + cnt) from
 * the model's activations (a forward of cnt images starting at image j0) */
static void prime_copy(const net_t *N, tstate_t *T, int nT, int j0, int cnt, int y0, int y1) {
  const pcnn_model_t *m = N->m;
  const size_t W = (size_t)N->W;
  for (int s = 0; s < m->nslots; s++) {
    if (!N->ring[s]) continue;
    const size_t ch = (size_t)m->slots[s].ch, win = slot_floats(N, s);
    const float *act = pcnn_model_act(m, s); /* (batch_cap, H, W, ch) */
    for (int t = 0; t < nT; t++)
      for (int i = T[t].i0; i < T[t].i0 + T[t].nt; i++) {
        if (i < j0 || i >= j0 + cnt) continue;
        for (int y = y0; y < y1; y++) {
          const size_t o = (size_t)(i - T[t].i0) * win + (size_t)(y % N->ring[s]) * W * ch;
          const float *src = act + (((size_t)(i - j0) * N->H + y) * W) * ch;
          memcpy(T[t].slot[s] + o, src, sizeof(float) * W * ch);
          if (N->half[s]) /* the bf16 twin: the words the writing GEMM's out16 gives */
            for (size_t e = 0; e < W * ch; e++) T[t].slot16[s][o + e] = pcnn_f32_to_bf16(src[e]);
        }
      }
  }
}

int pcnn_sample_cached(pcnn_model_t *m, float *img, int n, int prime_rows, float temperature,
                       uint64_t seed, pcnn_progress_fn progress, void *ctx,
                       const pcnn_cached_opts_t *opt) {
  const int H = m->cfg.height, W = m->cfg.width, C = m->cfg.channels;
  if (n < 1) return 0;
  if (prime_rows < 0) prime_rows = 0;
  if (prime_rows > H) prime_rows = H;
  for (int i = 0; i < n; i++)
    memset(img + ((size_t)i * H + prime_rows) * W * C, 0,
           (size_t)(H - prime_rows) * W * C * sizeof(float));
  net_t N;
  int nT = omp_get_max_threads();
  if (nT > n) nT = n;
  if (nT < 1) nT = 1;
  tstate_t *T = calloc((size_t)nT, sizeof *T);
  int *rows_done = calloc((size_t)nT, sizeof(int));
  int rc = -1, bad = 0;
  if (net_init(&N, m, opt && opt->no_twins) || !T || !rows_done) goto done;
  /* each thread allocates and first-touches its own windows (10 MB at 16
   * images: zeroing them on one thread was 5% of a 2-thread run) */
#pragma omp parallel for num_threads(nT) schedule(static, 1) reduction(| : bad)
  for (int t = 0; t < nT; t++) {
    const int i0 = (int)((long)t * n / nT), i1 = (int)((long)(t + 1) * n / nT);
    bad |= tstate_init(&T[t], &N, i0, i1 - i0, seed) != 0;
  }
  if (bad) goto done;
  const int incremental = (opt && opt->prime_incremental) || m->batch_cap < 1;
  /* this call's images within the batch the draws are made for */
  const int first = opt && opt->total > 0 ? opt->first : 0, batch = opt && opt->total > 0 ? opt->total : n;
  if (prime_rows > 0 && !incremental) {
    const int y0 = prime_rows - (N.R - 1) > 0 ? prime_rows - (N.R - 1) : 0;
    for (int j0 = 0; j0 < n; j0 += m->batch_cap) {
      const int cnt = n - j0 < m->batch_cap ? n - j0 : m->batch_cap;
      pcnn_model_forward(m, img + (size_t)j0 * H * W * C, cnt);
      prime_copy(&N, T, nT, j0, cnt, y0, prime_rows);
    }
  }
  const int y_start = prime_rows > 0 && incremental ? 0 : prime_rows;
  const int logits = m->layers[m->nlayers - 1].pre; /* (nt, C*K) at the current position */
  const int total = H - prime_rows;
  int reported = 0;
  const pcnn_logits_hook_fn hook = opt ? opt->hook : NULL;
  void *hook_ctx = opt ? opt->hook_ctx : NULL;
#pragma omp parallel num_threads(nT)
  for (int t = omp_get_thread_num(); t < nT; t += omp_get_num_threads()) {
    tstate_t *S = &T[t];
    for (int y = y_start; y < H; y++) {
      const int draw = y >= prime_rows;
      for (int x = 0; x < W; x++)
        for (int g = 0; g < N.G; g++) {
          position(&N, S, img, y, x, g);
          if (!draw) continue;
          for (int i = 0; i < first + S->i0; i++) pcnn_rng_double(&S->rng);
          /* G = 1 with C = 1, G = 3 with C = 3: group g is colour g */
          for (int i = 0; i < S->nt; i++) {
            const float *lg = S->slot[logits] + (size_t)i * N.L + (size_t)g * N.K;
            const int im = S->i0 + i;
            if (hook) hook(hook_ctx, im, y, x, g, lg);
            img[(((size_t)im * H + y) * W + x) * C + g] = pcnn_draw(lg, N.K, temperature, &S->rng);
          }
          for (int i = first + S->i0 + S->nt; i < batch; i++) pcnn_rng_double(&S->rng);
        }
      if (draw && progress) {
#pragma omp critical(pcnn_cached_progress)
        {
          rows_done[t] = y - prime_rows + 1;
          int mn = rows_done[0];
          for (int u = 1; u < nT; u++) mn = rows_done[u] < mn ? rows_done[u] : mn;
          if (mn > reported) {
            reported = mn;
            progress(ctx, mn, total);
          }
        }
      }
    }
  }
  rc = 0;
done:
  if (T)
    for (int t = 0; t < nT; t++) free(T[t].mem), free(T[t].slot), free(T[t].slot16), free(T[t].lda);
  free(T);
  free(rows_done);
  net_free(&N);
  return rc;
}
