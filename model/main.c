/* main.c: the pixelcnn program: train | eval | sample here, info | check |
 * tune in cli_tools.c, the shared flag parsers and messages in cli.c.
 * Flags in, lines out: the work is the library's (train.h, eval.h, check.h,
 * tune.h); here are the option parsers, the progress lines and the messages. */
#include <getopt.h>
#include <omp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "cli_mpi.h"
#include "eval.h"
#include "fileio.h"
#include "image_io.h"
#include "train.h"
#include "values.h"

/* ranges of flags that no file records */
static const pcnn_irange_t PCNN_V_POS_LIMIT = {"limit", 1, 1LL << 30};
static const pcnn_irange_t PCNN_V_PRIME_ROWS = {"prime-rows", 0, 4096};
static const pcnn_irange_t PCNN_V_SCALE = {"scale", 1, 16};

/* an NLL evaluation on a terminal: a line every second, wiped at the end if
 * it took more than one */
typedef struct {
  double t0, last;
} eval_line_t;

static void eval_progress(void *p, int done, int total) {
  eval_line_t *c = p;
  if (!isatty(2)) return;
  if (done == 0) c->t0 = c->last = now_s();
  if (done > 0 && now_s() - c->last > 1.0) {
    c->last = now_s();
    fprintf(stderr, "\r  eval %d/%d images, %.0f img/s   ", done, total, done / (c->last - c->t0));
  }
  if (done == total && now_s() - c->t0 > 1.0) fprintf(stderr, "\r%60s\r", "");
}

/* ---------------------------------------------------------------- eval --- */

static void eval_usage(FILE *f) {
  fprintf(f,
          "usage: pixelcnn eval --ckpt FILE [options]\n"
          "NLL of a data set under a trained model, in nats per image and bits per dimension.\n"
          "  --ckpt FILE          checkpoint (.safetensors) written by `pixelcnn train` (required)\n"
          "  --data NAME|PATH     fashion-mnist (default), mnist, or an IDX / CIFAR-10 file or dir\n"
          "  --split test|train   which split (default test)\n"
          "  --limit N            only the first N images (default all)\n"
          "  --batch N            images per forward pass (default %d)\n"
          "  --binarize           pixels > 0.5 -> 1 (default: as the checkpoint was trained)\n"
          "  --dump-logits F.npy  write the logits, float32 (N, H, W, C*K), NHWC\n"
          "  --threads N          OpenMP threads (default: all cores)\n"
          "  --isa ref|avx2|avx512|avx512bf16  highest kernel level (default: best supported)\n"
          "  --plan FILE          kernel plan from `pixelcnn tune` (default: $PIXELCNN_PLAN, else\n"
          "                       every layer on the --isa level)\n"
          PCNN_PRECISION_HELP,
          pcnn_eval_opts_default().batch);
}

