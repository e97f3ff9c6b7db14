/* main.c: the pixelcnn program: train | eval | sample | info. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint.h"
#include "data.h"
#include "fileio.h"
#include "image_io.h"
#include "model.h"
#include "plan.h"
#include "rng.h"
#include "sample.h"
#include "tune.h"
#include "values.h"

static const char *g_cmd = "pixelcnn";

/* ranges of flags that no file records */
static const pcnn_irange_t PCNN_V_POS_LIMIT = {"limit", 1, 1LL << 30};
static const pcnn_irange_t PCNN_V_PRIME_ROWS = {"prime-rows", 0, 4096};
static const pcnn_irange_t PCNN_V_SCALE = {"scale", 1, 16};
static const pcnn_irange_t PCNN_V_TUNE_SIZE = {"size", 1, 1024};
static const pcnn_irange_t PCNN_V_REPS = {"reps", 1, 100};
static const pcnn_irange_t PCNN_V_CHECK_BATCH = {"batch", 1, 256};

/* one-line error, naming the flag or file, then exit status 2 (usage) or 1 */
#define FAIL(code, ...)                              \
  do {                                               \
    fprintf(stderr, "pixelcnn %s: ", g_cmd);         \
    fprintf(stderr, __VA_ARGS__);                    \
    fputc('\n', stderr);                             \
    return (code);                                   \
  } while (0)

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* flags are checked by the ranges of values.h, the same that check a
 * checkpoint's metadata; one line naming the flag on failure */
