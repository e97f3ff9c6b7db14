/* pw_conv1x1.h: plain masked 1x1 convolutions (c->k == 1, no activation) on
 * the pointwise GEMM tile of pw_gemm.h. Internal to kernels/: not rows of
 * kernel_list.h; pcnn_conv_{fwd,bwd_data,bwd_weights}__<isa> call them for
 * k == 1. They are the "no activation" instances of the fused 1x1 + PReLU
 * bodies (conv1x1_prelu_*_body.h), compiled into conv1x1_prelu_*__<isa>.c.
 * Same contracts as pcnn_conv_*_fn (pcnn_kernels.h) with w [cin][cout]:
 * forward overwrites out (with bias), backward accumulates into din, dw, db.
 * Each returns 1 when done, 0 (nothing written) when the layer is too big
 * for the pack buffers; the caller then runs its direct engine. */
#ifndef PW_CONV1X1_H
#define PW_CONV1X1_H
#include "pcnn_kernels.h"

/* out (N,H,W,cout) = conv1x1(in (N,H,W,cin), w [cin][cout]) + b (cout) */
int pcnn_conv1x1_fwd__avx2(float *out, const float *in, const float *w, const float *b,
                           const pcnn_conv_t *c);
int pcnn_conv1x1_fwd__avx512(float *out, const float *in, const float *w, const float *b,
                             const pcnn_conv_t *c);
/* the k == 1 case of conv_prelu_fwd (pcnn_kernels.h): pre = conv1x1(in, w) + b
 * + res (res may be NULL), out = prelu(pre, alpha) */
int pcnn_conv1x1_res_prelu_fwd__avx2(float *pre, float *out, const float *in, const float *w,
                                     const float *b, const float *res, const float *alpha,
                                     const pcnn_conv_t *c);
int pcnn_conv1x1_res_prelu_fwd__avx512(float *pre, float *out, const float *in, const float *w,
                                       const float *b, const float *res, const float *alpha,
                                       const pcnn_conv_t *c);
/* din (N,H,W,cin) += conv1x1^T(dout (N,H,W,cout), w) */
int pcnn_conv1x1_bwd_data__avx2(float *din, const float *dout, const float *w,
                                const pcnn_conv_t *c);
int pcnn_conv1x1_bwd_data__avx512(float *din, const float *dout, const float *w,
                                  const pcnn_conv_t *c);
/* dw [cin][cout] += in (x) dout at kept taps; db (cout) += sum dout */
int pcnn_conv1x1_bwd_weights__avx2(float *dw, float *db, const float *dout, const float *in,
                                   const pcnn_conv_t *c);
int pcnn_conv1x1_bwd_weights__avx512(float *dw, float *db, const float *dout, const float *in,
                                     const pcnn_conv_t *c);
/* the same in the bf16 precision (both operands of every product rounded
 * to bf16), in conv1x1_prelu_bwd_weights__avx512bf16.c */
int pcnn_conv1x1_bwd_weights__avx512bf16(float *dw, float *db, const float *dout, const float *in,
                                         const pcnn_conv_t *c);
#endif
