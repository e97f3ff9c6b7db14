/* conv_prelu_fwd__avx512.c: pcnn_conv_prelu_fwd__avx512; the code is kernels/conv_prelu_fwd_body.h,
 * shared with the AVX2 twin, on pw_simd__avx512.h. */
#include "pw_simd__avx512.h"
#define PW_KERNEL(op) pcnn_##op##__avx512
#include "conv_prelu_fwd_body.h"