static int cmd_eval(int argc, char **argv) {
  pcnn_eval_opts_t e = pcnn_eval_opts_default();
  const char *dump = NULL;
  static const struct option opts[] = {
      {"ckpt", 1, 0, 'c'}, {"data", 1, 0, 'd'}, {"split", 1, 0, 's'}, {"limit", 1, 0, 'l'},
      {"batch", 1, 0, 'b'}, {"binarize", 0, 0, 'B'}, {"dump-logits", 1, 0, 'D'},
      {"threads", 1, 0, 't'}, {"isa", 1, 0, 'i'}, {"plan", 1, 0, 'P'}, PCNN_PRECISION_OPTION, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o, rc;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) switch (o) {
      case 'c': e.ckpt = optarg; break;
      case 'd': e.data = optarg; break;
      case 's':
        if (strcmp(optarg, "test") != 0 && strcmp(optarg, "train") != 0)
          return fail(2, "--split: '%s' is not test or train", optarg);
        e.split = strcmp(optarg, "test") == 0 ? PCNN_SPLIT_TEST : PCNN_SPLIT_TRAIN;
        break;
      case 'l': if (flag_int("--limit", optarg, &PCNN_V_POS_LIMIT, &e.limit)) return 2; break;
      case 'b': if (flag_int("--batch", optarg, &PCNN_V_BATCH, &e.batch)) return 2; break;
      case 'B': e.binarize = 1; break;
      case 'D': dump = optarg; break;
      case 't': case 'i': case 'P': case PCNN_OPT_PRECISION: if (common_flag(o, optarg)) return 2; break;
      case 'h': eval_usage(stdout); return 0;
      default: eval_usage(stderr); return 2;
    }
  if (optind < argc) return fail(2, "unexpected argument '%s' (see --help)", argv[optind]);
  if (!e.ckpt) return fail(2, "--ckpt is required (see --help)");
  char err[PCNN_ERR_LEN];
  if (dump && pcnn_prepare_output(dump, err)) return fail(1, "--dump-logits: %s", err);
  e.keep_logits = dump != NULL;
  e.plan = plan_file(&e.plan_label);
  e.precision = g_precision;
  /* under mpirun: the ranks split the images; rank 0 prints and writes */
  const pcnn_dist_t d = cli_dist_start();
  e.dist = &d;
  eval_line_t line;
  pcnn_eval_result_t r;
  if ((rc = pcnn_eval_run(&r, &e, d.rank == 0 ? eval_progress : NULL, &line, err)))
    return cli_dist_end(&d, fail(exit_status(rc), "%s", err));
  if (d.rank != 0) {
    free(r.logits);
    return cli_dist_end(&d, 0);
  }
  const pcnn_config_t *c = &r.cfg;
  printf("%s %s: %d images, NLL %.4f nats/image, %.4f bits/dim (%.1f s, %.0f img/s)\n", r.data,
         pcnn_split_name(e.split), r.n, r.nll, pcnn_bits_per_dim(r.nll, c), r.seconds, r.n / r.seconds);
  const int64_t shape[4] = {r.n, c->height, c->width, (int64_t)c->channels * r.k_out};
  if (dump && pcnn_npy_write(dump, PCNN_NPY_F32, r.logits, 4, shape, err)) rc = fail(1, "%s", err);
  else if (dump) printf("logits: %s (%d, %d, %d, %d) float32\n", dump, r.n, c->height, c->width, c->channels * r.k_out);
  free(r.logits);
  return cli_dist_end(&d, rc);
}

/* --------------------------------------------------------------- train --- */

static void train_usage(FILE *f) {
  const pcnn_train_opts_t d = pcnn_train_opts_default();
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
          "  --batch N          images per step (default %d)\n"
          "  --epochs N         epochs in total, counting resumed ones (default %d)\n"
          "  --steps N          steps per epoch (default: one pass over the training images)\n"
          "  --lr X             Nadam learning rate (default %g)\n"
          "  --seed S           initialisation and shuffling seed (default %llu)\n"
          "  --out FILE         checkpoint path (default %s)\n"
          "  --log FILE         CSV log, one row per epoch (default %s)\n"
          "  --resume FILE      continue from a checkpoint, with its optimizer state, data order\n"
          "                     and batch; model flags, if given, must agree with it\n"
          "  --threads N        OpenMP threads (default: all cores)\n"
          "  --isa ref|avx2|avx512|avx512bf16  highest kernel level (default: best supported)\n"
          "  --plan FILE        kernel plan from `pixelcnn tune` (default: $PIXELCNN_PLAN, else\n"
          "                     every layer on the --isa level); recorded in the checkpoint\n"
          "  --precision fp32|bf16  fp32 (default), or bf16: convolutions multiply bf16-rounded\n"
          "                     operands, add in fp32; weights, Nadam and the loss stay fp32;\n"
          "                     recorded in the checkpoint (--resume continues in it)\n"
          "  --quiet            no progress line\n"
          "Under mpirun (mpirun -np R pixelcnn train ...) the R ranks train one model, data-\n"
          "parallel: --batch is the global batch, --threads is per rank, rank 0 prints and writes\n"
          "the files; kill -USR1 <mpirun's pid> stops every rank with a checkpoint.\n",
          d.filters, d.depth, d.batch, d.epochs, d.lr, (unsigned long long)d.seed, d.out, d.log);
}

static volatile sig_atomic_t g_interrupted;
static void on_sigint(int s) {
  (void)s;
  g_interrupted = 1;
}

/* the lines of a training run (the hooks of pcnn_train) */
typedef struct {
  int quiet, tty, batch;
  double last_print;
  pcnn_config_t cfg;
  eval_line_t eval;
} train_lines_t;

