/* peak__avx512bf16.c: 16-lane VDPBF16PS throughput loop (see peak.h). Each
 * instruction does 16 lanes x 2 bf16 products, each added into fp32. */
#include <immintrin.h>

#include "peak.h"

float pcnn_peak_dpbf16__avx512bf16(long iters) {
  /* bf16 1.0 and 2^-23 as pairs: the products stay tiny, nothing overflows */
  const __m512bh m = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3400);
  __m512 a0 = _mm512_set1_ps(0.1f), a1 = _mm512_set1_ps(0.2f), a2 = _mm512_set1_ps(0.3f);
  __m512 a3 = _mm512_set1_ps(0.4f), a4 = _mm512_set1_ps(0.5f), a5 = _mm512_set1_ps(0.6f);
  __m512 a6 = _mm512_set1_ps(0.7f), a7 = _mm512_set1_ps(0.8f), a8 = _mm512_set1_ps(0.9f);
  __m512 a9 = _mm512_set1_ps(1.0f), a10 = _mm512_set1_ps(1.1f), a11 = _mm512_set1_ps(1.2f);
  for (long i = 0; i < iters; i++) {
    /* 12 independent chains, as the FP32 loop */
    a0 = _mm512_dpbf16_ps(a0, m, b);
    a1 = _mm512_dpbf16_ps(a1, m, b);
    a2 = _mm512_dpbf16_ps(a2, m, b);
    a3 = _mm512_dpbf16_ps(a3, m, b);
    a4 = _mm512_dpbf16_ps(a4, m, b);
    a5 = _mm512_dpbf16_ps(a5, m, b);
    a6 = _mm512_dpbf16_ps(a6, m, b);
    a7 = _mm512_dpbf16_ps(a7, m, b);
    a8 = _mm512_dpbf16_ps(a8, m, b);
    a9 = _mm512_dpbf16_ps(a9, m, b);
    a10 = _mm512_dpbf16_ps(a10, m, b);
    a11 = _mm512_dpbf16_ps(a11, m, b);
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                           _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  float lanes[16];
  _mm512_storeu_ps(lanes, s);
  float r = 0.f;
  for (int i = 0; i < 16; i++) r += lanes[i];
  return r;
}
