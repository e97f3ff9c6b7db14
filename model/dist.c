/* dist.c: data-parallel training steps over the ranks of a pcnn_dist_t
 * (dist.h). No MPI here: messages go through d's functions. */
#include "dist.h"

#include <stdlib.h>
#include <string.h>

pcnn_dist_t pcnn_dist_single(void) {
  pcnn_dist_t d;
  memset(&d, 0, sizeof d);
  d.size = 1;
  return d;
}

void pcnn_dist_share(const pcnn_dist_t *d, int n, int *g0, int *g1, int *i0, int *i1) {
  const int G = pcnn_model_groups(n);
  *g0 = (int)((long)G * d->rank / d->size);
  *g1 = (int)((long)G * (d->rank + 1) / d->size);
  *i0 = (int)((long)n * *g0 / G);
  *i1 = (int)((long)n * *g1 / G);
}

int pcnn_dist_check_batch(const pcnn_dist_t *d, int n, char err[PCNN_ERR_LEN]) {
  const int G = pcnn_model_groups(n);
  if (d->size > G)
    return pcnn_errf(err, "--batch %d: its %d gradient group%s cannot be split over %d ranks (at most "
                     "%d rank%s for this batch; use a batch of at least %d, or fewer ranks)",
                     n, G, G == 1 ? "" : "s", d->size, G, G == 1 ? "" : "s", d->size);
  return 0;
}

int pcnn_dist_sum(double *sum, double v, const pcnn_dist_t *d) {
  if (d->size == 1) {
    *sum = v;
    return 0;
  }
  double *all = malloc(sizeof(double) * (size_t)d->size);
  if (!all || d->allgather(d, all, &v, sizeof v)) {
    free(all);
    return -1;
  }
  double s = 0;
  for (int r = 0; r < d->size; r++) s += all[r];
  free(all);
  *sum = s;
  return 0;
}

static int pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }

int pcnn_dist_train_step(double *nll, int *stop, pcnn_model_t *m, const float *in, int n,
                         const pcnn_dist_t *d, char err[PCNN_ERR_LEN]) {
  int g0, g1, i0, i1;
  if (pcnn_dist_check_batch(d, n, err)) return -1;
  pcnn_dist_share(d, n, &g0, &g1, &i0, &i1);
  const int cnt = i1 - i0;
  const size_t np = m->nparams;
  pcnn_model_forward_train(m, in, cnt);
  const double local = pcnn_model_loss(m, in, cnt, 1.0f / (float)n);
  const float *part = pcnn_model_backward_part(m, in, n, g0, g1);
  /* the ranks' sums, combined by the tree of pcnn_model_add_sums: grads = their sum */
  const int R = d->size, butterfly = pow2(R);
  float *buf = malloc(sizeof(float) * np * (butterfly ? 2 : (size_t)R));
  if (!buf) return pcnn_errf(err, "out of memory for the gradient exchange (%zu floats)", np * 2);
  if (butterfly) {
    float *sum = buf, *peer = buf + np;
    memcpy(sum, part, np * sizeof(float));
    for (int k = 1; k < R; k *= 2) {
      if (d->sendrecv(d, peer, sum, np * sizeof(float), d->rank ^ k)) goto fail;
      for (size_t j = 0; j < np; j++) sum[j] += peer[j]; /* lower + upper block: the same bits on both */
    }
    pcnn_model_set_sums(m, sum, 1);
  } else {
    if (d->allgather(d, buf, part, np * sizeof(float))) goto fail;
    pcnn_model_set_sums(m, buf, R);
  }
  free(buf);
  /* the batch's NLL and whether any rank stops, in one message */
  double mine[2] = {local, *stop ? 1.0 : 0.0}, *all = malloc(sizeof(double) * 2 * (size_t)R);
  if (!all) return pcnn_errf(err, "out of memory");
  if (d->allgather(d, all, mine, sizeof mine)) {
    free(all);
    return pcnn_errf(err, "rank %d: gathering the loss failed", d->rank);
  }
  double s = 0;
  int any = 0;
  for (int r = 0; r < R; r++) s += all[2 * r], any |= all[2 * r + 1] != 0;
  free(all);
  *nll = s;
  *stop = any;
  pcnn_model_step(m);
  return 0;
fail:
  free(buf);
  return pcnn_errf(err, "rank %d: exchanging gradients failed", d->rank);
}
