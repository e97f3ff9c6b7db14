/* conv_bwd_weights__avx512bf16.c: pcnn_conv_bwd_weights__avx512bf16, the
 * bf16 weight and bias gradients of the masked k x k conv.
 * Contract: pcnn_conv_bwd_weights_fn (pcnn_kernels.h) in the bf16
 * precision: dw [k][k][cin][cout] += in (x) dout at the kept taps, both
 * operands of every product rounded to bf16, summed in fp32; db (cout) +=
 * sum dout in fp32; ACCUMULATES; masked entries of dw are never written.
 * k == 1 (conv3 and the head of the seed model): the 1x1 weight gradient
 * without the PReLU, pcnn_conv1x1_bwd_weights__avx512bf16 (pw_conv1x1.h, in
 * conv1x1_prelu_bwd_weights__avx512bf16.c: blocks of pixel pairs, 6 x 4
 * register tiles, one running sum on a one-thread team, a one-column layer
 * with the input channels in the lanes); engine 2 below only when that
 * kernel cannot take the shape (cin > 512, cout > 4096, no scratch).
 * How (conv_bf16.h, engine 2): the reduction is over pixels, so pixels are
 * paired: dout rows packed as pixel pairs [coutp][2], the input as pixel
 * pairs [cin][2] from even and from odd columns of rows padded by r zeros;
 * a block is up to 6 kept (tap, ci) rows x 4 output vectors, one 32-bit
 * broadcast per row and 4 dout loads per pixel pair, kept in registers over
 * a run of up to 16 output rows (whole 4-row bands of one image, packed
 * together; the same sums in the same order as band by band). The first
 * layer: the same engine.
 * Work split (fixed by the shape): nk pixel chunks (at least 8 bands each)
 * x units, nk from pw_chunks (PW_PAR_ITEMS); with nk > 1 per-chunk partials
 * added in chunk order; the bias gradient summed per chunk by the owner of
 * the chunk's first unit, added in chunk order: the same bits at any thread
 * count. One image (the model's per-image calls) is one chunk: no partials.
 * Cost: each thread packs the runs of its items (dout pixel pairs, the
 * bias sums, two input pair copies) into its own slice, in cache; the next
 * run is prefetched into L2 for tensors beyond 1 MiB; the partials and
 * their combine (nk > 1). Scratch of the calling thread, grown once; none:
 * the bf16 reference.
 * Measured (AMD EPYC Zen 4 VM, 2 cores shared with other jobs; one thread,
 * thread CPU time per call, medians of 5 alternating rounds against the
 * FP32 AVX-512 kernel), one image (N = 1, 28x28, as the model calls it):
 * 3x3 B 64->64 158 us (203 GFLOP/s of useful multiply-adds, 88% of the 231
 * GFLOP/s VDPBF16PS peak; 1.91x FP32), was 188 us (1.64x) with 4-row bands
 * and 2 chunks; the runs gave 188 -> 168 us, one chunk 168 -> 158 us. k = 1:
 * plain 64->128 70 us (1.81x FP32, was 85 us in engine 2), the head 128->1
 * 9.4 us (0.70x FP32, was 31 us). */
#include "conv_bf16.h"
#include "pw_conv1x1.h"

void pcnn_conv_bwd_weights__avx512bf16(float *dw, float *db, const float *dout, const float *in,
                                       const pcnn_conv_t *c) {
  if (c->k == 1 && pcnn_conv1x1_bwd_weights__avx512bf16(dw, db, dout, in, c)) return;
  if (!cb_conv_bwd_weights(dw, db, dout, in, c)) pcnn_conv_bwd_weights__ref_bf16(dw, db, dout, in, c);
}