static void train_start(void *p, const pcnn_train_start_t *s) {
  train_lines_t *u = p;
  u->cfg = s->cfg;
  u->batch = s->batch;
  if (!u->quiet)
    fprintf(stderr,
            "train: %s (%d train, %d test images %dx%dx%d%s), F=%d D=%d head=%s, %zu parameters, "
            "batch %d, %d steps/epoch x %d epochs, %d threads, kernels %s%s\n",
            s->data, s->train_n, s->test_n, s->cfg.height, s->cfg.width, s->cfg.channels,
            s->binarize ? ", binarised" : "", s->cfg.filters, s->cfg.depth, pcnn_head_name(s->cfg.head),
            s->nparams, s->batch, s->steps_per_epoch, s->epochs, omp_get_max_threads(),
            pcnn_isa_name(pcnn_kernels_isa()), s->precision == PCNN_PREC_BF16 ? ", precision bf16" : "");
  /* from here on Ctrl-C (or SIGUSR1, which mpirun forwards to every rank)
   * ends the run with a checkpoint */
  signal(SIGINT, on_sigint);
  signal(SIGUSR1, on_sigint);
}

/* a live line on a terminal (every 0.5 s), else a line every 10 s; always at an epoch's end */
static void train_step(void *p, const pcnn_train_step_t *s) {
  train_lines_t *u = p;
  const int end = s->step % s->steps_per_epoch == 0;
  if (s->seconds - u->last_print > (u->tty ? 0.5 : 10.0) || end) {
    char eta[32];
    fmt_duration(eta, sizeof eta, (s->total - s->step) * (double)u->batch / s->images_per_s);
    fprintf(stderr, "%sepoch %d/%d step %ld/%d loss %.2f nats (%.4f bpd) %.1f img/s ETA %s%s",
            u->tty ? "\r" : "", s->epoch + 1, s->epochs, s->step - (long)s->epoch * s->steps_per_epoch,
            s->steps_per_epoch, s->nll, pcnn_bits_per_dim(s->nll, &u->cfg), s->images_per_s, eta,
            u->tty ? "   " : "\n");
    u->last_print = s->seconds;
  }
  if (end && u->tty) fputc('\n', stderr);
}

static void train_eval(void *p, int done, int total) { eval_progress(&((train_lines_t *)p)->eval, done, total); }

static void train_epoch(void *p, const pcnn_train_epoch_t *e) {
  const pcnn_config_t *c = &((const train_lines_t *)p)->cfg;
  fprintf(stderr, "epoch %d: train %.2f nats/image (%.4f bpd), test %.2f nats/image (%.4f bpd) -> %s\n",
          e->epoch, e->train_nll, pcnn_bits_per_dim(e->train_nll, c), e->test_nll,
          pcnn_bits_per_dim(e->test_nll, c), e->out);
}

