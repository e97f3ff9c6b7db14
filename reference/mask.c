/* mask.c: the PixelCNN mask (see the contract in kernels/pcnn_kernels.h). */
#include "pcnn_kernels.h"

#include <string.h>

int pcnn_group_begin(int g, int c, int groups) { return (int)(((long)g * c) / groups); }

int pcnn_group_of(int i, int c, int groups) {
  int g = 0;
  while (g + 1 < groups && i >= pcnn_group_begin(g + 1, c, groups)) g++;
  return g;
}

int pcnn_mask_keep(const pcnn_conv_t *c, int ky, int kx, int ci, int co) {
  const int r = c->k / 2;
  if (ky < r) return 1;                 /* rows above the centre */
  if (ky > r) return 0;                 /* rows below */
  if (kx < r) return 1;                 /* left of the centre */
  if (kx > r) return 0;                 /* right of the centre */
  const int gi = pcnn_group_of(ci, c->cin, c->groups);
  const int go = pcnn_group_of(co, c->cout, c->groups);
  return c->mask == PCNN_MASK_A ? gi < go : gi <= go;
}

int pcnn_mask_co_begin(const pcnn_conv_t *c, int ky, int kx, int ci) {
  const int r = c->k / 2;
  if (ky < r || (ky == r && kx < r)) return 0;
  if (ky > r || kx > r) return c->cout;
  /* centre: output groups from gi (B) or gi + 1 (A) on */
  const int gi = pcnn_group_of(ci, c->cin, c->groups);
  return pcnn_group_begin(gi + (c->mask == PCNN_MASK_A), c->cout, c->groups);
}

void pcnn_mask_fill(float *mask, const pcnn_conv_t *c) {
  /* mask [k][k][cin][cout] */
  for (int ky = 0; ky < c->k; ky++)
    for (int kx = 0; kx < c->k; kx++)
      for (int ci = 0; ci < c->cin; ci++)
        for (int co = 0; co < c->cout; co++)
          mask[(((size_t)ky * c->k + kx) * c->cin + ci) * c->cout + co] =
              (float)pcnn_mask_keep(c, ky, kx, ci, co);
}

double pcnn_conv_useful_macs(const pcnn_conv_t *c) {
  /* kept (tap, ci, co) triples times output pixels; border taps that fall in
   * the zero padding are still counted, as benchdnn does for dense convs */
  double kept = 0;
  for (int ky = 0; ky < c->k; ky++)
    for (int kx = 0; kx < c->k; kx++)
      for (int ci = 0; ci < c->cin; ci++) kept += c->cout - pcnn_mask_co_begin(c, ky, kx, ci);
  return kept * c->n * c->h * c->w;
}

double pcnn_conv_dense_macs(const pcnn_conv_t *c) {
  return (double)c->k * c->k * c->cin * c->cout * c->n * c->h * c->w;
}

const float pcnn_zeros[PCNN_ZEROS] __attribute__((aligned(64)));

pcnn_conv_t pcnn_conv_zero_din(float *din, const pcnn_conv_t *c) {
  pcnn_conv_t a = *c;
  if (a.flags & PCNN_CONV_OVERWRITE) {
    memset(din, 0, (size_t)a.n * a.h * a.w * a.cin * sizeof(float));
    a.flags &= ~(unsigned)PCNN_CONV_OVERWRITE;
  }
  return a;
}

const char *pcnn_conv_check(const pcnn_conv_t *c) {
  if (c->n < 1 || c->h < 1 || c->w < 1) return "batch, height and width must be >= 1";
  if (c->cin < 1 || c->cout < 1) return "channel counts must be >= 1";
  if (c->k < 1 || c->k % 2 == 0) return "kernel size must be odd and >= 1";
  if (c->mask != PCNN_MASK_A && c->mask != PCNN_MASK_B) return "mask must be A or B";
  if (c->groups != 1 && c->groups != 3) return "colour groups must be 1 or 3";
  if (c->cin < c->groups || c->cout < c->groups) return "each colour group needs a channel";
  if (c->flags & ~(unsigned)(PCNN_CONV_OVERWRITE | PCNN_CONV_STREAM_PRE)) return "unknown flags";
  return 0;
}
