/* xsmm_pass.h: the element-wise passes the libxsmm peer runs around its small
 * GEMMs (bias, PReLU, PReLU', column sums, block transpose), compiled with
 * AVX-512 flags (xsmm_pass__avx512.c) so the peer is not slowed by SSE2 code.
 * Blocks are np pixels x c channels, NHWC (channel fastest). */
#ifndef PCNN_BENCH_XSMM_PASS_H
#define PCNN_BENCH_XSMM_PASS_H

#ifdef __cplusplus
extern "C" {
#endif

/* out[p][j] += b[j] */
void xp_bias__avx512(float *out, const float *b, int np, int c);
/* pre[p][j] += b[j]; out = prelu(pre, a) */
void xp_bias_prelu__avx512(float *pre, float *out, const float *b, const float *a, int np, int c);
/* dpre = dout * prelu'(pre); if dalpha: dalpha[j] += sum dout * pre * (pre <= 0) */
void xp_dprelu__avx512(float *dpre, float *dalpha, const float *dout, const float *pre,
                       const float *a, int np, int c);
/* db[j] += sum_p x[p][j] */
void xp_colsum__avx512(float *db, const float *x, int np, int c);
/* dst[j][p] = src[p][j] */
void xp_transpose__avx512(float *dst, const float *src, int np, int c);

#ifdef __cplusplus
}
#endif
#endif