static int cmd_train(int argc, char **argv) {
  pcnn_train_opts_t t = pcnn_train_opts_default();
  int quiet = 0;
  static const struct option opts[] = {
      {"data", 1, 0, 'd'}, {"binarize", 0, 0, 'B'}, {"limit", 1, 0, 'l'}, {"test-limit", 1, 0, 'L'},
      {"channels", 1, 0, 'C'}, {"filters", 1, 0, 'F'}, {"depth", 1, 0, 'D'}, {"head", 1, 0, 'H'},
      {"batch", 1, 0, 'b'}, {"epochs", 1, 0, 'e'}, {"steps", 1, 0, 'S'}, {"lr", 1, 0, 'r'},
      {"seed", 1, 0, 's'}, {"out", 1, 0, 'o'}, {"log", 1, 0, 'g'}, {"resume", 1, 0, 'R'},
      {"threads", 1, 0, 't'}, {"isa", 1, 0, 'i'}, {"quiet", 0, 0, 'q'}, {"plan", 1, 0, 'P'},
      PCNN_PRECISION_OPTION, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o, rc = 0;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
      case 'd': t.data = optarg; break;
      case 'B': t.binarize = 1, t.given |= PCNN_GIVEN_BINARIZE; break;
      case 'l': rc = flag_int("--limit", optarg, &PCNN_V_POS_LIMIT, &t.limit); break;
      case 'L': rc = flag_int("--test-limit", optarg, &PCNN_V_POS_LIMIT, &t.test_limit); break;
      case 'C':
        if (strcmp(optarg, "1") != 0 && strcmp(optarg, "3") != 0)
          return fail(2, "--channels: '%s' is not 1 or 3", optarg);
        t.channels = optarg[0] - '0';
        break;
      case 'F': rc = flag_int("--filters", optarg, &PCNN_V_FILTERS, &t.filters), t.given |= PCNN_GIVEN_FILTERS; break;
      case 'D': rc = flag_int("--depth", optarg, &PCNN_V_DEPTH, &t.depth), t.given |= PCNN_GIVEN_DEPTH; break;
      case 'H':
        if ((t.head = pcnn_head_parse(optarg)) < 0) return fail(2, "--head: '%s' is not bernoulli or softmax256", optarg);
        t.given |= PCNN_GIVEN_HEAD;
        break;
      case 'b': rc = flag_int("--batch", optarg, &PCNN_V_BATCH, &t.batch), t.given |= PCNN_GIVEN_BATCH; break;
      case 'e': rc = flag_int("--epochs", optarg, &PCNN_V_EPOCHS, &t.epochs); break;
      case 'S': rc = flag_int("--steps", optarg, &PCNN_V_STEPS, &t.steps); break;
      case 'r': rc = flag_real("--lr", optarg, &PCNN_V_LR, &t.lr), t.given |= PCNN_GIVEN_LR; break;
      case 's': rc = flag_seed(optarg, &t.seed), t.given |= PCNN_GIVEN_SEED; break;
      case 'o': t.out = optarg; break;
      case 'g': t.log = optarg; break;
      case 'R': t.resume = optarg; break;
      case 'q': quiet = 1; break;
      case 't': case 'i': case 'P': case PCNN_OPT_PRECISION: rc = common_flag(o, optarg); break;
      case 'h': train_usage(stdout); return 0;
      default: train_usage(stderr); return 2;
    }
    if (rc) return 2;
  }
  if (optind < argc) return fail(2, "unexpected argument '%s' (see --help)", argv[optind]);
  t.plan = plan_file(&t.plan_label);
  t.precision = g_precision;
  if (g_precision_given) t.given |= PCNN_GIVEN_PRECISION;
  t.stop = &g_interrupted;
  /* under mpirun: one rank of a data-parallel run; rank 0 prints */
  const pcnn_dist_t d = cli_dist_start();
  t.dist = &d;
  quiet |= d.rank != 0;
  train_lines_t u = {.quiet = quiet, .tty = isatty(2)};
  const pcnn_train_hooks_t h = {&u, quiet ? NULL : plan_line, train_start, quiet ? NULL : train_step,
                                quiet ? NULL : train_eval, quiet ? NULL : train_epoch};
  pcnn_train_result_t r;
  char err[PCNN_ERR_LEN];
  rc = pcnn_train(&r, &t, &h, err);
  /* outcomes the ranks reach together are told by rank 0; a failure of
   * this rank alone by it, naming it */
  if (d.size > 1 && rc == PCNN_RUN_FAILED) {
    fprintf(stderr, "\npixelcnn train: rank %d of %d: %s\n", d.rank, d.size, err);
    return cli_dist_end(&d, exit_status(rc));
  }
  if (d.rank != 0) return cli_dist_end(&d, exit_status(rc));
  if (rc == PCNN_RUN_STOPPED)
    fprintf(stderr, "\npixelcnn train: interrupted at step %ld; checkpoint written to %s (continue with --resume %s)\n",
            r.step, t.out, t.out);
  else if (r.stopped)
    fprintf(stderr, "\npixelcnn train: interrupted; writing the checkpoint failed: %s\n", err);
  else if (rc) /* a step's loss ends the run in the middle of a live line */
    fprintf(stderr, "%spixelcnn train: %s\n", rc == PCNN_RUN_DIVERGED && !quiet && u.tty ? "\n" : "", err);
  return cli_dist_end(&d, exit_status(rc));
}

/* -------------------------------------------------------------- sample --- */

