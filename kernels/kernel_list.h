/* The one kernel list: PCNN_KERNEL(isa, op, function) (FP32),
 * PCNN_KERNEL_BF16(isa, op, function) (bf16 precision, pcnn_kernels.h), then
 * the shape limits PCNN_SUPPORTS(isa, op, predicate). Include after defining
 * the three macros.
 * Every row here is declared in pcnn_kernels.h, can fill the dispatch table,
 * and is compared with its reference twin by tests/test_kernels_*.cc and
 * timed by bench/. Within an op, list rows from the slowest ISA to the
 * fastest. */
PCNN_KERNEL(PCNN_ISA_REF, conv_fwd, pcnn_conv_fwd__ref)
PCNN_KERNEL(PCNN_ISA_REF, conv_bwd_data, pcnn_conv_bwd_data__ref)
PCNN_KERNEL(PCNN_ISA_REF, conv_bwd_weights, pcnn_conv_bwd_weights__ref)
PCNN_KERNEL(PCNN_ISA_REF, prelu_fwd, pcnn_prelu_fwd__ref)
PCNN_KERNEL(PCNN_ISA_REF, prelu_bwd, pcnn_prelu_bwd__ref)
PCNN_KERNEL(PCNN_ISA_REF, conv1x1_prelu_fwd, pcnn_conv1x1_prelu_fwd__ref)
PCNN_KERNEL(PCNN_ISA_REF, conv1x1_prelu_bwd_data, pcnn_conv1x1_prelu_bwd_data__ref)
PCNN_KERNEL(PCNN_ISA_REF, conv1x1_prelu_bwd_weights, pcnn_conv1x1_prelu_bwd_weights__ref)
PCNN_KERNEL(PCNN_ISA_REF, add_fwd, pcnn_add_fwd__ref)
PCNN_KERNEL(PCNN_ISA_REF, add_bwd, pcnn_add_bwd__ref)
PCNN_KERNEL(PCNN_ISA_REF, bernoulli_loss, pcnn_bernoulli_loss__ref)
PCNN_KERNEL(PCNN_ISA_REF, softmax256_loss, pcnn_softmax256_loss__ref)
PCNN_KERNEL(PCNN_ISA_REF, nadam_update, pcnn_nadam_update__ref)
PCNN_KERNEL(PCNN_ISA_REF, gemm_acc, pcnn_gemm_acc__ref)
PCNN_KERNEL(PCNN_ISA_REF, conv_prelu_fwd, pcnn_conv_prelu_fwd__ref)
PCNN_KERNEL(PCNN_ISA_AVX2, conv_fwd, pcnn_conv_fwd__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, conv_fwd, pcnn_conv_fwd__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, conv_bwd_data, pcnn_conv_bwd_data__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, conv_bwd_data, pcnn_conv_bwd_data__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, conv_bwd_weights, pcnn_conv_bwd_weights__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, conv_bwd_weights, pcnn_conv_bwd_weights__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, conv1x1_prelu_fwd, pcnn_conv1x1_prelu_fwd__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, conv1x1_prelu_fwd, pcnn_conv1x1_prelu_fwd__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, conv1x1_prelu_bwd_data, pcnn_conv1x1_prelu_bwd_data__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, conv1x1_prelu_bwd_data, pcnn_conv1x1_prelu_bwd_data__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, conv1x1_prelu_bwd_weights, pcnn_conv1x1_prelu_bwd_weights__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, conv1x1_prelu_bwd_weights, pcnn_conv1x1_prelu_bwd_weights__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, prelu_fwd, pcnn_prelu_fwd__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, prelu_fwd, pcnn_prelu_fwd__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, prelu_bwd, pcnn_prelu_bwd__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, prelu_bwd, pcnn_prelu_bwd__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, add_fwd, pcnn_add_fwd__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, add_fwd, pcnn_add_fwd__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, add_bwd, pcnn_add_bwd__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, add_bwd, pcnn_add_bwd__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, bernoulli_loss, pcnn_bernoulli_loss__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, bernoulli_loss, pcnn_bernoulli_loss__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, softmax256_loss, pcnn_softmax256_loss__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, softmax256_loss, pcnn_softmax256_loss__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, nadam_update, pcnn_nadam_update__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, nadam_update, pcnn_nadam_update__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, gemm_acc, pcnn_gemm_acc__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, gemm_acc, pcnn_gemm_acc__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, conv_prelu_fwd, pcnn_conv_prelu_fwd__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, conv_prelu_fwd, pcnn_conv_prelu_fwd__avx512)

/* bf16 precision: the reference (pcnn_<op>__ref_bf16: the FP32 reference on
 * operands rounded to bf16), then the SIMD levels */
