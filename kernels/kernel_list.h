/* The one kernel list: PCNN_KERNEL(isa, op, function).
 * Include after defining PCNN_KERNEL. Every row here is declared in
 * pcnn_kernels.h, can fill the dispatch table, and is compared with its
 * reference twin by tests/test_kernels.cc and timed by bench/. Within an op,
 * list rows from the slowest ISA to the fastest. */
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
PCNN_KERNEL(PCNN_ISA_AVX2, conv_fwd, pcnn_conv_fwd__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, conv_fwd, pcnn_conv_fwd__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, conv_bwd_data, pcnn_conv_bwd_data__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, conv_bwd_data, pcnn_conv_bwd_data__avx512)
PCNN_KERNEL(PCNN_ISA_AVX2, conv_bwd_weights, pcnn_conv_bwd_weights__avx2)
PCNN_KERNEL(PCNN_ISA_AVX512, conv_bwd_weights, pcnn_conv_bwd_weights__avx512)
