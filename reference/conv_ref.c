/* conv_ref.c: masked k x k convolution, forward and backward, plain C.
 * Loops visit only the taps the mask keeps: rows ky <= r, and in the centre
 * row kx <= r; within a tap, input channel ci reaches outputs
 * [pcnn_mask_co_begin(ci), cout). Threads (OpenMP) split over images for the
 * forward and the data gradient, and over input channels for the weight
 * gradient, so every output element has one writer and the result does not
 * depend on the thread count. The __ref_bf16 twins (bf16 precision,
 * pcnn_kernels.h) run the same loops with both operands of every product
 * rounded to bf16. */
#include "pcnn_bf16.h"
#include "pcnn_kernels.h"

/* bf: 1 for the bf16 precision (the __ref_bf16 twins): both operands of
 * every product rounded to bf16 (pcnn_bf16.h), everything else as FP32 */
#define BF(x) (bf ? pcnn_bf16_round(x) : (x))

/* image-row pointer helpers; NHWC */
#define PIX(base, C, c, n, y, x) ((base) + ((((size_t)(n) * (c)->h + (y)) * (c)->w + (x)) * (C)))

static void conv_fwd(const int bf, float *out, const float *in, const float *w, const float *b,
                     const pcnn_conv_t *c) {
  /* out (N,H,W,cout); in (N,H,W,cin); w [k][k][cin][cout]; b (cout) */
  const int r = c->k / 2, cin = c->cin, cout = c->cout;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < c->n; n++)
    for (int y = 0; y < c->h; y++)
      for (int x = 0; x < c->w; x++) {
        float *o = PIX(out, cout, c, n, y, x);
        for (int co = 0; co < cout; co++) o[co] = b[co];
        for (int ky = 0; ky <= r; ky++) {
          const int iy = y + ky - r;
          if (iy < 0) continue;
          const int kxe = ky < r ? c->k - 1 : r;
          for (int kx = 0; kx <= kxe; kx++) {
            const int ix = x + kx - r;
            if (ix < 0 || ix >= c->w) continue;
            const float *ip = PIX(in, cin, c, n, iy, ix);
            const float *wt = w + ((size_t)ky * c->k + kx) * cin * cout;
            for (int ci = 0; ci < cin; ci++) {
              const float v = BF(ip[ci]);
              const float *wr = wt + (size_t)ci * cout;
              for (int co = pcnn_mask_co_begin(c, ky, kx, ci); co < cout; co++) o[co] += v * BF(wr[co]);
            }
          }
        }
      }
}

static void conv_bwd_data(const int bf, float *din, const float *dout, const float *w, const pcnn_conv_t *c0) {
  const pcnn_conv_t cz = pcnn_conv_zero_din(din, c0), *c = &cz; /* OVERWRITE: zeroed, then += */
  /* din (N,H,W,cin) += sum over kept taps of w * dout at the pixel the tap feeds */
  const int r = c->k / 2, cin = c->cin, cout = c->cout;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < c->n; n++)
    for (int y = 0; y < c->h; y++)
      for (int x = 0; x < c->w; x++) {
        /* gather: input pixel (y, x) feeds output (y - ky + r, x - kx + r) */
        float *di = PIX(din, cin, c, n, y, x);
        for (int ky = 0; ky <= r; ky++) {
          const int oy = y - ky + r;
          if (oy >= c->h) continue;
          const int kxe = ky < r ? c->k - 1 : r;
          for (int kx = 0; kx <= kxe; kx++) {
            const int ox = x - kx + r;
            if (ox < 0 || ox >= c->w) continue;
            const float *go = PIX(dout, cout, c, n, oy, ox);
            const float *wt = w + ((size_t)ky * c->k + kx) * cin * cout;
            for (int ci = 0; ci < cin; ci++) {
              const float *wr = wt + (size_t)ci * cout;
              float s = 0.f;
              for (int co = pcnn_mask_co_begin(c, ky, kx, ci); co < cout; co++) s += BF(wr[co]) * BF(go[co]);
              di[ci] += s;
            }
          }
        }
      }
}

static void conv_bwd_weights(const int bf, float *dw, float *db, const float *dout, const float *in,
                             const pcnn_conv_t *c) {
  /* dw [k][k][cin][cout] += in (x) dout at kept taps; db (cout) += sum dout */
  const int r = c->k / 2, cin = c->cin, cout = c->cout;
#pragma omp parallel for schedule(static)
  for (int ci = 0; ci < cin; ci++)
    for (int ky = 0; ky <= r; ky++) {
      const int kxe = ky < r ? c->k - 1 : r;
      for (int kx = 0; kx <= kxe; kx++) {
        const int co0 = pcnn_mask_co_begin(c, ky, kx, ci);
        float *dwr = dw + (((size_t)ky * c->k + kx) * cin + ci) * cout;
        for (int n = 0; n < c->n; n++)
          for (int y = 0; y < c->h; y++) {
            const int iy = y + ky - r;
            if (iy < 0) continue;
            for (int x = 0; x < c->w; x++) {
              const int ix = x + kx - r;
              if (ix < 0 || ix >= c->w) continue;
              const float v = BF(PIX(in, cin, c, n, iy, ix)[ci]);
              const float *go = PIX(dout, cout, c, n, y, x);
              for (int co = co0; co < cout; co++) dwr[co] += v * BF(go[co]);
            }
          }
      }
    }
  const size_t p = (size_t)c->n * c->h * c->w;
  for (size_t i = 0; i < p; i++)
    for (int co = 0; co < cout; co++) db[co] += dout[i * cout + co];
}

/* db is a sum of dout, no products: fp32 in both precisions */
void pcnn_conv_fwd__ref(float *out, const float *in, const float *w, const float *b, const pcnn_conv_t *c) {
  conv_fwd(0, out, in, w, b, c);
}
void pcnn_conv_bwd_data__ref(float *din, const float *dout, const float *w, const pcnn_conv_t *c) {
  conv_bwd_data(0, din, dout, w, c);
}
void pcnn_conv_bwd_weights__ref(float *dw, float *db, const float *dout, const float *in, const pcnn_conv_t *c) {
  conv_bwd_weights(0, dw, db, dout, in, c);
}
void pcnn_conv_fwd__ref_bf16(float *out, const float *in, const float *w, const float *b, const pcnn_conv_t *c) {
  conv_fwd(1, out, in, w, b, c);
}
void pcnn_conv_bwd_data__ref_bf16(float *din, const float *dout, const float *w, const pcnn_conv_t *c) {
  conv_bwd_data(1, din, dout, w, c);
}
void pcnn_conv_bwd_weights__ref_bf16(float *dw, float *db, const float *dout, const float *in,
                                     const pcnn_conv_t *c) {
  conv_bwd_weights(1, dw, db, dout, in, c);
}
