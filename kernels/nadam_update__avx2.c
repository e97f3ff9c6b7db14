/* nadam_update__avx2.c: pcnn_nadam_update__avx2; the code is kernels/nadam_update_body.h,
 * shared with the AVX-512 twin, on pw_simd__avx2.h. */
#include "pw_simd__avx2.h"
#define PW_KERNEL(op) pcnn_##op##__avx2
#include "nadam_update_body.h"