static void sample_usage(FILE *f) {
  const pcnn_sample_opts_t d = pcnn_sample_opts_default();
  fprintf(f,
          "usage: pixelcnn sample --ckpt FILE [options]\n"
          "Draws images from a trained model, pixel by pixel (and R, G, B within a pixel).\n"
          "  --ckpt FILE          checkpoint written by `pixelcnn train` (required)\n"
          "  --sampler cached|naive  cached (default): exact incremental sampling, each layer\n"
          "                       computed once per pixel from cached activations (about one\n"
          "                       forward pass per image); naive: the seed's, a full forward\n"
          "                       pass per pixel and colour. Same seed, same images.\n"
          "  --n N                images (default %d)\n"
          "  --seed S             sampling seed (default %llu)\n"
          "  --temperature T      logits are divided by T > 0 (default %g)\n"
          "  --out FILE.png       PNG grid (default samples.png)\n"
          "  --out-npy FILE.npy   also the images as float32 (N, H, W, C) in [0, 1]\n"
          "  --prime DATA         complete images: DATA as for train --data (its test split's\n"
          "                       first N images) ...\n"
          "  --prime-rows R       ... keeping their top R rows (default: half the image)\n"
          "  --scale K            PNG pixels per image pixel (default 2)\n"
          "  --threads N          OpenMP threads (default: all cores)\n"
          "  --isa ref|avx2|avx512|avx512bf16  highest kernel level (default: best supported)\n"
          "  --plan FILE          kernel plan from `pixelcnn tune` (default: $PIXELCNN_PLAN)\n"
          PCNN_PRECISION_HELP
          "  --quiet              no progress line\n",
          d.n, (unsigned long long)d.seed, d.temperature);
}

/* the lines of a sampling run (the hooks of pcnn_sample_run) */
typedef struct {
  const pcnn_sample_opts_t *o;
  int quiet;
  double t0;
} sample_lines_t;

static void sample_start(void *p, const pcnn_config_t *c, int prime_rows) {
  sample_lines_t *u = p;
  u->t0 = now_s();
  if (!u->quiet)
    fprintf(stderr, "sample: %d images %dx%dx%d, %s sampler, %d primed rows, T=%g, %d threads\n", u->o->n,
            c->height, c->width, c->channels, u->o->cached ? "cached" : "naive", prime_rows, u->o->temperature,
            omp_get_max_threads());
}

static void sample_progress(void *p, int done, int total) {
  const sample_lines_t *u = p;
  const double el = now_s() - u->t0;
  char eta[32];
  fmt_duration(eta, sizeof eta, el / done * (total - done));
  fprintf(stderr, "%srows %d/%d, %.2f images/s, ETA %s%s", isatty(2) ? "\r" : "", done, total,
          u->o->n * (double)done / total / el, eta, isatty(2) ? "   " : "\n");
  if (done == total && isatty(2)) fputc('\n', stderr);
}

