/* conv_prelu_fwd__avx512bf16.c: pcnn_conv_prelu_fwd__avx512bf16, the bf16
 * masked k x k conv with the residual add and the PReLU in its epilogue.
 * Contract: pcnn_conv_prelu_fwd_fn (pcnn_kernels.h) in the bf16 precision:
 * pre = masked_conv(in, w) + b (+ res if res != NULL), out = prelu(pre,
 * alpha); the conv's products have both operands rounded to bf16 and are
 * summed in fp32; bias, residual and PReLU in fp32.
 * How: the forward of conv_fwd__avx512bf16.c (conv_bf16.h, engine 1), with
 * the add and the PReLU applied to the register tile, which is stored as pre
 * and, through the PReLU, as out in one pass. k == 1 (conv3 of the seed
 * model): the pixel-block GEMM of conv1x1_bf16.h, whose tiles prefetch their
 * residual into L1 while the products run (engine 1 read it from memory
 * after them).
 * Work split: as conv_fwd__avx512bf16 (the N x H output rows; k == 1:
 * blocks of 96 pixels; the head: pixels); one writer per output: the same
 * bits at any thread count.
 * Measured (AMD EPYC Zen 4 VM, 2 cores, loaded by other jobs; bench row
 * conv_prelu_fwd/1x1B_64-128/avx512bf16/t1, thread CPU time, medians of 3
 * alternating rounds against the previous build): 4.38 -> 3.31 ms at N = 32
 * (the plain conv_fwd row: 2.44 -> 2.52, unchanged within the noise;
 * oneDNN's bf16 1x1 forward without the epilogue: 1.96).
 * Cost: as conv_fwd__avx512bf16 (row conversion, weight packing per call,
 * in the calling thread's scratch; no scratch: the bf16 reference). */
#include "conv1x1_bf16.h"

void pcnn_conv_prelu_fwd__avx512bf16(float *pre, float *out, const float *in, const float *w,
                                     const float *b, const float *res, const float *alpha,
                                     const pcnn_conv_t *c) {
  const cb_epi_t e = {res, out, alpha};
  if (c->k == 1 && !cb_dot_fits(c) && c1_conv_fwd(pre, in, w, b, &e, c)) return;
  if (!cb_conv_fwd(pre, in, w, b, &e, c)) pcnn_conv_prelu_fwd__ref_bf16(pre, out, in, w, b, res, alpha, c);
}
