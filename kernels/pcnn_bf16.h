/* pcnn_bf16.h: bfloat16 in portable C (no intrinsics): the rounding the bf16
 * precision applies to the two operands of every product.
 *
 * bf16 is the top 16 bits of an IEEE float32: sign, the 8 exponent bits, 7
 * significand bits (8 with the implicit one), so the range is float32's and
 * the relative rounding error is at most 2^-8 (PCNN_BF16_EPS, half the
 * spacing 2^-7 of 8 significant bits). Rounding is to
 * nearest, ties to even, as VCVTNE2PS2BF16 / VCVTNEPS2BF16 do; like them (and
 * VDPBF16PS, which reads its bf16 inputs so), a subnormal float becomes a
 * zero of its sign, and a NaN stays a (quiet) NaN. The product of two bf16
 * values is exact in float32 (8 x 8 significand bits), so a bf16 kernel
 * differs from "round both operands, then the FP32 reference" only in the
 * order of its fp32 additions.
 */
#ifndef PCNN_BF16_H
#define PCNN_BF16_H

#include <stdint.h>
#include <string.h>

/* the relative error bound of one rounding to bf16: 2^-8 */
#define PCNN_BF16_EPS (1.0f / 256.0f)

static inline uint32_t pcnn_f32_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}
static inline float pcnn_f32_of_bits(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* x rounded to bf16, as its 16 bits */
static inline uint16_t pcnn_f32_to_bf16(float x) {
  uint32_t u = pcnn_f32_bits(x);
  if ((u & 0x7f800000u) == 0x7f800000u) /* inf or NaN: keep it, NaN quiet */
    return (uint16_t)((u >> 16) | ((u & 0x007fffffu) ? 0x0040u : 0u));
  if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u); /* zero, subnormal: +-0 */
  u += 0x7fffu + ((u >> 16) & 1u); /* to nearest, ties to even (may carry to inf) */
  return (uint16_t)(u >> 16);
}
static inline float pcnn_bf16_to_f32(uint16_t h) { return pcnn_f32_of_bits((uint32_t)h << 16); }
/* x rounded to bf16, as a float */
static inline float pcnn_bf16_round(float x) { return pcnn_bf16_to_f32(pcnn_f32_to_bf16(x)); }

#endif
