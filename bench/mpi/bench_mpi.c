/* bench_mpi.c: data-parallel training on this machine, for `make bench`
 * (scripts/bench.sh runs it as one process and under mpirun). Prints Google-
 * Benchmark-shaped JSON entries on rank 0 (one process: the only rank):
 *   mpi/train_step/r<R>t<T>   median ms of a training step of the seed model
 *                             (F = 128, D = 6, batch 32 of 28x28, random
 *                             binary images) over R ranks x T threads;
 *                             counter images_per_s
 *   mpi/exchange/r<R>         median ms of the gradient combine of one step
 *                             (the butterfly of dist.c on the model's nparams
 *                             floats: log2 R exchanges and adds), R > 1 only
 *   pcnn_bench_mpi [--threads T] [--steps S] [--smoke] [--out FILE]
 * --smoke: F = 8, D = 1, 8x8 images, 3 steps. The steps are separated by a
 * barrier so every rank's time is the step's. */
#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_mpi.h"
#include "dist.h"
#include "model.h"

static int cmp_d(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
  int threads = omp_get_max_threads(), steps = 12, smoke = 0;
  const char *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
    else if (!strcmp(argv[i], "--smoke")) smoke = 1, steps = 3;
    else {
      fprintf(stderr, "usage: pcnn_bench_mpi [--threads T] [--steps S] [--smoke] [--out FILE]\n");
      return 2;
    }
  }
  if (threads < 1 || steps < 1) {
    fprintf(stderr, "pcnn_bench_mpi: --threads and --steps must be positive\n");
    return 2;
  }
  omp_set_num_threads(threads);
  pcnn_dist_t d = cli_dist_start();
  pcnn_config_t cfg = pcnn_config_default();
  if (smoke) cfg.filters = 8, cfg.depth = 1, cfg.height = cfg.width = 8;
  const int batch = 32;
  char err[PCNN_ERR_LEN];
  if (pcnn_dist_check_batch(&d, batch, err)) {
    fprintf(stderr, "pcnn_bench_mpi: %s\n", err);
    return cli_dist_end(&d, 2);
  }
  int g0, g1, i0, i1;
  pcnn_dist_share(&d, batch, &g0, &g1, &i0, &i1);
  pcnn_model_t m;
  if (pcnn_model_init(&m, &cfg, 1, i1 - i0, err)) {
    fprintf(stderr, "pcnn_bench_mpi: %s\n", err);
    return cli_dist_end(&d, 1);
  }
  const size_t img = (size_t)cfg.height * cfg.width;
  float *x = malloc(sizeof(float) * img * batch);
  uint64_t s = 88172645463325252ull;
  for (size_t i = 0; i < img * batch; i++) s ^= s << 13, s ^= s >> 7, s ^= s << 17, x[i] = (float)(s % 10 < 3);
  double *t = malloc(sizeof(double) * (size_t)steps), nll;
  const int warm = 2;
  for (int k = -warm; k < steps; k++) {
    if (d.size > 1) MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = omp_get_wtime();
    int stop = 0;
    if (d.size > 1)
      pcnn_dist_train_step(&nll, &stop, &m, x + (size_t)i0 * img, batch, &d, err);
    else
      nll = pcnn_model_train_step(&m, x, batch);
    if (d.size > 1) MPI_Barrier(MPI_COMM_WORLD);
    if (k >= 0) t[k] = omp_get_wtime() - t0;
  }
  const double step = median(t, steps);
  /* the gradient combine alone: the butterfly of dist.c */
  double ex = 0;
  const int reps = smoke ? 3 : 50;
  if (d.size > 1 && (d.size & (d.size - 1)) == 0) {
    const size_t np = m.nparams;
    float *a = calloc(np, sizeof(float)), *b = calloc(np, sizeof(float));
    double *e = malloc(sizeof(double) * (size_t)reps);
    for (int k = 0; k < reps; k++) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t0 = omp_get_wtime();
      for (int st = 1; st < d.size; st *= 2) {
        d.sendrecv(&d, b, a, np * sizeof(float), d.rank ^ st);
        for (size_t j = 0; j < np; j++) a[j] += b[j];
      }
      e[k] = omp_get_wtime() - t0;
    }
    ex = median(e, reps);
    free(a), free(b), free(e);
  }
  if (d.rank == 0) {
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f) {
      fprintf(stderr, "pcnn_bench_mpi: --out %s: cannot write\n", out);
      return cli_dist_end(&d, 1);
    }
    fprintf(f, "{\"context\": {\"ranks\": %d, \"threads\": %d, \"nparams\": %zu, \"nll\": %.6g},\n \"benchmarks\": [\n",
            d.size, threads, m.nparams, nll);
    fprintf(f, "  {\"name\": \"mpi/train_step/r%dt%d\", \"run_name\": \"mpi/train_step/r%dt%d\", "
               "\"run_type\": \"aggregate\", \"aggregate_name\": \"median\", \"iterations\": %d, "
               "\"real_time\": %.6f, \"cpu_time\": %.6f, \"time_unit\": \"ms\", \"images_per_s\": %.3f}",
            d.size, threads, d.size, threads, steps, step * 1e3, step * 1e3, batch / step);
    if (ex > 0)
      fprintf(f, ",\n  {\"name\": \"mpi/exchange/r%d\", \"run_name\": \"mpi/exchange/r%d\", \"run_type\": "
                 "\"aggregate\", \"aggregate_name\": \"median\", \"iterations\": %d, \"real_time\": %.6f, "
                 "\"cpu_time\": %.6f, \"time_unit\": \"ms\", \"bytes\": %zu}",
              d.size, d.size, reps, ex * 1e3, ex * 1e3, m.nparams * sizeof(float));
    fprintf(f, "\n]}\n");
    if (out) fclose(f);
  }
  free(x), free(t);
  pcnn_model_free(&m);
  return cli_dist_end(&d, 0);
}
