/* conv_fwd__avx512bf16.c: pcnn_conv_fwd__avx512bf16, the bf16 masked k x k
 * conv forward (AVX512_BF16).
 * Contract: pcnn_conv_fwd_fn (pcnn_kernels.h) in the bf16 precision: out
 * (N,H,W,cout) = masked_conv(in (N,H,W,cin), w [k][k][cin][cout]) + b, both
 * operands of every product rounded to bf16 (nearest even), the products
 * and the bias summed in fp32; overwrites out.
 * How (conv_bf16.h, engine 1): per call the input is converted to channel
 * pairs and the kept taps are packed as [cp][coutp] pairs (masked entries
 * zero, never read); 6 pixels x 4 zmm of VDPBF16PS per channel pair. Few
 * input channels (cin < 16, the first layer): row-im2col, the kept-tap
 * inputs paired (7x7 A, cin 1: 12 pairs per pixel). k == 1 runs the same
 * engine with one tap.
 * Work split: the N x H output rows, statically over threads (row-im2col:
 * the same rows); one writer per output, taps and pairs in a fixed order:
 * the same bits at any thread count.
 * Cost: one conversion pass over the input and a packing of the kept
 * weights per call (scratch of the calling thread, grown once); if the
 * scratch cannot be allocated, the bf16 reference runs. */
#include "conv_bf16.h"

void pcnn_conv_fwd__avx512bf16(float *out, const float *in, const float *w, const float *b,
                               const pcnn_conv_t *c) {
  if (!cb_conv_fwd(out, in, w, b, NULL, c)) pcnn_conv_fwd__ref_bf16(out, in, w, b, c);
}
