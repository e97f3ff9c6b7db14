/* pcnn_tolerance.h: how close every implementation must come to its
 * reference twin: the one place the tests (tests/test_kernels_*.cc,
 * test_onednn.cc, test_sample_cached.cc) and `pixelcnn check` / `tune`
 * (model/check.c: a kernel outside its tolerance is never used) take them
 * from.  Errors are relative: |y - ref| <= tol (max |ref| + |ref|), i.e. an
 * absolute part scaled to the tensor's magnitude plus a relative part.
 *
 * Why these sizes: a SIMD kernel sums the same products in another order;
 * forward outputs are short sums (<= 49 taps x cin), so float rounding stays
 * near 1e-6 and 1e-5 leaves room; gradients sum over every pixel of the
 * batch (tens of thousands of terms) and losses over every logit, hence 1e-4.
 * Nadam and element-wise math run the reference's float operations in the
 * same order (1e-6); the vector exp / log of the heads are within 8 ulp. */
#ifndef PCNN_TOLERANCE_H
#define PCNN_TOLERANCE_H

#define PCNN_TOL_FWD 1e-5        /* forward outputs (conv, 1x1, PReLU, add) */
#define PCNN_TOL_GRAD 1e-4       /* data, weight, bias and slope gradients; summed losses */
#define PCNN_TOL_ELEMENTWISE 1e-6 /* Nadam update, gemm_acc: the reference's float ops */
#define PCNN_TOL_ULP8 5e-7       /* per-element vector exp / log / sigmoid (8 ulp) */
#define PCNN_TOL_ONEDNN 1e-4     /* our reference conv against oneDNN, over a tensor */
#define PCNN_TOL_CACHED 1e-4     /* caching sampler logits against the full forward (abs) */
/* bf16 precision against FP32, per output: |y_bf16 - y_fp32| <= tol x S,
 * S = the sum over the output's products of |a| |b| (the FP32 reference run
 * on |a|, |b|). Each product's two roundings to bf16 err by at most
 * 2 x 2^-8 + 2^-16 relative (pcnn_bf16.h); both fp32 sums of n terms by at
 * most n 2^-24 each (2^-9.4 of S at n = 25,088, a batch-32 weight gradient);
 * together below 0.011 < 2^-6 for n <= 32,768. A bf16 SIMD kernel against the bf16
 * reference keeps the FP32 tolerances above (only the order of its fp32
 * additions differs). */
#define PCNN_TOL_BF16 (1.0 / 64)

#endif /* PCNN_TOLERANCE_H */
