/* dist.h: data-parallel training over several processes (ranks), without
 * MPI in sight: the messages go through the three functions of a
 * pcnn_dist_t, which the pixelcnn program fills from MPI (model/cli_mpi.c)
 * and a test can fill from anything.
 *
 * The global batch of n images (--batch) has pcnn_model_groups(n) = G fixed
 * groups of consecutive images (model.h). Rank r of R takes the groups
 * [G r / R, G (r + 1) / R) and their images; its forward, loss (scaled by
 * 1/n, the global batch) and backward give the pairwise-tree sum of its
 * groups' gradients; the ranks combine those sums by the same tree, so
 * every rank holds the same gradient and takes the same Nadam step:
 *   R a power of two dividing G: a butterfly (log2 R exchanges of the
 *     gradient with rank r ^ 2^k; both sides add the same two sums), and
 *     the result is the same bits as one process training the whole batch;
 *   any other R <= G: every rank's sum to every rank, added by the tree in
 *     rank order: the same bits on every rank and for a fixed R, equal to
 *     one process's within rounding.
 * R must not exceed G (every rank needs a group).
 */
#ifndef PCNN_DIST_H
#define PCNN_DIST_H

#include <stddef.h>

#include "model.h"
#include "pcnn_err.h"

typedef struct pcnn_dist pcnn_dist_t;
struct pcnn_dist {
  int rank, size; /* this process and how many; size 1: one process, no messages */
  /* out (size x bytes) = every rank's `in` (bytes each), in rank order; 0 or -1 */
  int (*allgather)(const pcnn_dist_t *d, void *out, const void *in, size_t bytes);
  /* sends `send` to rank peer and receives its `bytes` into recv; 0 or -1 */
  int (*sendrecv)(const pcnn_dist_t *d, void *recv, const void *send, size_t bytes, int peer);
  /* rank 0's buf (bytes) into every rank's buf; 0 or -1 */
  int (*bcast)(const pcnn_dist_t *d, void *buf, size_t bytes);
  void *ctx;
};

/* the one-process pcnn_dist_t (rank 0 of 1) */
pcnn_dist_t pcnn_dist_single(void);

/* this rank's share of a batch of n images: groups [g0, g1) of
 * pcnn_model_groups(n), images [i0, i1) */
void pcnn_dist_share(const pcnn_dist_t *d, int n, int *g0, int *g1, int *i0, int *i1);

/* 0 if a batch of n images can be split over d's ranks, else -1 and
 * "--batch N: ... ranks" */
int pcnn_dist_check_batch(const pcnn_dist_t *d, int n, char err[PCNN_ERR_LEN]);

/* One data-parallel training step on every rank: in = this rank's images
 * [i0, i1) of a global batch of n (pcnn_dist_share). *nll = the summed NLL
 * (nats) of the whole batch, added in rank order (the same on every rank);
 * *stop (in: this rank's wish to stop after this step, out: any rank's) keeps
 * the ranks in step. 0, or -1 (a message failed, out of memory). */
int pcnn_dist_train_step(double *nll, int *stop, pcnn_model_t *m, const float *in, int n,
                         const pcnn_dist_t *d, char err[PCNN_ERR_LEN]);

/* *sum = the sum over ranks (in rank order) of each rank's v; 0 or -1 */
int pcnn_dist_sum(double *sum, double v, const pcnn_dist_t *d);

#endif /* PCNN_DIST_H */
