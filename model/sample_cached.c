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
 * What is kept. Only convolutions with k > 1 read other positions: the 7x7
 * input conv reads the image itself (kept whole by the caller), and each
 * block's 3x3 conv2 reads a2 = PReLU(conv1(...)) of the current and the
 * previous row. Every other layer is a 1x1 and needs its input at the current
 * position only. So the only cache is, per block, a rolling window of the last
 * k/2 + 1 = 2 rows of a2, indexed by row mod 2. We chose the window over a
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
 * (AVX-512 / AVX2). Colour groups: for colour g only output group g of every
 * layer is computed (columns [group_begin(g), group_begin(g+1))), reading the
 * centre-tap channels the mask keeps for it, a prefix of cin
 * (pcnn_mask_co_begin); the masked-out taps are never read. So R, G, B cost
 * one position's forward in total.
 * PReLU and the residual add are applied exactly as model.c's forward does.
 *
 * Threads: the batch is split into one contiguous chunk of images per thread
 * and each thread runs the whole sampling of its chunk with its own buffers,
 * without barriers. The draw order of sample.h is kept: each thread holds a
 * copy of the one generator and, at every (position, colour), advances it past
 * the draws of the images before its chunk, draws its own, and skips the rest
 * (pcnn_draw takes exactly one pcnn_rng_double per draw), so every image gets
 * the same uniform as in the naive sampler.
 *
 * Image completion: the primed rows are run through one batched
 * pcnn_model_forward (in chunks of the model's batch_cap), and the last rows
 * of each block's a2 are copied from the model's activations into the windows;
 * sampling then continues position by position. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

#define NONE ((size_t)-1)

/* a conv layer seen from one output position */
typedef struct {
  int cin, cout;
  int ntap;     /* full taps: all cin -> all cout kept */
  int *dy, *dx; /* their offsets from the output position */
  int kc[3];    /* centre-tap rows (a prefix of cin) kept for output group g */
  float *w;     /* packed (ntap*cin + cin, cout): full taps, then the centre */
  const float *b, *alpha; /* bias (cout); PReLU slope (cout) or NULL */
  pcnn_gemm_acc_fn *gemm; /* the plan's kernel for this layer's forward */
} clayer_t;

/* where a layer's input lives: value(i, y, x, c) =
 * base[i*s_img + (y % ring)*s_row + x*s_pix + c], zero outside the image */
typedef struct {
  const float *base;
  size_t s_img, s_row;
  int s_pix, ring, w;
} src_t;

typedef struct {
  const pcnn_model_t *m;
  int F, Hc, D, L, K, G, H, W, C, R; /* R: rows in each a2 window */
  clayer_t in, out[2], head;
  clayer_t *c1, *c2, *c3; /* per block */
  const float **prelu1;   /* per block */
  const float *out_prelu;
} net_t;

/* one thread's images [i0, i0 + nt) and its buffers */
typedef struct {
  int i0, nt;
  float *mem;
  float *x;      /* (nt, F) residual stream at the current position */
  float *t;      /* (nt, F) conv3 output */
  float *a1;     /* (D, nt, F) PReLU(x_d) */
  float *a2;     /* (D, nt, R, W, Hc) window of PReLU(conv1) */
  float *a3;     /* (D, nt, Hc) PReLU(conv2) */
  float *af, *o0, *o1; /* (nt, F) */
  float *logits; /* (nt, L) */
  float *gin;    /* (nt, lda_in) gathered input of the 7x7 */
  float *g2;     /* (D, nt, lda2) gathered input of each conv2 */
  int lda_in, lda2;
  pcnn_rng_t rng;
} tstate_t;

static void clayer_free(clayer_t *L) {
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
  L->gemm = m->tab[l->role][PCNN_DIR_FWD].gemm_acc;
  L->cin = cin;
  L->cout = cout;
  L->ntap = r * k + r;
  L->dy = malloc(sizeof(int) * 2 * (size_t)(L->ntap + 1));
  L->w = malloc(sizeof(float) * (size_t)(L->ntap + 1) * cin * cout);
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
  L->alpha = l->alpha != NONE ? params + l->alpha : NULL;
  return 0;
}

static void net_free(net_t *N) {
  clayer_free(&N->in);
  for (int i = 0; i < 2; i++) clayer_free(&N->out[i]);
  clayer_free(&N->head);
  for (int d = 0; d < N->D && N->c1; d++) {
    clayer_free(&N->c1[d]);
    clayer_free(&N->c2[d]);
    clayer_free(&N->c3[d]);
  }
  free(N->c1);
  free(N->prelu1);
}

static int net_init(net_t *N, const pcnn_model_t *m) {
  memset(N, 0, sizeof *N);
  const float *P = m->params;
  N->m = m;
  N->F = m->cfg.filters;
  N->Hc = N->F / 2;
  N->D = m->cfg.depth;
  N->K = m->k_out;
  N->C = m->cfg.channels;
  N->L = N->C * N->K;
  N->G = m->groups;
  N->H = m->cfg.height;
  N->W = m->cfg.width;
  const int nd = N->D > 0 ? N->D : 1;
  N->c1 = calloc((size_t)nd * 3, sizeof(clayer_t));
  N->prelu1 = calloc((size_t)nd, sizeof(float *));
  if (!N->c1 || !N->prelu1) return -1;
  N->c2 = N->c1 + nd;
  N->c3 = N->c2 + nd;
  int bad = clayer_pack(&N->in, m, &m->in, P);
  for (int i = 0; i < 2; i++) bad |= clayer_pack(&N->out[i], m, &m->out[i], P);
  bad |= clayer_pack(&N->head, m, &m->head, P);
  N->R = N->D > 0 ? m->blocks[0].conv2.c.k / 2 + 1 : 1;
  for (int d = 0; d < N->D; d++) {
    bad |= clayer_pack(&N->c1[d], m, &m->blocks[d].conv1, P);
    bad |= clayer_pack(&N->c2[d], m, &m->blocks[d].conv2, P);
    bad |= clayer_pack(&N->c3[d], m, &m->blocks[d].conv3, P);
    N->prelu1[d] = P + m->blocks[d].prelu1;
  }
  N->out_prelu = P + m->out_prelu;
  return bad ? -1 : 0;
}

static int tstate_init(tstate_t *T, const net_t *N, int i0, int nt, uint64_t seed) {
  const size_t F = (size_t)N->F, Hc = (size_t)N->Hc, D = (size_t)N->D, n = (size_t)nt;
  T->i0 = i0;
  T->nt = nt;
  T->lda_in = (N->in.ntap + 1) * N->in.cin;
  T->lda2 = N->D > 0 ? (N->c2[0].ntap + 1) * N->c2[0].cin : 0;
  const size_t total = n * (5 * F + D * F + D * N->R * N->W * Hc + D * Hc + (size_t)N->L +
                            (size_t)T->lda_in + D * (size_t)T->lda2);
  T->mem = calloc(total, sizeof(float));
  if (!T->mem) return -1;
  float *p = T->mem;
#define CARVE(ptr, count) (ptr = p, p += (count))
  CARVE(T->x, n * F);
  CARVE(T->t, n * F);
  CARVE(T->af, n * F);
  CARVE(T->o0, n * F);
  CARVE(T->o1, n * F);
  CARVE(T->a1, D * n * F);
  CARVE(T->a2, D * n * N->R * N->W * Hc);
  CARVE(T->a3, D * n * Hc);
  CARVE(T->logits, n * N->L);
  CARVE(T->gin, n * T->lda_in);
  CARVE(T->g2, D * n * T->lda2);
#undef CARVE
  pcnn_rng_seed(&T->rng, seed);
  return 0;
}

/* ---- one layer at one position ---- */

/* c[i][c0..c1) = b[c0..c1) */
static void set_bias(float *c, size_t ldc, const float *b, int nt, int c0, int c1) {
  for (int i = 0; i < nt; i++) memcpy(c + i * ldc + c0, b + c0, sizeof(float) * (size_t)(c1 - c0));
}

/* out[i][ch] = prelu(x[i][ch]) for ch in [c0, c1); out may be x */
static void prelu(float *out, size_t ldo, const float *x, size_t ldx, const float *alpha, int nt,
                  int c0, int c1) {
  /* omp simd: vectorised (baseline SSE) without a branch per element, whose
   * mispredictions on random signs cost more than the GEMMs */
  for (int i = 0; i < nt; i++) {
    float *o = out + i * ldo;
    const float *xi = x + i * ldx;
#pragma omp simd
    for (int ch = c0; ch < c1; ch++) {
      /* select by bit mask: GCC will not if-convert the float ?: here */
      const float v = xi[ch], av = alpha[ch] * v;
      uint32_t vb, ab, r;
      memcpy(&vb, &v, 4);
      memcpy(&ab, &av, 4);
      const uint32_t pos = 0u - (uint32_t)(v > 0);
      r = (vb & pos) | (ab & ~pos);
      memcpy(&o[ch], &r, 4);
    }
  }
}

/* gathers layer L's inputs at (y, x) for output group g into a (nt, lda):
 * the full taps (only when g == 0: they do not change between colours), then
 * the kept centre channels. Returns the GEMM depth K. */
static int gather(float *a, int lda, const clayer_t *L, const src_t *s, int nt, int y, int x, int g) {
  const int cin = L->cin;
  const size_t row = sizeof(float) * (size_t)cin;
  for (int i = 0; i < nt; i++) {
    float *ai = a + (size_t)i * lda;
    const float *si = s->base + (size_t)i * s->s_img;
    if (g == 0)
      for (int t = 0; t < L->ntap; t++) {
        const int yy = y + L->dy[t], xx = x + L->dx[t];
        if (yy < 0 || xx < 0 || xx >= s->w)
          memset(ai + (size_t)t * cin, 0, row);
        else
          memcpy(ai + (size_t)t * cin, si + (size_t)(yy % s->ring) * s->s_row + (size_t)xx * s->s_pix,
                 row);
      }
    memcpy(ai + (size_t)L->ntap * cin, si + (size_t)(y % s->ring) * s->s_row + (size_t)x * s->s_pix,
           sizeof(float) * (size_t)L->kc[g]);
  }
  return L->ntap * cin + L->kc[g];
}

/* out[:, group g] = prelu?(b + a * w) of a 1x1 layer, a (nt, cin) at lda */
static void dense(const net_t *N, float *out, size_t ldo, const clayer_t *L, const float *a,
                  int lda, int nt, int g) {
  const int c0 = pcnn_group_begin(g, L->cout, N->G), c1 = pcnn_group_begin(g + 1, L->cout, N->G);
  set_bias(out, ldo, L->b, nt, c0, c1);
  L->gemm(out + c0, a, L->w + c0, nt, c1 - c0, L->kc[g], lda, L->cout, (int)ldo);
  if (L->alpha) prelu(out, ldo, out, ldo, L->alpha, nt, c0, c1);
}

/* the whole network at (y, x) for colour group g of this thread's images:
 * leaves colour g's logits in T->logits[:, g*K .. g*K+K) and a2 in the windows */
static void position(const net_t *N, tstate_t *T, const float *img, int y, int x, int g) {
  const int F = N->F, Hc = N->Hc, nt = T->nt, W = N->W;
  const int c0 = pcnn_group_begin(g, F, N->G), c1 = pcnn_group_begin(g + 1, F, N->G);
  const size_t win = (size_t)N->R * W * Hc; /* one image's a2 window */
  /* in: masked 7x7 type A over the image */
  const src_t si = {img + (size_t)T->i0 * N->H * W * N->C, (size_t)N->H * W * N->C,
                    (size_t)W * N->C, N->C, N->H, W};
  int k = gather(T->gin, T->lda_in, &N->in, &si, nt, y, x, g);
  set_bias(T->x, F, N->in.b, nt, c0, c1);
  N->in.gemm(T->x + c0, T->gin, N->in.w + c0, nt, c1 - c0, k, T->lda_in, F, F);
  for (int d = 0; d < N->D; d++) {
    float *a1 = T->a1 + (size_t)d * nt * F, *a3 = T->a3 + (size_t)d * nt * Hc;
    float *a2 = T->a2 + (size_t)d * nt * win, *g2 = T->g2 + (size_t)d * nt * T->lda2;
    prelu(a1, F, T->x, F, N->prelu1[d], nt, c0, c1);
    /* conv1 (1x1 + PReLU) into the window at (y, x) */
    dense(N, a2 + (size_t)(y % N->R) * W * Hc + (size_t)x * Hc, win, &N->c1[d], a1, F, nt, g);
    /* conv2 (3x3 + PReLU) from the window */
    const src_t s2 = {a2, win, (size_t)W * Hc, Hc, N->R, W};
    const clayer_t *L2 = &N->c2[d];
    const int h0 = pcnn_group_begin(g, Hc, N->G), h1 = pcnn_group_begin(g + 1, Hc, N->G);
    k = gather(g2, T->lda2, L2, &s2, nt, y, x, g);
    set_bias(a3, Hc, L2->b, nt, h0, h1);
    L2->gemm(a3 + h0, g2, L2->w + h0, nt, h1 - h0, k, T->lda2, Hc, Hc);
    prelu(a3, Hc, a3, Hc, L2->alpha, nt, h0, h1);
    /* x += conv3(a3) */
    dense(N, T->t, F, &N->c3[d], a3, Hc, nt, g);
    for (int i = 0; i < nt; i++) {
      float *xi = T->x + (size_t)i * F;
      const float *ti = T->t + (size_t)i * F;
#pragma omp simd
      for (int ch = c0; ch < c1; ch++) xi[ch] += ti[ch];
    }
  }
  prelu(T->af, F, T->x, F, N->out_prelu, nt, c0, c1);
  dense(N, T->o0, F, &N->out[0], T->af, F, nt, g);
  dense(N, T->o1, F, &N->out[1], T->o0, F, nt, g);
  dense(N, T->logits, N->L, &N->head, T->o1, F, nt, g);
}

/* copies rows [y0, y1) of every block's a2 for images [j0, j0 + cnt) from the
 * model's activations (batch of cnt starting at image j0) into the windows */
static void prime_copy(const net_t *N, tstate_t *T, int nT, int j0, int cnt, int y0, int y1) {
  const pcnn_model_t *m = N->m;
  const size_t Hc = (size_t)N->Hc, W = (size_t)N->W;
  const size_t Pc = (size_t)m->batch_cap * N->H * N->W, win = (size_t)N->R * W * Hc;
  for (int t = 0; t < nT; t++)
    for (int i = T[t].i0; i < T[t].i0 + T[t].nt; i++) {
      if (i < j0 || i >= j0 + cnt) continue;
      for (int d = 0; d < N->D; d++)
        for (int y = y0; y < y1; y++)
          memcpy(T[t].a2 + (size_t)d * T[t].nt * win + (size_t)(i - T[t].i0) * win +
                     (size_t)(y % N->R) * W * Hc,
                 m->a2 + d * Pc * Hc + (((size_t)(i - j0) * N->H + y) * W) * Hc,
                 sizeof(float) * W * Hc);
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
  int rc = -1;
  if (net_init(&N, m) || !T || !rows_done) goto done;
  for (int t = 0; t < nT; t++) {
    const int i0 = (int)((long)t * n / nT), i1 = (int)((long)(t + 1) * n / nT);
    if (tstate_init(&T[t], &N, i0, i1 - i0, seed)) goto done;
  }
  const int incremental = (opt && opt->prime_incremental) || m->batch_cap < 1;
  if (prime_rows > 0 && !incremental) {
    const int y0 = prime_rows - (N.R - 1) > 0 ? prime_rows - (N.R - 1) : 0;
    for (int j0 = 0; j0 < n; j0 += m->batch_cap) {
      const int cnt = n - j0 < m->batch_cap ? n - j0 : m->batch_cap;
      pcnn_model_forward(m, img + (size_t)j0 * H * W * C, cnt);
      prime_copy(&N, T, nT, j0, cnt, y0, prime_rows);
    }
  }
  const int y_start = prime_rows > 0 && incremental ? 0 : prime_rows;
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
          for (int i = 0; i < S->i0; i++) pcnn_rng_double(&S->rng);
          /* G = 1 with C = 1, G = 3 with C = 3: group g is colour g */
          for (int i = 0; i < S->nt; i++) {
            const float *lg = S->logits + (size_t)i * N.L + (size_t)g * N.K;
            const int im = S->i0 + i;
            if (hook) hook(hook_ctx, im, y, x, g, lg);
            img[(((size_t)im * H + y) * W + x) * C + g] = pcnn_draw(lg, N.K, temperature, &S->rng);
          }
          for (int i = S->i0 + S->nt; i < n; i++) pcnn_rng_double(&S->rng);
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
    for (int t = 0; t < nT; t++) free(T[t].mem);
  free(T);
  free(rows_done);
  net_free(&N);
  return rc;
}
