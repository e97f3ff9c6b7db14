/* rng.h: the one small deterministic random number generator of the program.
 *
 * xoshiro256** (Blackman & Vigna), seeded by expanding a 64-bit seed with
 * splitmix64.  The same seed gives the same stream on every machine and
 * build, so shuffles, initialisations and samples are reproducible.
 * Not thread-safe: give each thread its own pcnn_rng_t.
 */
#ifndef PCNN_RNG_H
#define PCNN_RNG_H

#include <stdint.h>

typedef struct {
  uint64_t s[4];
} pcnn_rng_t;

/* Seeds the state; any seed (also 0) is fine. */
void pcnn_rng_seed(pcnn_rng_t *r, uint64_t seed);
/* Next 64 random bits. */
uint64_t pcnn_rng_u64(pcnn_rng_t *r);
/* Uniform integer in [0, n), unbiased; n must be > 0 (returns 0 for n == 0). */
uint64_t pcnn_rng_below(pcnn_rng_t *r, uint64_t n);
/* Uniform in [0, 1): 53 random bits for double, 24 for float. */
double pcnn_rng_double(pcnn_rng_t *r);
float pcnn_rng_float(pcnn_rng_t *r);
/* Standard normal N(0, 1) (Box-Muller, one value per call). */
double pcnn_rng_normal(pcnn_rng_t *r);
/* Fisher-Yates shuffle of idx[0..n) in place. */
void pcnn_rng_shuffle(pcnn_rng_t *r, int32_t *idx, int64_t n);
/* idx[i] = i for i < n, then shuffled: a random permutation of 0..n-1. */
void pcnn_rng_permutation(pcnn_rng_t *r, int32_t *idx, int64_t n);

#endif /* PCNN_RNG_H */
