/* conv_bwd_data__avx512bf16.c: pcnn_conv_bwd_data__avx512bf16, the bf16
 * data gradient of the masked k x k conv.
 * Contract: pcnn_conv_bwd_data_fn (pcnn_kernels.h) in the bf16 precision:
 * din (N,H,W,cin) += masked_conv^T(dout (N,H,W,cout), w [k][k][cin][cout]),
 * both operands of every product rounded to bf16, summed in fp32;
 * ACCUMULATES.
 * How (conv_bf16.h): the transposed conv is a direct conv: input pixel
 * (y, x) gathers dout at (y + r - ky, x + r - kx) through w[ky][kx]^T. So dout
 * is converted to pairs of output channels and the kept taps are transposed
 * once per call into [cp_out][cinp] pairs (masked entries zero, never read),
 * and engine 1 runs with flipped offsets, vectors over cin, accumulators
 * loaded from din. k == 1: the same with one tap.
 * Work split: the N x H rows of din; one writer per element, taps and pairs
 * in a fixed order: the same bits at any thread count.
 * Cost: one conversion pass over dout and the transpose of the kept weights
 * per call (calling thread's scratch, grown once; none: the bf16
 * reference). */
#include "conv_bf16.h"

void pcnn_conv_bwd_data__avx512bf16(float *din, const float *dout, const float *w,
                                    const pcnn_conv_t *c) {
  if (!cb_conv_bwd_data(din, dout, w, c)) pcnn_conv_bwd_data__ref_bf16(din, dout, w, c);
}