static int cmd_sample(int argc, char **argv) {
  pcnn_sample_opts_t s = pcnn_sample_opts_default();
  const char *out = "samples.png", *npy = NULL;
  int scale = 2, quiet = 0;
  static const struct option opts[] = {
      {"ckpt", 1, 0, 'c'}, {"sampler", 1, 0, 'S'}, {"n", 1, 0, 'n'}, {"seed", 1, 0, 's'},
      {"temperature", 1, 0, 'T'}, {"out", 1, 0, 'o'}, {"out-npy", 1, 0, 'N'}, {"prime", 1, 0, 'p'},
      {"prime-rows", 1, 0, 'r'}, {"scale", 1, 0, 'k'}, {"threads", 1, 0, 't'}, {"isa", 1, 0, 'i'},
      {"quiet", 0, 0, 'q'}, {"plan", 1, 0, 'P'}, PCNN_PRECISION_OPTION, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o, rc = 0;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
      case 'c': s.ckpt = optarg; break;
      case 'S':
        if (strcmp(optarg, "cached") != 0 && strcmp(optarg, "naive") != 0)
          return fail(2, "--sampler: '%s' is not available (this build has: cached, naive)", optarg);
        s.cached = strcmp(optarg, "cached") == 0;
        break;
      case 'n': rc = flag_int("--n", optarg, &PCNN_V_SAMPLES, &s.n); break;
      case 's': rc = flag_seed(optarg, &s.seed); break;
      case 'T': rc = flag_real("--temperature", optarg, &PCNN_V_TEMPERATURE, &s.temperature); break;
      case 'o': out = optarg; break;
      case 'N': npy = optarg; break;
      case 'p': s.prime = optarg; break;
      case 'r': rc = flag_int("--prime-rows", optarg, &PCNN_V_PRIME_ROWS, &s.prime_rows); break;
      case 'k': rc = flag_int("--scale", optarg, &PCNN_V_SCALE, &scale); break;
      case 'q': quiet = 1; break;
      case 't': case 'i': case 'P': case PCNN_OPT_PRECISION: rc = common_flag(o, optarg); break;
      case 'h': sample_usage(stdout); return 0;
      default: sample_usage(stderr); return 2;
    }
    if (rc) return 2;
  }
  if (optind < argc) return fail(2, "unexpected argument '%s' (see --help)", argv[optind]);
  if (!s.ckpt) return fail(2, "--ckpt is required (see --help)");
  if (s.prime_rows >= 0 && !s.prime) return fail(2, "--prime-rows needs --prime DATA");
  char err[PCNN_ERR_LEN];
  /* outputs are checked before the sampling, which can take long */
  if (pcnn_prepare_output(out, err)) return fail(1, "--out: %s", err);
  if (npy && pcnn_prepare_output(npy, err)) return fail(1, "--out-npy: %s", err);
  s.plan = plan_file(&s.plan_label);
  s.precision = g_precision;
  /* under mpirun: the ranks split the images; rank 0 prints and writes */
  const pcnn_dist_t d = cli_dist_start();
  s.dist = &d;
  quiet |= d.rank != 0;
  sample_lines_t u = {&s, quiet, now_s()};
  const pcnn_sample_hooks_t h = {&u, quiet ? NULL : plan_line, sample_start,
                                 quiet ? NULL : sample_progress};
  pcnn_sample_result_t r;
  if ((rc = pcnn_sample_run(&r, &s, &h, err))) return cli_dist_end(&d, fail(exit_status(rc), "%s", err));
  if (d.rank != 0) {
    free(r.images);
    return cli_dist_end(&d, 0);
  }
  const pcnn_config_t *c = &r.cfg;
  const int64_t shape[4] = {s.n, c->height, c->width, c->channels};
  if (pcnn_png_write_grid_f32(out, r.images, s.n, c->height, c->width, c->channels, 0, 1, scale, err))
    rc = fail(1, "--out: %s", err);
  else
    printf("samples: %s (%d images, %.1f s)\n", out, s.n, now_s() - u.t0);
  if (!rc && npy && pcnn_npy_write(npy, PCNN_NPY_F32, r.images, 4, shape, err)) rc = fail(1, "--out-npy: %s", err);
  else if (!rc && npy) printf("images: %s (%d, %d, %d, %d) float32\n", npy, s.n, c->height, c->width, c->channels);
  free(r.images);
  return cli_dist_end(&d, rc);
}

/* ---------------------------------------------------------------- main --- */

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *what;
} COMMANDS[] = {
    {"train", cmd_train, "train a PixelCNN on a data set (Nadam), with checkpoints and a CSV log"},
    {"eval", cmd_eval, "NLL of a data set under a checkpoint (nats/image, bits/dim)"},
    {"sample", cmd_sample, "draw images (or complete them) and write a PNG grid"},
    {"info", cmd_info, "kernel levels and the kernel table; a checkpoint's config"},
    {"check", cmd_check, "verify every SIMD kernel against the reference and oneDNN here"},
    {"tune", cmd_tune, "measure the verified kernels for a model's shapes; write a plan file"},
};
enum { NCOMMANDS = sizeof COMMANDS / sizeof COMMANDS[0] };

static void main_usage(FILE *f) {
  fprintf(f, "usage: pixelcnn COMMAND [options]   (pixelcnn COMMAND --help for its options)\n");
  for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-8s %s\n", COMMANDS[i].name, COMMANDS[i].what);
  fprintf(f,
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
  const int bad = env && *env ? set_isa(env) : 0;
  if (bad == 1) fprintf(stderr, "pixelcnn: PIXELCNN_ISA='%s' is not one of ref, avx2, avx512\n", env);
  if (bad == 2) fprintf(stderr, "pixelcnn: PIXELCNN_ISA=%s: this CPU cannot run %s kernels\n", env, env);
  if (bad) return 2;
  g_cmd = argv[1];
  argv[1] = argv[0];
  for (int i = 0; i < NCOMMANDS; i++)
    if (strcmp(g_cmd, COMMANDS[i].name) == 0) return COMMANDS[i].run(argc - 1, argv + 1);
  if (strcmp(g_cmd, "--help") == 0 || strcmp(g_cmd, "-h") == 0 || strcmp(g_cmd, "help") == 0) {
    main_usage(stdout);
    return 0;
  }
  fprintf(stderr, "pixelcnn: unknown command '%s'\n", g_cmd);
  main_usage(stderr);
  return 2;
}