PCNN_KERNEL_BF16(PCNN_ISA_REF, conv_fwd, pcnn_conv_fwd__ref_bf16)
PCNN_KERNEL_BF16(PCNN_ISA_REF, conv_bwd_data, pcnn_conv_bwd_data__ref_bf16)
PCNN_KERNEL_BF16(PCNN_ISA_REF, conv_bwd_weights, pcnn_conv_bwd_weights__ref_bf16)
PCNN_KERNEL_BF16(PCNN_ISA_REF, conv1x1_prelu_fwd, pcnn_conv1x1_prelu_fwd__ref_bf16)
PCNN_KERNEL_BF16(PCNN_ISA_REF, conv1x1_prelu_bwd_data, pcnn_conv1x1_prelu_bwd_data__ref_bf16)
PCNN_KERNEL_BF16(PCNN_ISA_REF, conv1x1_prelu_bwd_weights, pcnn_conv1x1_prelu_bwd_weights__ref_bf16)
PCNN_KERNEL_BF16(PCNN_ISA_REF, gemm_acc, pcnn_gemm_acc__ref_bf16)
PCNN_KERNEL_BF16(PCNN_ISA_REF, conv_prelu_fwd, pcnn_conv_prelu_fwd__ref_bf16)
PCNN_KERNEL_BF16(PCNN_ISA_AVX512BF16, conv1x1_prelu_fwd, pcnn_conv1x1_prelu_fwd__avx512bf16)
PCNN_KERNEL_BF16(PCNN_ISA_AVX512BF16, conv1x1_prelu_bwd_data, pcnn_conv1x1_prelu_bwd_data__avx512bf16)
PCNN_KERNEL_BF16(PCNN_ISA_AVX512BF16, conv1x1_prelu_bwd_weights, pcnn_conv1x1_prelu_bwd_weights__avx512bf16)
PCNN_KERNEL_BF16(PCNN_ISA_AVX512BF16, gemm_acc, pcnn_gemm_acc__avx512bf16)
PCNN_KERNEL_BF16(PCNN_ISA_AVX512BF16, conv_fwd, pcnn_conv_fwd__avx512bf16)
PCNN_KERNEL_BF16(PCNN_ISA_AVX512BF16, conv_bwd_data, pcnn_conv_bwd_data__avx512bf16)
PCNN_KERNEL_BF16(PCNN_ISA_AVX512BF16, conv_bwd_weights, pcnn_conv_bwd_weights__avx512bf16)
PCNN_KERNEL_BF16(PCNN_ISA_AVX512BF16, conv_prelu_fwd, pcnn_conv_prelu_fwd__avx512bf16)

/* the bf16 gemm_acc rows' twins that take a in bf16 already
 * (pcnn_gemm_acc_a16_fn): PCNN_GEMM_A16(the row's function, its twin).
 * Optional: an includer that does not define the macro skips them. */
#ifdef PCNN_GEMM_A16
PCNN_GEMM_A16(pcnn_gemm_acc__ref_bf16, pcnn_gemm_acc_a16__ref_bf16)
PCNN_GEMM_A16(pcnn_gemm_acc__avx512bf16, pcnn_gemm_acc_a16__avx512bf16)
#endif

/* Shape limits: the kernel (isa, op) calls predicate(c) first and hands the
 * shapes it returns 0 for to its reference twin (pcnn_kernel_falls_back
 * answers from these rows). A kernel without a row runs every valid shape in
 * its own code. */
PCNN_SUPPORTS(PCNN_ISA_AVX2, conv_fwd, pcnn_conv_fwd_supports__avx2)
PCNN_SUPPORTS(PCNN_ISA_AVX512, conv_fwd, pcnn_conv_fwd_supports__avx512)
PCNN_SUPPORTS(PCNN_ISA_AVX2, conv_bwd_data, pcnn_conv_bwd_data_supports__avx2)
PCNN_SUPPORTS(PCNN_ISA_AVX512, conv_bwd_data, pcnn_conv_bwd_data_supports__avx512)
PCNN_SUPPORTS(PCNN_ISA_AVX2, conv_bwd_weights, pcnn_conv_bwd_weights_supports__avx2)
PCNN_SUPPORTS(PCNN_ISA_AVX512, conv_bwd_weights, pcnn_conv_bwd_weights_supports__avx512)
PCNN_SUPPORTS(PCNN_ISA_AVX2, conv_prelu_fwd, pcnn_conv_prelu_fwd_supports__avx2)
PCNN_SUPPORTS(PCNN_ISA_AVX512, conv_prelu_fwd, pcnn_conv_prelu_fwd_supports__avx512)
PCNN_SUPPORTS(PCNN_ISA_AVX2, conv1x1_prelu_fwd, pcnn_conv1x1_prelu_fwd_supports__avx2)
PCNN_SUPPORTS(PCNN_ISA_AVX512, conv1x1_prelu_fwd, pcnn_conv1x1_prelu_fwd_supports__avx512)
PCNN_SUPPORTS(PCNN_ISA_AVX2, conv1x1_prelu_bwd_data, pcnn_conv1x1_prelu_bwd_data_supports__avx2)
PCNN_SUPPORTS(PCNN_ISA_AVX512, conv1x1_prelu_bwd_data, pcnn_conv1x1_prelu_bwd_data_supports__avx512)
PCNN_SUPPORTS(PCNN_ISA_AVX2, conv1x1_prelu_bwd_weights, pcnn_conv1x1_prelu_bwd_weights_supports__avx2)
PCNN_SUPPORTS(PCNN_ISA_AVX512, conv1x1_prelu_bwd_weights, pcnn_conv1x1_prelu_bwd_weights_supports__avx512)
PCNN_SUPPORTS(PCNN_ISA_AVX512BF16, conv1x1_prelu_fwd, pcnn_conv1x1_prelu_fwd_supports__avx512bf16)
PCNN_SUPPORTS(PCNN_ISA_AVX512BF16, conv1x1_prelu_bwd_data, pcnn_conv1x1_prelu_bwd_data_supports__avx512bf16)
PCNN_SUPPORTS(PCNN_ISA_AVX512BF16, conv1x1_prelu_bwd_weights, pcnn_conv1x1_prelu_bwd_weights_supports__avx512bf16)
