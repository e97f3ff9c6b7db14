/* conv_bwd_weights__avx512bf16.c: pcnn_conv_bwd_weights__avx512bf16, the
 * bf16 weight and bias gradients of the masked k x k conv.
 * Contract: pcnn_conv_bwd_weights_fn (pcnn_kernels.h) in the bf16
 * precision: dw [k][k][cin][cout] += in (x) dout at the kept taps, both
 * operands of every product rounded to bf16, summed in fp32; db (cout) +=
 * sum dout in fp32; ACCUMULATES; masked entries of dw are never written.
 * How (conv_bf16.h, engine 2): the reduction is over pixels, so pixels are
 * paired: dout rows packed as pixel pairs [coutp][2], the input as pixel
 * pairs [cin][2] from even and from odd columns of rows padded by r zeros;
 * a block is up to 6 kept (tap, ci) rows x 4 output vectors, one 32-bit
 * broadcast per row and 4 dout loads per pixel pair, kept in registers over
 * a band of 4 output rows. k == 1 and the first layer: the same engine.
 * Work split (fixed by the shape): nk pixel chunks x units, nk from
 * pw_chunks (PW_PAR_ITEMS); with nk > 1 per-chunk partials added in chunk
 * order; the bias gradient summed per chunk by the owner of the chunk's
 * first unit, added in chunk order: the same bits at any thread count.
 * Cost: each thread packs the bands of its items (dout pixel pairs, the
 * bias sums, two input pair copies) into its own slice, in cache; the next
 * band is prefetched into L2 for tensors beyond 1 MiB; the partials and
 * their combine (nk > 1). Scratch of the calling thread, grown once; none:
 * the bf16 reference. */
#include "conv_bf16.h"
#include "pw_conv1x1.h"

void pcnn_conv_bwd_weights__avx512bf16(float *dw, float *db, const float *dout, const float *in,
                                       const pcnn_conv_t *c) {
  if (c->k == 1 && pcnn_conv1x1_bwd_weights__avx512bf16(dw, db, dout, in, c)) return;
  if (!cb_conv_bwd_weights(dw, db, dout, in, c)) pcnn_conv_bwd_weights__ref_bf16(dw, db, dout, in, c);
}
