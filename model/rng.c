/* rng.c: xoshiro256** seeded by splitmix64; see rng.h. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void pcnn_rng_seed(pcnn_rng_t *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t pcnn_rng_u64(pcnn_rng_t *r) {
  uint64_t *s = r->s;
  const uint64_t out = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

uint64_t pcnn_rng_below(pcnn_rng_t *r, uint64_t n) {
  if (n == 0) return 0;
  /* rejection: draw from the largest multiple of n that fits in 2^64 */
  const uint64_t lim = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = pcnn_rng_u64(r);
  while (x >= lim);
  return x % n;
}

double pcnn_rng_double(pcnn_rng_t *r) { return (double)(pcnn_rng_u64(r) >> 11) * 0x1.0p-53; }

float pcnn_rng_float(pcnn_rng_t *r) { return (float)(pcnn_rng_u64(r) >> 40) * 0x1.0p-24f; }

double pcnn_rng_normal(pcnn_rng_t *r) {
  /* u1 in (0, 1] so log(u1) is finite */
  const double u1 = 1.0 - pcnn_rng_double(r);
  const double u2 = pcnn_rng_double(r);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void pcnn_rng_shuffle(pcnn_rng_t *r, int32_t *idx, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    const int64_t j = (int64_t)pcnn_rng_below(r, (uint64_t)i + 1);
    const int32_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}

void pcnn_rng_permutation(pcnn_rng_t *r, int32_t *idx, int64_t n) {
  for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
  pcnn_rng_shuffle(r, idx, n);
}