static int parse_iv(const char *flag, const char *s, const pcnn_irange_t *r, int *out) {
  char why[PCNN_ERR_LEN];
  long long v;
  if (pcnn_value_int(r, s, &v, why)) {
    fprintf(stderr, "pixelcnn %s: %s: %s\n", g_cmd, flag, why);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int parse_rv(const char *flag, const char *s, const pcnn_rrange_t *r, double *out) {
  char why[PCNN_ERR_LEN];
  if (pcnn_value_real(r, s, out, why)) {
    fprintf(stderr, "pixelcnn %s: %s: %s\n", g_cmd, flag, why);
    return -1;
  }
  return 0;
}

static int parse_seed(const char *s, uint64_t *out) {
  char why[PCNN_ERR_LEN];
  if (pcnn_value_u64(s, out, why)) {
    fprintf(stderr, "pixelcnn %s: --seed: %s\n", g_cmd, why);
    return -1;
  }
  return 0;
}

/* common flags: --threads, --isa */
static int set_threads(const char *s) {
  int t;
  if (parse_iv("--threads", s, &PCNN_V_THREADS, &t)) return -1;
  omp_set_num_threads(t);
  return 0;
}

static int set_isa(const char *s) {
  const int isa = pcnn_isa_parse(s);
  if (isa < 0) {
    fprintf(stderr, "pixelcnn %s: --isa: '%s' is not one of ref, avx2, avx512\n", g_cmd, s);
    return -1;
  }
  if (pcnn_kernels_set_isa((pcnn_isa_t)isa)) {
    fprintf(stderr, "pixelcnn %s: --isa: this CPU cannot run %s kernels\n", g_cmd, s);
    return -1;
  }
  return 0;
}

/* --plan FILE, else $PIXELCNN_PLAN, else the default plan; prints a line naming
 * the plan file it could not use and returns -1 */
static const char *g_plan_path;
static int apply_plan(pcnn_model_t *m, int quiet) {
  const char *path = g_plan_path ? g_plan_path : getenv("PIXELCNN_PLAN");
  if (!path || !*path) return 0;
  pcnn_plan_t p;
  char err[PCNN_ERR_LEN];
  if (pcnn_plan_load(path, &p, err)) {
    fprintf(stderr, "pixelcnn %s: %s%s\n", g_cmd, g_plan_path ? "--plan: " : "PIXELCNN_PLAN: ", err);
    return -1;
  }
  pcnn_model_set_plan(m, &p);
  if (!quiet) {
    char b[512];
    pcnn_plan_str(&p, b, sizeof b);
    fprintf(stderr, "plan %s: %s\n", path, b);
  }
  return 0;
}

static void print_plan(FILE *f, const pcnn_model_t *m) {
  fprintf(f, "kernel plan (%s):\n  %-6s %-22s %-12s %-12s %-12s\n", m->plan.source, "layer", "shape (N=batch)",
          "fwd", "bwd_data", "bwd_weights");
  for (int r = 0; r < PCNN_ROLES; r++) {
    const pcnn_layer_t *l = pcnn_model_role_layer(m, r);
    if (!l) continue;
    const pcnn_conv_t *c = &l->c;
    char shape[64], cell[3][32];
    snprintf(shape, sizeof shape, "%dx%d%c %d->%d%s%s", c->k, c->k, c->mask == PCNN_MASK_A ? 'A' : 'B', c->cin,
             c->cout, pcnn_role_fused(r) ? " +PReLU" : "", c->groups == 3 ? " RGB" : "");
    for (int d = 0; d < PCNN_DIRS; d++) {
      if (m->plan.ms[r][d] > 0)
        snprintf(cell[d], sizeof cell[d], "%s %.2fms", pcnn_isa_name(m->plan.isa[r][d]), m->plan.ms[r][d]);
      else
        snprintf(cell[d], sizeof cell[d], "%s", pcnn_isa_name(m->plan.isa[r][d]));
    }
    fprintf(f, "  %-6s %-22s %-12s %-12s %-12s\n", pcnn_role_name(r), shape, cell[0], cell[1], cell[2]);
  }
  if (m->plan.batch) fprintf(f, "  (times: best of several runs at batch %d, %d threads)\n", m->plan.batch, m->plan.threads);
}

static double bits_per_dim(double nats_per_image, const pcnn_config_t *c) {
  return nats_per_image / ((double)c->height * c->width * c->channels * log(2.0));
}

static void fmt_duration(char *b, size_t n, double s) {
  if (!(s >= 0) || s > 1e7) snprintf(b, n, "?");
  else if (s < 60) snprintf(b, n, "%.0fs", s);
  else if (s < 3600) snprintf(b, n, "%dm%02ds", (int)s / 60, (int)s % 60);
  else snprintf(b, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

/* ---------------------------------------------------------------- eval --- */

/* NLL of the first `count` images of ds in nats per image; logits to dump
 * (count,H,W,C*K) if not NULL */
static double eval_nll(pcnn_model_t *m, const pcnn_dataset_t *ds, int count, int batch, int binarize,
                       float *dump, float *inbuf, int quiet) {
  const size_t img = (size_t)m->cfg.height * m->cfg.width * m->cfg.channels;
  const size_t lg = img * m->k_out;
  double nll = 0, t0 = now_s(), last = t0;
  int32_t *idx = malloc(sizeof(int32_t) * (size_t)batch);
  for (int i = 0; i < count; i += batch) {
    const int b = count - i < batch ? count - i : batch;
    for (int j = 0; j < b; j++) idx[j] = i + j;
    pcnn_data_batch_f32(inbuf, ds, idx, b, binarize, NULL);
    pcnn_model_forward(m, inbuf, b);
    nll += pcnn_model_loss(m, inbuf, b, 0.f);
    if (dump) memcpy(dump + (size_t)i * lg, m->logits, (size_t)b * lg * sizeof(float));
    if (!quiet && now_s() - last > 1.0 && isatty(2)) {
      last = now_s();
      fprintf(stderr, "\r  eval %d/%d images, %.0f img/s   ", i + b, count, (i + b) / (last - t0));
    }
  }
  if (!quiet && isatty(2) && now_s() - t0 > 1.0) fprintf(stderr, "\r%60s\r", "");
  free(idx);
  return nll / count;
}

static int data_matches(const pcnn_dataset_t *ds, const pcnn_model_t *m, const char *what) {
  if (ds->h != m->cfg.height || ds->w != m->cfg.width || ds->c != m->cfg.channels)
    FAIL(1, "%s: images are %dx%dx%d but the model was trained for %dx%dx%d", what, ds->h, ds->w, ds->c,
         m->cfg.height, m->cfg.width, m->cfg.channels);
  return 0;
}

static void eval_usage(FILE *f) {
  fprintf(f,
          "usage: pixelcnn eval --ckpt FILE [options]\n"
          "NLL of a data set under a trained model, in nats per image and bits per dimension.\n"
          "  --ckpt FILE          checkpoint (.safetensors) written by `pixelcnn train` (required)\n"
          "  --data NAME|PATH     fashion-mnist (default), mnist, or an IDX / CIFAR-10 file or dir\n"
          "  --split test|train   which split (default test)\n"
          "  --limit N            only the first N images (default all)\n"
          "  --batch N            images per forward pass (default 32)\n"
          "  --binarize           pixels > 0.5 -> 1 (default: as the checkpoint was trained)\n"
          "  --dump-logits F.npy  write the logits, float32 (N, H, W, C*K), NHWC\n"
          "  --threads N          OpenMP threads (default: all cores)\n"
          "  --isa ref|avx2|avx512  highest kernel level to use (default: best supported)\n"
          "  --plan FILE          kernel plan from `pixelcnn tune` (default: $PIXELCNN_PLAN, else\n"
          "                       every layer on the --isa level)\n");
}

static int cmd_eval(int argc, char **argv) {
  const char *ckpt = NULL, *data = "fashion-mnist", *dump_path = NULL;
  int split = PCNN_SPLIT_TEST, limit = 0, batch = 32, binarize = -1;
  static const struct option opts[] = {
      {"ckpt", 1, 0, 'c'}, {"data", 1, 0, 'd'}, {"split", 1, 0, 's'}, {"limit", 1, 0, 'l'},
      {"batch", 1, 0, 'b'}, {"binarize", 0, 0, 'B'}, {"dump-logits", 1, 0, 'D'},
      {"threads", 1, 0, 't'}, {"isa", 1, 0, 'i'}, {"plan", 1, 0, 'P'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) switch (o) {
      case 'P': g_plan_path = optarg; break;
      case 'c': ckpt = optarg; break;
      case 'd': data = optarg; break;
      case 's':
        if (strcmp(optarg, "test") == 0) split = PCNN_SPLIT_TEST;
        else if (strcmp(optarg, "train") == 0) split = PCNN_SPLIT_TRAIN;
        else FAIL(2, "--split: '%s' is not test or train", optarg);
        break;
      case 'l': if (parse_iv("--limit", optarg, &PCNN_V_POS_LIMIT, &limit)) return 2; break;
      case 'b': if (parse_iv("--batch", optarg, &PCNN_V_BATCH, &batch)) return 2; break;
      case 'B': binarize = 1; break;
      case 'D': dump_path = optarg; break;
      case 't': if (set_threads(optarg)) return 2; break;
      case 'i': if (set_isa(optarg)) return 2; break;
      case 'h': eval_usage(stdout); return 0;
      default: eval_usage(stderr); return 2;
    }
  if (optind < argc) FAIL(2, "unexpected argument '%s' (see --help)", argv[optind]);
  if (!ckpt) FAIL(2, "--ckpt is required (see --help)");
  char err[PCNN_ERR_LEN];
  if (dump_path && pcnn_prepare_output(dump_path, err)) FAIL(1, "--dump-logits: %s", err);
  pcnn_model_t m;
  static pcnn_ckpt_extra_t extra;
  if (pcnn_ckpt_load(ckpt, &m, batch, NULL, &extra, err)) FAIL(1, "%s", err);
  if (apply_plan(&m, 1)) {
    pcnn_model_free(&m);
    return 1;
  }
  if (binarize < 0) {
    const char *b = pcnn_ckpt_extra_get(&extra, "binarize");
    binarize = b && strcmp(b, "1") == 0;
  }
  pcnn_dataset_t ds;
  if (pcnn_data_open(&ds, data, (pcnn_split_t)split, limit, err)) {
    pcnn_model_free(&m);
    FAIL(1, "%s", err);
  }
  int rc = data_matches(&ds, &m, ds.name);
  float *dump = NULL, *inbuf = NULL;
  const size_t img = (size_t)m.cfg.height * m.cfg.width * m.cfg.channels;
  if (!rc && dump_path) {
    dump = malloc((size_t)ds.n * img * m.k_out * sizeof(float));
    if (!dump) {
      fprintf(stderr, "pixelcnn eval: --dump-logits: out of memory for %.1f GB of logits (use --limit)\n",
              (double)ds.n * img * m.k_out * 4 / 1e9);
      rc = 1;
    }
  }
  if (!rc) {
    inbuf = malloc((size_t)batch * img * sizeof(float));
    const double t0 = now_s();
    const double nll = eval_nll(&m, &ds, ds.n, batch, binarize, dump, inbuf, 0);
    const double dt = now_s() - t0;
    printf("%s %s: %d images, NLL %.4f nats/image, %.4f bits/dim (%.1f s, %.0f img/s)\n", ds.name,
           pcnn_split_name(ds.split), ds.n, nll, bits_per_dim(nll, &m.cfg), dt, ds.n / dt);
    if (dump) {
      const int64_t shape[4] = {ds.n, m.cfg.height, m.cfg.width, (int64_t)m.cfg.channels * m.k_out};
      if (pcnn_npy_write(dump_path, PCNN_NPY_F32, dump, 4, shape, err)) {
        fprintf(stderr, "pixelcnn eval: %s\n", err);
        rc = 1;
      } else {
        printf("logits: %s (%d, %d, %d, %d) float32\n", dump_path, ds.n, m.cfg.height, m.cfg.width,
               m.cfg.channels * m.k_out);
      }
    }
  }
  free(dump);
  free(inbuf);
  pcnn_dataset_free(&ds);
  pcnn_model_free(&m);
  return rc;
}

/* --------------------------------------------------------------- train --- */

/* saves only finite weights: a diverged model never replaces a good checkpoint */
static int save_checked(const char *out, const pcnn_model_t *m, const pcnn_ckpt_extra_t *extra, char *err) {
  for (size_t i = 0; i < m->nparams; i++)
    if (!isfinite(m->params[i]) || !isfinite(m->m[i]) || !isfinite(m->v[i]))
      return pcnn_errf(err, "%s: not written: the weights or the optimizer state hold %g at step %ld "
                       "(training diverged; the last good checkpoint is kept)", out,
                       !isfinite(m->params[i]) ? m->params[i] : !isfinite(m->m[i]) ? m->m[i] : m->v[i],
                       m->opt.step);
  return pcnn_ckpt_save(out, m, 1, extra, err);
}

static volatile sig_atomic_t g_interrupted;
static void on_sigint(int s) {
  (void)s;
  g_interrupted = 1;
}

/* the training data stream: position p of the endless stream is image
 * perm_pass[p % n] with pass = p / n, perm_pass a permutation seeded by
 * (seed, pass); batch t is positions [t*B, t*B + B). So the data seen at
 * step t depends only on (seed, t), and a resumed run sees what an
 * uninterrupted run would have seen. */
typedef struct {
  int n;
  uint64_t seed;
  long pass;
  int32_t *perm;
} stream_t;

static int32_t stream_at(stream_t *s, long p) {
  const long pass = p / s->n;
  if (pass != s->pass) {
    pcnn_rng_t r;
    pcnn_rng_seed(&r, s->seed * 0x9E3779B97F4A7C15ull + (uint64_t)pass + 1);
    pcnn_rng_permutation(&r, s->perm, s->n);
    s->pass = pass;
  }
  return s->perm[p % s->n];
}

static void train_usage(FILE *f) {
  const pcnn_config_t d = pcnn_config_default();
  fprintf(f,
          "usage: pixelcnn train [options]\n"
          "Trains a PixelCNN with Nadam; evaluates the test NLL and writes a checkpoint after\n"
          "every epoch (atomically); Ctrl-C writes a checkpoint and exits with status 130.\n"
          "  --data NAME|PATH   fashion-mnist (default), mnist, or an IDX / CIFAR-10 file or dir\n"
          "  --binarize         pixels > 0.5 -> 1 (binarised data, for the bernoulli head)\n"
          "  --limit N          train on the first N training images only (default all)\n"
          "  --test-limit N     evaluate on the first N test images only (default all)\n"
          "  --channels C       1 or 3; must match the data (default: from the data)\n"
          "  --filters F        feature maps (even; default %d)\n"
          "  --depth D          residual blocks (default %d)\n"
          "  --head H           bernoulli (default) or softmax256\n"
          "  --batch N          images per step (default 32)\n"
          "  --epochs N         epochs in total, counting resumed ones (default 1)\n"
          "  --steps N          steps per epoch (default: one pass over the training images)\n"
          "  --lr X             Nadam learning rate (default %g)\n"
          "  --seed S           initialisation and shuffling seed (default 1)\n"
          "  --out FILE         checkpoint path (default runs/pixelcnn.safetensors)\n"
          "  --log FILE         CSV log, one row per epoch (default runs/train.csv)\n"
          "  --resume FILE      continue from a checkpoint, with its optimizer state, data order\n"
          "                     and batch; model flags, if given, must agree with it\n"
          "  --threads N        OpenMP threads (default: all cores)\n"
          "  --isa ref|avx2|avx512  highest kernel level to use (default: best supported)\n"
          "  --plan FILE        kernel plan from `pixelcnn tune` (default: $PIXELCNN_PLAN, else\n"
          "                     every layer on the --isa level); recorded in the checkpoint\n"
          "  --quiet            no progress line\n",
          d.filters, d.depth, pcnn_nadam_defaults().lr);
}

static int cmd_train(int argc, char **argv) {
  pcnn_config_t cfg = pcnn_config_default();
  const char *data = "fashion-mnist", *out = "runs/pixelcnn.safetensors", *log_path = "runs/train.csv",
             *resume = NULL;
  int binarize = 0, limit = 0, test_limit = 0, channels = 0, batch = 32, epochs = 1, steps = 0, quiet = 0;
  int set_f = 0, set_d = 0, set_h = 0, set_batch = 0, set_seed = 0, set_lr = 0, set_bin = 0;
  double lr = pcnn_nadam_defaults().lr; /* one default, the library's */
  uint64_t seed = 1;
  static const struct option opts[] = {
      {"data", 1, 0, 'd'}, {"binarize", 0, 0, 'B'}, {"limit", 1, 0, 'l'}, {"test-limit", 1, 0, 'L'},
      {"channels", 1, 0, 'C'}, {"filters", 1, 0, 'F'}, {"depth", 1, 0, 'D'}, {"head", 1, 0, 'H'},
      {"batch", 1, 0, 'b'}, {"epochs", 1, 0, 'e'}, {"steps", 1, 0, 'S'}, {"lr", 1, 0, 'r'},
      {"seed", 1, 0, 's'}, {"out", 1, 0, 'o'}, {"log", 1, 0, 'g'}, {"resume", 1, 0, 'R'},
      {"threads", 1, 0, 't'}, {"isa", 1, 0, 'i'}, {"quiet", 0, 0, 'q'}, {"plan", 1, 0, 'P'},
      {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) switch (o) {
      case 'P': g_plan_path = optarg; break;
      case 'd': data = optarg; break;
      case 'B': binarize = 1, set_bin = 1; break;
      case 'l': if (parse_iv("--limit", optarg, &PCNN_V_POS_LIMIT, &limit)) return 2; break;
      case 'L': if (parse_iv("--test-limit", optarg, &PCNN_V_POS_LIMIT, &test_limit)) return 2; break;
      case 'C':
        if (strcmp(optarg, "1") != 0 && strcmp(optarg, "3") != 0)
          FAIL(2, "--channels: '%s' is not 1 or 3", optarg);
        channels = optarg[0] - '0';
        break;
      case 'F': if (parse_iv("--filters", optarg, &PCNN_V_FILTERS, &cfg.filters)) return 2; set_f = 1; break;
      case 'D': if (parse_iv("--depth", optarg, &PCNN_V_DEPTH, &cfg.depth)) return 2; set_d = 1; break;
      case 'H':
        cfg.head = pcnn_head_parse(optarg);
        if (cfg.head < 0) FAIL(2, "--head: '%s' is not bernoulli or softmax256", optarg);
        set_h = 1;
        break;
      case 'b': if (parse_iv("--batch", optarg, &PCNN_V_BATCH, &batch)) return 2; set_batch = 1; break;
      case 'e': if (parse_iv("--epochs", optarg, &PCNN_V_EPOCHS, &epochs)) return 2; break;
      case 'S': if (parse_iv("--steps", optarg, &PCNN_V_STEPS, &steps)) return 2; break;
      case 'r': if (parse_rv("--lr", optarg, &PCNN_V_LR, &lr)) return 2; set_lr = 1; break;
      case 's': if (parse_seed(optarg, &seed)) return 2; set_seed = 1; break;
      case 'o': out = optarg; break;
      case 'g': log_path = optarg; break;
      case 'R': resume = optarg; break;
      case 't': if (set_threads(optarg)) return 2; break;
      case 'i': if (set_isa(optarg)) return 2; break;
      case 'q': quiet = 1; break;
      case 'h': train_usage(stdout); return 0;
      default: train_usage(stderr); return 2;
    }
  if (optind < argc) FAIL(2, "unexpected argument '%s' (see --help)", argv[optind]);
  {
    /* the model flags, by the library's one check, before any data is read
     * (channels and image size come from the data later) */
    pcnn_config_t early = cfg;
    early.channels = channels ? channels : 1;
    char why[PCNN_ERR_LEN];
    if (pcnn_config_check(&early, why)) FAIL(2, "%s", why);
  }

  char err[PCNN_ERR_LEN];
  pcnn_model_t m;
  static pcnn_ckpt_extra_t extra; /* what the checkpoints of this run record (~130 KB: not on the stack) */
  static char data_buf[PCNN_MAX_PATH + 1];
  memset(&extra, 0, sizeof extra);
  if (resume) {
    int has_opt = 0;
    static pcnn_ckpt_extra_t old;
    if (pcnn_ckpt_load(resume, &m, 0, &has_opt, &old, err)) FAIL(1, "--resume: %s", err);
    if (!has_opt) {
      pcnn_model_free(&m);
      FAIL(1, "--resume: %s has no optimizer state (written without it)", resume);
    }
#define AGREE(set, flag, mine, theirs)                                                          \
  if ((set) && (mine) != (theirs)) {                                                          \
    pcnn_model_free(&m);                                                                      \
    FAIL(2, "%s %lld disagrees with the checkpoint %s (%lld)", flag, (long long)(mine), resume, \
         (long long)(theirs));                                                                \
  }
    AGREE(set_f, "--filters", cfg.filters, m.cfg.filters)
    AGREE(set_d, "--depth", cfg.depth, m.cfg.depth)
    AGREE(set_h, "--head", cfg.head, m.cfg.head)
    /* the data order and batch come from the checkpoint so the run continues
     * exactly; each value read is checked by the range of its flag */
    const char *v;
    long long x;
    char why[PCNN_ERR_LEN];
#define META_INT(key, range)                                                                         \
  if (pcnn_value_int(&(range), v, &x, why)) {                                                       \
    pcnn_model_free(&m);                                                                           \
    FAIL(1, "--resume: %s: metadata %s: %s", resume, key, why);                                     \
  }
    if ((v = pcnn_ckpt_extra_get(&old, "batch"))) {
      META_INT("batch", PCNN_V_BATCH)
      AGREE(set_batch, "--batch", batch, x)
      batch = (int)x;
    }
    if ((v = pcnn_ckpt_extra_get(&old, "seed"))) {
      uint64_t sd;
      if (pcnn_value_u64(v, &sd, why)) {
        pcnn_model_free(&m);
        FAIL(1, "--resume: %s: metadata seed: %s", resume, why);
      }
      AGREE(set_seed, "--seed", seed, sd)
      seed = sd;
    }
    if ((v = pcnn_ckpt_extra_get(&old, "binarize"))) {
      META_INT("binarize", PCNN_V_BINARIZE)
      AGREE(set_bin, "--binarize", binarize, x)
      binarize = (int)x;
    }
    if ((v = pcnn_ckpt_extra_get(&old, "steps_per_epoch"))) {
      META_INT("steps_per_epoch", PCNN_V_STEPS)
      if (!steps) steps = (int)x;
    }
    if ((v = pcnn_ckpt_extra_get(&old, "limit"))) {
      META_INT("limit", PCNN_V_LIMIT)
      if (!limit) limit = (int)x;
    }
    if ((v = pcnn_ckpt_extra_get(&old, "data")) && strcmp(data, "fashion-mnist") == 0) {
      if (!*v) {
        pcnn_model_free(&m);
        FAIL(1, "--resume: %s: metadata data is empty (give --data)", resume);
      }
      snprintf(data_buf, sizeof data_buf, "%s", v); /* old is reused below: copy */
      data = data_buf;
    }
#undef META_INT
#undef AGREE
    if (set_lr) m.hp.lr = lr;
    cfg = m.cfg;
  }

  pcnn_dataset_t tr = {0}, te = {0};
  if (pcnn_data_open_train_test(&tr, &te, data, limit, test_limit, err)) {
    if (resume) pcnn_model_free(&m);
    FAIL(1, "--data: %s", err);
  }
  int rc = 0;
  if (channels && channels != tr.c) {
    fprintf(stderr, "pixelcnn train: --channels %d but %s has %d-channel images\n", channels, tr.name, tr.c);
    rc = 2;
    goto done_data;
  }
  if (resume) {
    if (data_matches(&tr, &m, tr.name)) { rc = 1; goto done_data; }
  } else {
    cfg.channels = tr.c, cfg.height = tr.h, cfg.width = tr.w;
    if (pcnn_model_init(&m, &cfg, seed, 0, err)) {
      fprintf(stderr, "pixelcnn train: %s\n", err);
      rc = 2;
      goto done_data;
    }
    m.hp.lr = lr;
  }
  const int spe = steps ? steps : (tr.n / batch > 0 ? tr.n / batch : 1);
  const long total = (long)spe * epochs;
  if (resume && m.opt.step >= total) {
    fprintf(stderr, "pixelcnn train: --epochs %d: %s is already at step %ld (epoch %ld of %d steps); "
            "nothing to train: give --epochs above %ld\n", epochs, resume, m.opt.step, m.opt.step / spe,
            spe, m.opt.step / spe);
    rc = 2;
    goto done;
  }
  if (pcnn_model_reserve(&m, batch, err)) {
    fprintf(stderr, "pixelcnn train: --batch: %s\n", err);
    rc = 1;
    goto done;
  }
  if (apply_plan(&m, quiet)) {
    rc = 1;
    goto done;
  }
  char v[64];
  int bad_meta = pcnn_ckpt_extra_set(&extra, "data", data);
  snprintf(v, sizeof v, "%d", binarize), bad_meta |= pcnn_ckpt_extra_set(&extra, "binarize", v);
  snprintf(v, sizeof v, "%d", batch), bad_meta |= pcnn_ckpt_extra_set(&extra, "batch", v);
  snprintf(v, sizeof v, "%llu", (unsigned long long)seed), bad_meta |= pcnn_ckpt_extra_set(&extra, "seed", v);
  snprintf(v, sizeof v, "%d", spe), bad_meta |= pcnn_ckpt_extra_set(&extra, "steps_per_epoch", v);
  snprintf(v, sizeof v, "%d", limit), bad_meta |= pcnn_ckpt_extra_set(&extra, "limit", v);
  bad_meta |= pcnn_ckpt_extra_set(&extra, "kernels", pcnn_isa_name(pcnn_kernels_isa()));
  char planstr[256];
  pcnn_plan_str(&m.plan, planstr, sizeof planstr);
  bad_meta |= pcnn_ckpt_extra_set(&extra, "plan", planstr);
  if (bad_meta) {
    fprintf(stderr, "pixelcnn train: --data: '%.200s...' is too long to record in the checkpoint\n", data);
    rc = 2;
    goto done;
  }
  /* --out and --log are checked before the first step, not after an epoch */
  if (pcnn_prepare_output(out, err)) {
    fprintf(stderr, "pixelcnn train: --out: %s\n", err);
    rc = 1;
    goto done;
  }
  struct stat lst;
  const int log_is_dev = stat(log_path, &lst) == 0 && S_ISCHR(lst.st_mode); /* --log /dev/null */
  if (!log_is_dev && pcnn_prepare_output(log_path, err)) {
    fprintf(stderr, "pixelcnn train: --log: %s\n", err);
    rc = 1;
    goto done;
  }
  FILE *log = fopen(log_path, resume ? "a" : "w");
  if (!log) {
    fprintf(stderr, "pixelcnn train: --log: %s: %s\n", log_path, strerror(errno));
    rc = 1;
    goto done;
  }
  if (!resume || ftell(log) == 0)
    fprintf(log, "step,epoch,train_nll_nats,train_bpd,test_nll_nats,test_bpd,images_per_s,wall_s\n");
  fflush(log);

  const size_t img = (size_t)cfg.height * cfg.width * cfg.channels;
  float *inbuf = malloc((size_t)batch * img * sizeof(float));
  int32_t *idx = malloc((size_t)batch * sizeof(int32_t));
  stream_t st = {tr.n, seed, -1, malloc((size_t)tr.n * sizeof(int32_t))};
  if (!inbuf || !idx || !st.perm) {
    fprintf(stderr, "pixelcnn train: out of memory\n");
    rc = 1;
    goto done_log;
  }
  if (!quiet)
    fprintf(stderr,
            "train: %s (%d train, %d test images %dx%dx%d%s), F=%d D=%d head=%s, %zu parameters, "
            "batch %d, %d steps/epoch x %d epochs, %d threads, kernels %s\n",
            tr.name, tr.n, te.n, cfg.height, cfg.width, cfg.channels, binarize ? ", binarised" : "",
            cfg.filters, cfg.depth, pcnn_head_name(cfg.head), m.nparams, batch, spe, epochs,
            omp_get_max_threads(), pcnn_isa_name(pcnn_kernels_isa()));
  signal(SIGINT, on_sigint);
  const double t_start = now_s();
  const long step0 = m.opt.step;
  double epoch_nll = 0;
  int epoch_steps = 0;
  double last_print = 0;
  while (m.opt.step < total && !g_interrupted) {
    const long t = m.opt.step;
    const int epoch = (int)(t / spe);
    for (int j = 0; j < batch; j++) idx[j] = stream_at(&st, t * batch + j);
    pcnn_data_batch_f32(inbuf, &tr, idx, batch, binarize, NULL);
    const double nll = pcnn_model_train_step(&m, inbuf, batch) / batch;
    if (!isfinite(nll)) {
      /* the step already moved the weights: stop before anything is saved */
      fprintf(stderr, "%spixelcnn train: the loss is %g at step %ld (epoch %d): training diverged; "
              "%s keeps the last good checkpoint (try a smaller --lr)\n", !quiet && isatty(2) ? "\n" : "",
              nll, m.opt.step, epoch + 1, out);
      rc = 1;
      break;
    }
    epoch_nll += nll;
    epoch_steps++;
    const double el = now_s() - t_start;
    const double ips = (double)(m.opt.step - step0) * batch / el;
    if (!quiet && (el - last_print > (isatty(2) ? 0.5 : 10.0) || m.opt.step % spe == 0)) {
      char eta[32];
      fmt_duration(eta, sizeof eta, (total - m.opt.step) * (double)batch / ips);
      fprintf(stderr, "%sepoch %d/%d step %ld/%d loss %.2f nats (%.4f bpd) %.1f img/s ETA %s%s",
              isatty(2) ? "\r" : "", epoch + 1, epochs, m.opt.step - (long)epoch * spe, spe, nll,
              bits_per_dim(nll, &cfg), ips, eta, isatty(2) ? "   " : "\n");
      last_print = el;
    }
    if (m.opt.step % spe == 0) {
      /* end of an epoch: test NLL, CSV row, checkpoint */
      if (!quiet && isatty(2)) fputc('\n', stderr);
      const double test = eval_nll(&m, &te, te.n, batch, binarize, NULL, inbuf, quiet);
      const double train = epoch_nll / epoch_steps;
      if (!isfinite(test)) {
        fprintf(stderr, "pixelcnn train: the test NLL is %g after step %ld (epoch %d): the model "
                "diverged; %s keeps the last good checkpoint (try a smaller --lr)\n", test, m.opt.step,
                epoch + 1, out);
        rc = 1;
        break;
      }
      fprintf(log, "%ld,%d,%.6f,%.6f,%.6f,%.6f,%.2f,%.2f\n", m.opt.step, epoch + 1, train,
              bits_per_dim(train, &cfg), test, bits_per_dim(test, &cfg), ips, now_s() - t_start);
      fflush(log);
      snprintf(v, sizeof v, "%d", epoch + 1), pcnn_ckpt_extra_set(&extra, "epoch", v);
      if (save_checked(out, &m, &extra, err)) {
        fprintf(stderr, "pixelcnn train: --out: %s\n", err);
        rc = 1;
        break;
      }
      if (!quiet)
        fprintf(stderr, "epoch %d: train %.2f nats/image (%.4f bpd), test %.2f nats/image (%.4f bpd) -> %s\n",
                epoch + 1, train, bits_per_dim(train, &cfg), test, bits_per_dim(test, &cfg), out);
      epoch_nll = 0;
      epoch_steps = 0;
    }
  }
  if (g_interrupted && rc == 0) {
    snprintf(v, sizeof v, "%ld", m.opt.step / spe), pcnn_ckpt_extra_set(&extra, "epoch", v);
    if (save_checked(out, &m, &extra, err)) {
      fprintf(stderr, "\npixelcnn train: interrupted; writing the checkpoint failed: %s\n", err);
      rc = 1;
    } else {
      fprintf(stderr, "\npixelcnn train: interrupted at step %ld; checkpoint written to %s "
              "(continue with --resume %s)\n", m.opt.step, out, out);
      rc = 130;
    }
  }
done_log:
  fclose(log);
  free(inbuf);
  free(idx);
  free(st.perm);
done:
  pcnn_model_free(&m);
done_data:
  pcnn_dataset_free(&tr);
  pcnn_dataset_free(&te);
  return rc;
}

/* -------------------------------------------------------------- sample --- */

typedef struct {
  double t0;
  int n;
} progress_ctx_t;

static void sample_progress(void *p, int done, int total) {
  progress_ctx_t *c = p;
  const double el = now_s() - c->t0;
  char eta[32];
  fmt_duration(eta, sizeof eta, el / done * (total - done));
  fprintf(stderr, "%srows %d/%d, %.2f images/s, ETA %s%s", isatty(2) ? "\r" : "", done, total,
          c->n * (double)done / total / el, eta, isatty(2) ? "   " : "\n");
  if (done == total && isatty(2)) fputc('\n', stderr);
}

static void sample_usage(FILE *f) {
  fprintf(f,
          "usage: pixelcnn sample --ckpt FILE [options]\n"
          "Draws images from a trained model, pixel by pixel (and R, G, B within a pixel).\n"
          "  --ckpt FILE          checkpoint written by `pixelcnn train` (required)\n"
          "  --sampler cached|naive  cached (default): exact incremental sampling, each layer\n"
          "                       computed once per pixel from cached activations (about one\n"
          "                       forward pass per image); naive: the seed's, a full forward\n"
          "                       pass per pixel and colour. Same seed, same images.\n"
          "  --n N                images (default 16)\n"
          "  --seed S             sampling seed (default 1)\n"
          "  --temperature T      logits are divided by T > 0 (default 1)\n"
          "  --out FILE.png       PNG grid (default samples.png)\n"
          "  --out-npy FILE.npy   also the images as float32 (N, H, W, C) in [0, 1]\n"
          "  --prime DATA         complete images: DATA as for train --data (its test split's\n"
          "                       first N images) ...\n"
          "  --prime-rows R       ... keeping their top R rows (default: half the image)\n"
          "  --scale K            PNG pixels per image pixel (default 2)\n"
          "  --threads N          OpenMP threads (default: all cores)\n"
          "  --isa ref|avx2|avx512  highest kernel level to use (default: best supported)\n"
          "  --plan FILE          kernel plan from `pixelcnn tune` (default: $PIXELCNN_PLAN)\n"
          "  --quiet              no progress line\n");
}

static int cmd_sample(int argc, char **argv) {
  const char *ckpt = NULL, *out = "samples.png", *out_npy = NULL, *prime = NULL;
  int n = 16, prime_rows = -1, scale = 2, quiet = 0, cached = 1;
  double temperature = 1.0;
  uint64_t seed = 1;
  static const struct option opts[] = {
      {"ckpt", 1, 0, 'c'}, {"sampler", 1, 0, 'S'}, {"n", 1, 0, 'n'}, {"seed", 1, 0, 's'},
      {"temperature", 1, 0, 'T'}, {"out", 1, 0, 'o'}, {"out-npy", 1, 0, 'N'}, {"prime", 1, 0, 'p'},
      {"prime-rows", 1, 0, 'r'}, {"scale", 1, 0, 'k'}, {"threads", 1, 0, 't'}, {"isa", 1, 0, 'i'},
      {"quiet", 0, 0, 'q'}, {"plan", 1, 0, 'P'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) switch (o) {
      case 'P': g_plan_path = optarg; break;
      case 'c': ckpt = optarg; break;
      case 'S':
        if (strcmp(optarg, "cached") != 0 && strcmp(optarg, "naive") != 0)
          FAIL(2, "--sampler: '%s' is not available (this build has: cached, naive)", optarg);
        cached = strcmp(optarg, "cached") == 0;
        break;
      case 'n': if (parse_iv("--n", optarg, &PCNN_V_SAMPLES, &n)) return 2; break;
      case 's': if (parse_seed(optarg, &seed)) return 2; break;
      case 'T': if (parse_rv("--temperature", optarg, &PCNN_V_TEMPERATURE, &temperature)) return 2; break;
      case 'o': out = optarg; break;
      case 'N': out_npy = optarg; break;
      case 'p': prime = optarg; break;
      case 'r': if (parse_iv("--prime-rows", optarg, &PCNN_V_PRIME_ROWS, &prime_rows)) return 2; break;
      case 'k': if (parse_iv("--scale", optarg, &PCNN_V_SCALE, &scale)) return 2; break;
      case 't': if (set_threads(optarg)) return 2; break;
      case 'i': if (set_isa(optarg)) return 2; break;
      case 'q': quiet = 1; break;
      case 'h': sample_usage(stdout); return 0;
      default: sample_usage(stderr); return 2;
    }
  if (optind < argc) FAIL(2, "unexpected argument '%s' (see --help)", argv[optind]);
  if (!ckpt) FAIL(2, "--ckpt is required (see --help)");
  if (prime_rows >= 0 && !prime) FAIL(2, "--prime-rows needs --prime DATA");
  char err[PCNN_ERR_LEN];
  /* outputs are checked before the sampling, which can take long */
  if (pcnn_prepare_output(out, err)) FAIL(1, "--out: %s", err);
  if (out_npy && pcnn_prepare_output(out_npy, err)) FAIL(1, "--out-npy: %s", err);
  pcnn_model_t m;
  static pcnn_ckpt_extra_t extra;
  if (pcnn_ckpt_load(ckpt, &m, n, NULL, &extra, err)) FAIL(1, "%s", err);
  if (apply_plan(&m, quiet)) {
    pcnn_model_free(&m);
    return 1;
  }
  if (prime_rows > m.cfg.height) {
    pcnn_model_free(&m);
    FAIL(2, "--prime-rows: %d is more than the image height %d", prime_rows, m.cfg.height);
  }
  const size_t img = (size_t)m.cfg.height * m.cfg.width * m.cfg.channels;
  float *x = calloc((size_t)n * img, sizeof(float));
  int rc = 0;
  if (prime) {
    pcnn_dataset_t ds;
    if (pcnn_data_open(&ds, prime, PCNN_SPLIT_TEST, n, err)) {
      fprintf(stderr, "pixelcnn sample: --prime: %s\n", err);
      rc = 1;
    } else if (data_matches(&ds, &m, ds.name)) {
      rc = 1;
    } else if (ds.n < n) {
      fprintf(stderr, "pixelcnn sample: --prime: %s has %d images, --n asks for %d\n", ds.name, ds.n, n);
      rc = 1;
    } else {
      const char *b = pcnn_ckpt_extra_get(&extra, "binarize");
      int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
      for (int i = 0; i < n; i++) idx[i] = i;
      pcnn_data_batch_f32(x, &ds, idx, n, b && strcmp(b, "1") == 0, NULL);
      free(idx);
      if (prime_rows < 0) prime_rows = m.cfg.height / 2;
    }
    pcnn_dataset_free(&ds);
  }
  if (prime_rows < 0) prime_rows = 0;
  if (!rc) {
    progress_ctx_t pc = {now_s(), n};
    if (!quiet)
      fprintf(stderr, "sample: %d images %dx%dx%d, %s sampler, %d primed rows, T=%g, %d threads\n", n,
              m.cfg.height, m.cfg.width, m.cfg.channels, cached ? "cached" : "naive", prime_rows,
              temperature, omp_get_max_threads());
    if (!cached) {
      pcnn_sample_naive(&m, x, n, prime_rows, (float)temperature, seed, quiet ? NULL : sample_progress, &pc);
    } else if (pcnn_sample_cached(&m, x, n, prime_rows, (float)temperature, seed,
                                  quiet ? NULL : sample_progress, &pc, NULL)) {
      fprintf(stderr, "pixelcnn sample: out of memory for the cached sampler (try a smaller --n)\n");
      free(x);
      pcnn_model_free(&m);
      return 1;
    }
    if (pcnn_png_write_grid_f32(out, x, n, m.cfg.height, m.cfg.width, m.cfg.channels, 0, 1, scale, err)) {
      fprintf(stderr, "pixelcnn sample: --out: %s\n", err);
      rc = 1;
    } else {
      printf("samples: %s (%d images, %.1f s)\n", out, n, now_s() - pc.t0);
    }
    const int64_t shape[4] = {n, m.cfg.height, m.cfg.width, m.cfg.channels};
    if (!rc && out_npy) {
      if (pcnn_npy_write(out_npy, PCNN_NPY_F32, x, 4, shape, err)) {
        fprintf(stderr, "pixelcnn sample: --out-npy: %s\n", err);
        rc = 1;
      } else {
        printf("images: %s (%d, %d, %d, %d) float32\n", out_npy, n, m.cfg.height, m.cfg.width, m.cfg.channels);
      }
    }
  }
  free(x);
  pcnn_model_free(&m);
  return rc;
}

/* ---------------------------------------------------------------- info --- */

static void info_usage(FILE *f) {
  fprintf(f,
          "usage: pixelcnn info [--ckpt FILE] [--plan FILE] [--isa ref|avx2|avx512]\n"
          "Prints the CPU's kernel levels, the kernel each operation runs on, the kernel plan\n"
          "(layer, shape, level, and the measured time that chose it when tuned) for the seed\n"
          "model or the checkpoint's, and with --ckpt its config, parameter count and metadata.\n");
}

static int cmd_info(int argc, char **argv) {
  const char *ckpt = NULL;
  static const struct option opts[] = {
      {"ckpt", 1, 0, 'c'}, {"isa", 1, 0, 'i'}, {"plan", 1, 0, 'P'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) switch (o) {
      case 'c': ckpt = optarg; break;
      case 'i': if (set_isa(optarg)) return 2; break;
      case 'P': g_plan_path = optarg; break;
      case 'h': info_usage(stdout); return 0;
      default: info_usage(stderr); return 2;
    }
  if (optind < argc) FAIL(2, "unexpected argument '%s' (see --help)", argv[optind]);
  printf("kernel levels:");
  for (int i = 0; i < PCNN_ISA_COUNT; i++)
    printf(" %s%s", pcnn_isa_name((pcnn_isa_t)i), pcnn_isa_supported((pcnn_isa_t)i) ? "" : "(unsupported)");
  const pcnn_kernels_t *t = pcnn_kernels();
  printf("\nactive level: %s, threads: %d\nkernel table:\n", pcnn_isa_name(pcnn_kernels_isa()),
         omp_get_max_threads());
  for (int op = 0; op < pcnn_op_count(); op++)
    printf("  %-28s %s\n", pcnn_op_name(op), pcnn_isa_name(t->isa_of[op]));
  if (ckpt) {
    char err[PCNN_ERR_LEN];
    pcnn_model_t m;
    static pcnn_ckpt_extra_t extra;
    int has_opt;
    if (pcnn_ckpt_load(ckpt, &m, 0, &has_opt, &extra, err)) FAIL(1, "%s", err);
    printf("checkpoint %s:\n  channels %d, filters %d, depth %d, head %s, image %dx%d\n"
           "  %zu parameters in %d tensors, optimizer state: %s (step %ld)\n",
           ckpt, m.cfg.channels, m.cfg.filters, m.cfg.depth, pcnn_head_name(m.cfg.head), m.cfg.height,
           m.cfg.width, m.nparams, m.ntensors, has_opt ? "yes" : "no", m.opt.step);
    for (int i = 0; i < extra.n; i++) printf("  %s = %s\n", extra.key[i], extra.value[i]);
    const int rc = apply_plan(&m, 1);
    if (!rc) print_plan(stdout, &m);
    pcnn_model_free(&m);
    return rc ? 1 : 0;
  }
  char err[PCNN_ERR_LEN];
  pcnn_model_t m;
  const pcnn_config_t seed = pcnn_config_default();
  if (pcnn_model_init(&m, &seed, 1, 0, err)) FAIL(1, "%s", err);
  const int rc = apply_plan(&m, 1);
  if (!rc) {
    printf("seed model (F=%d, D=%d, 28x28): ", seed.filters, seed.depth);
    print_plan(stdout, &m);
  }
  pcnn_model_free(&m);
  return rc ? 1 : 0;
}

/* ---------------------------------------------------------------- tune --- */

static void tune_usage(FILE *f) {
  fprintf(f,
          "usage: pixelcnn tune [options]\n"
          "Measures every kernel level that passes verification against the reference on this\n"
          "machine, for a model's layer shapes, batch and thread count, and writes the fastest\n"
          "per layer and direction as a plan file for --plan / PIXELCNN_PLAN. Runs without a plan\n"
          "use every layer on the --isa level (default: the best supported), so timing noise never\n"
          "changes a run by itself.\n"
          "  --channels C --filters F --depth D --head H --size S   the model (default: the seed's,\n"
          "                 1 x 128 x 6, bernoulli, 28x28)\n"
          "  --batch N      images per step (default 32)\n"
          "  --reps N       timed runs per kernel, best taken (default 5)\n"
          "  --out FILE     plan file (default pixelcnn.plan)\n"
          "  --threads N    OpenMP threads (default: all cores); a plan is for one thread count\n");
}

static int cmd_tune(int argc, char **argv) {
  pcnn_config_t cfg = pcnn_config_default();
  int batch = 32, reps = 5, size = 28;
  const char *out = "pixelcnn.plan";
  static const struct option opts[] = {
      {"channels", 1, 0, 'C'}, {"filters", 1, 0, 'F'}, {"depth", 1, 0, 'D'}, {"head", 1, 0, 'H'},
      {"size", 1, 0, 's'}, {"batch", 1, 0, 'b'}, {"reps", 1, 0, 'r'}, {"out", 1, 0, 'o'},
      {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) switch (o) {
      case 'C': if (parse_iv("--channels", optarg, &PCNN_V_CHANNELS, &cfg.channels)) return 2; break;
      case 'F': if (parse_iv("--filters", optarg, &PCNN_V_FILTERS, &cfg.filters)) return 2; break;
      case 'D': if (parse_iv("--depth", optarg, &PCNN_V_DEPTH, &cfg.depth)) return 2; break;
      case 'H':
        cfg.head = pcnn_head_parse(optarg);
        if (cfg.head < 0) FAIL(2, "--head: '%s' is not bernoulli or softmax256", optarg);
        break;
      case 's': if (parse_iv("--size", optarg, &PCNN_V_TUNE_SIZE, &size)) return 2; break;
      case 'b': if (parse_iv("--batch", optarg, &PCNN_V_BATCH, &batch)) return 2; break;
      case 'r': if (parse_iv("--reps", optarg, &PCNN_V_REPS, &reps)) return 2; break;
      case 'o': out = optarg; break;
      case 't': if (set_threads(optarg)) return 2; break;
      case 'h': tune_usage(stdout); return 0;
      default: tune_usage(stderr); return 2;
    }
  if (optind < argc) FAIL(2, "unexpected argument '%s' (see --help)", argv[optind]);
  cfg.height = cfg.width = size;
  char err[PCNN_ERR_LEN];
  if (pcnn_prepare_output(out, err)) FAIL(1, "--out: %s", err);
  pcnn_model_t m;
  if (pcnn_model_init(&m, &cfg, 1, 0, err)) FAIL(2, "%s", err);
  fprintf(stderr, "tune: F=%d D=%d C=%d %dx%d batch %d, %d threads, best of %d runs per kernel\n", cfg.filters,
          cfg.depth, cfg.channels, size, size, batch, omp_get_max_threads(), reps);
  pcnn_plan_t plan;
  pcnn_tune_plan(&m, batch, reps, stderr, &plan);
  plan.threads = omp_get_max_threads();
  pcnn_model_set_plan(&m, &plan);
  snprintf(m.plan.source, sizeof m.plan.source, "%s", out);
  print_plan(stdout, &m);
  const int rc = pcnn_plan_save(out, &plan, err);
  pcnn_model_free(&m);
  if (rc) FAIL(1, "--out: %s", err);
  printf("plan written to %s (use it with --plan %s or PIXELCNN_PLAN=%s)\n", out, out, out);
  return 0;
}

/* --------------------------------------------------------------- check --- */

static void check_usage(FILE *f) {
  fprintf(f,
          "usage: pixelcnn check [--batch N] [--threads N]\n"
          "Runs every kernel of the kernel list this CPU supports against its reference twin,\n"
          "and the convolutions against oneDNN, on the seed model's layer shapes (28x28);\n"
          "prints per op x variant the max relative error, the time and the useful GFLOP/s.\n"
          "Exit status 1 if any kernel is out of tolerance.\n"
          "  --batch N    images per problem (default 4)\n"
          "  --threads N  OpenMP threads (default: all cores)\n");
}

static int cmd_check(int argc, char **argv) {
  int batch = 4;
  static const struct option opts[] = {
      {"batch", 1, 0, 'b'}, {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) switch (o) {
      case 'b': if (parse_iv("--batch", optarg, &PCNN_V_CHECK_BATCH, &batch)) return 2; break;
      case 't': if (set_threads(optarg)) return 2; break;
      case 'h': check_usage(stdout); return 0;
      default: check_usage(stderr); return 2;
    }
  if (optind < argc) FAIL(2, "unexpected argument '%s' (see --help)", argv[optind]);
  return pcnn_check_run(stdout, batch) ? 1 : 0;
}

/* ---------------------------------------------------------------- main --- */

static void main_usage(FILE *f) {
  fprintf(f,
          "usage: pixelcnn COMMAND [options]   (pixelcnn COMMAND --help for its options)\n"
          "  train    train a PixelCNN on a data set (Nadam), with checkpoints and a CSV log\n"
          "  eval     NLL of a data set under a checkpoint (nats/image, bits/dim)\n"
          "  sample   draw images (or complete them) and write a PNG grid\n"
          "  info     kernel levels and the kernel table; a checkpoint's config\n"
          "  check    verify every SIMD kernel against the reference and oneDNN here\n"
          "  tune     measure the verified kernels for a model's shapes; write a plan file\n"
          "Environment: PIXELCNN_ISA=ref|avx2|avx512 caps the kernel level (as --isa);\n"
          "PIXELCNN_PLAN=FILE is the default --plan;\n"
          "OMP_NUM_THREADS sets the default thread count.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    main_usage(stderr);
    return 2;
  }
  const char *env = getenv("PIXELCNN_ISA");
  if (env && *env) {
    const int isa = pcnn_isa_parse(env);
    if (isa < 0) {
      fprintf(stderr, "pixelcnn: PIXELCNN_ISA='%s' is not one of ref, avx2, avx512\n", env);
      return 2;
    }
    if (pcnn_kernels_set_isa((pcnn_isa_t)isa)) {
      fprintf(stderr, "pixelcnn: PIXELCNN_ISA=%s: this CPU cannot run %s kernels\n", env, env);
      return 2;
    }
  }
  g_cmd = argv[1];
  argv[1] = argv[0];
  if (strcmp(g_cmd, "train") == 0) return cmd_train(argc - 1, argv + 1);
  if (strcmp(g_cmd, "eval") == 0) return cmd_eval(argc - 1, argv + 1);
  if (strcmp(g_cmd, "sample") == 0) return cmd_sample(argc - 1, argv + 1);
  if (strcmp(g_cmd, "info") == 0) return cmd_info(argc - 1, argv + 1);
  if (strcmp(g_cmd, "check") == 0) return cmd_check(argc - 1, argv + 1);
  if (strcmp(g_cmd, "tune") == 0) return cmd_tune(argc - 1, argv + 1);
  if (strcmp(g_cmd, "--help") == 0 || strcmp(g_cmd, "-h") == 0 || strcmp(g_cmd, "help") == 0) {
    main_usage(stdout);
    return 0;
  }
  fprintf(stderr, "pixelcnn: unknown command '%s'\n", g_cmd);
  main_usage(stderr);
  return 2;
}
