/* conv_fwd__avx512bf16.c: pcnn_conv_fwd__avx512bf16, the bf16 masked k x k
 * conv forward (AVX512_BF16).
 * Contract: pcnn_conv_fwd_fn (pcnn_kernels.h) in the bf16 precision: out
 * (N,H,W,cout) = masked_conv(in (N,H,W,cin), w [k][k][cin][cout]) + b, both
 * operands of every product rounded to bf16 (nearest even), the products
 * and the bias summed in fp32; overwrites out.
 * How (conv_bf16.h, engine 1): each thread converts the input rows it needs
 * to channel pairs (once per row, in cache); the kept taps are packed per
 * call as [cp][coutp] pairs (masked entries zero, never read); 6 pixels x
 * 4 zmm of VDPBF16PS per channel pair. Few input channels (cin < 16, the
 * first layer): row-im2col straight in bf16, the kept-tap inputs paired
 * (7x7 A, cin 1: 13 pairs per pixel). k == 1: the pixel-block GEMM of
 * conv1x1_bf16.h (blocks of 96 pixels converted per thread, 6 x 4 zmm tiles
 * on the weights packed as [cin/2][cout] pairs); a 1x1 with at most 4
 * outputs (the head) runs dot products over cin. Outputs above 4 MiB:
 * non-temporal stores.
 * Work split: the N x H output rows (k == 1: blocks of 96 pixels; the head:
 * pixels), statically over threads; one writer per output, taps and pairs
 * in a fixed order: the same bits at any thread count.
 * Cost: the weight packing per call is 1% of a seed 3x3 B 64->64 or 1x1
 * 64->128 forward at N = 1 (perf, AMD EPYC Zen 4), 1/32 of that at N = 32;
 * the row conversion 3-5%. Scratch of the calling thread, grown once; if it
 * cannot be allocated, the bf16 reference runs. */
#include "conv1x1_bf16.h"

void pcnn_conv_fwd__avx512bf16(float *out, const float *in, const float *w, const float *b,
                               const pcnn_conv_t *c) {
  if (c->k == 1 && !cb_dot_fits(c) && c1_conv_fwd(out, in, w, b, NULL, c)) return;
  if (!cb_conv_fwd(out, in, w, b, NULL, c)) pcnn_conv_fwd__ref_bf16(out, in, w, b, c);
}
