/* conv_bwd_data__avx2.c: pcnn_conv_bwd_data__avx2; the code is kernels/conv_bwd_data_body.h,
 * shared with the AVX-512 twin, on pw_simd__avx2.h. */
#include "pw_simd__avx2.h"
#define PW_KERNEL(op) pcnn_##op##__avx2
#include "conv_bwd_data_body.h"
