/* cli_tools.c: the pixelcnn program's info, tune and check commands. */
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "checkpoint.h"
#include "cli.h"
#include "eval.h"
#include "fileio.h"
#include "tune.h"

static const pcnn_irange_t PCNN_V_TUNE_SIZE = {"size", 1, 1024};
static const pcnn_irange_t PCNN_V_REPS = {"reps", 1, 100};
static const pcnn_irange_t PCNN_V_CHECK_BATCH = {"batch", 1, 256};

/* ---------------------------------------------------------------- info --- */

static void info_usage(FILE *f) {
  fprintf(f,
          "usage: pixelcnn info [--ckpt FILE] [--plan FILE] [--isa LEVEL] [--precision fp32|bf16]\n"
          "Prints the CPU's kernel levels, the kernel each operation runs on, the kernel plan\n"
          "(layer, shape, level, and the measured time that chose it when tuned) for the seed\n"
          "model or the checkpoint's, its layer records (op, shape, activation slots), and with\n"
          "--ckpt its config, parameter count and metadata. --precision bf16 shows the bf16 plan\n"
          "(the convolutions on the best bf16 level: avx512bf16 where the CPU has AVX512_BF16).\n");
}

int cmd_info(int argc, char **argv) {
  const char *ckpt = NULL;
  static const struct option opts[] = {
      {"ckpt", 1, 0, 'c'}, {"isa", 1, 0, 'i'}, {"plan", 1, 0, 'P'}, PCNN_PRECISION_OPTION, {"help", 0, 0, 'h'},
      {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) switch (o) {
      case 'c': ckpt = optarg; break;
      case 'i': case 'P': case PCNN_OPT_PRECISION: if (common_flag(o, optarg)) return 2; break;
      case 'h': info_usage(stdout); return 0;
      default: info_usage(stderr); return 2;
    }
  if (optind < argc) return fail(2, "unexpected argument '%s' (see --help)", argv[optind]);
  printf("kernel levels:");
  for (int i = 0; i < PCNN_ISA_COUNT; i++)
    printf(" %s%s", pcnn_isa_name((pcnn_isa_t)i), pcnn_isa_supported((pcnn_isa_t)i) ? "" : "(unsupported)");
  const pcnn_kernels_t *t = pcnn_kernels();
  printf("\nactive level: %s, threads: %d\nkernel table:\n", pcnn_isa_name(pcnn_kernels_isa()),
         omp_get_max_threads());
  for (int op = 0; op < pcnn_op_count(); op++)
    printf("  %-28s %s\n", pcnn_op_name(op), pcnn_isa_name(t->isa_of[op]));
  char err[PCNN_ERR_LEN];
  pcnn_model_t m;
  const pcnn_config_t seed = pcnn_config_default();
  if (ckpt) {
    static pcnn_ckpt_extra_t extra;
    int has_opt;
    if (pcnn_ckpt_load(ckpt, &m, 0, &has_opt, &extra, err)) return fail(1, "%s", err);
    printf("checkpoint %s:\n  channels %d, filters %d, depth %d, head %s, image %dx%d\n"
           "  %zu parameters in %d tensors, optimizer state: %s (step %ld)\n",
           ckpt, m.cfg.channels, m.cfg.filters, m.cfg.depth, pcnn_head_name(m.cfg.head), m.cfg.height,
           m.cfg.width, m.nparams, m.ntensors, has_opt ? "yes" : "no", m.opt.step);
    for (int i = 0; i < extra.n; i++) printf("  %s = %s\n", extra.key[i], extra.value[i]);
  } else if (pcnn_model_init(&m, &seed, 1, 0, err)) {
    return fail(1, "%s", err);
  }
  const char *label, *path = plan_file(&label);
  const int rc = pcnn_plan_apply_file(&m, NULL, path, label, g_precision, err) ? fail(1, "%s", err) : 0;
  if (!rc && !ckpt) printf("seed model (F=%d, D=%d, 28x28): ", seed.filters, seed.depth);
  if (!rc) print_plan(stdout, &m);
  if (!rc) {
    printf("layers (model.h's records, in forward order):\n");
    pcnn_model_describe(&m, stdout);
  }
  pcnn_model_free(&m);
  return rc;
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
          "  --threads N    OpenMP threads (default: all cores); a plan is for one thread count\n"
          "  --precision fp32|bf16  the plan's precision (default fp32); a bf16 plan picks among\n"
          "                 the bf16 levels for the convolutions\n");
}

int cmd_tune(int argc, char **argv) {
  pcnn_config_t cfg = pcnn_config_default();
  int batch = 32, reps = 5, size = 28;
  const char *out = "pixelcnn.plan";
  static const struct option opts[] = {
      {"channels", 1, 0, 'C'}, {"filters", 1, 0, 'F'}, {"depth", 1, 0, 'D'}, {"head", 1, 0, 'H'},
      {"size", 1, 0, 's'}, {"batch", 1, 0, 'b'}, {"reps", 1, 0, 'r'}, {"out", 1, 0, 'o'},
      {"threads", 1, 0, 't'}, PCNN_PRECISION_OPTION, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o, rc = 0;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
      case 'C': rc = flag_int("--channels", optarg, &PCNN_V_CHANNELS, &cfg.channels); break;
      case 'F': rc = flag_int("--filters", optarg, &PCNN_V_FILTERS, &cfg.filters); break;
      case 'D': rc = flag_int("--depth", optarg, &PCNN_V_DEPTH, &cfg.depth); break;
      case 'H':
        if ((cfg.head = pcnn_head_parse(optarg)) < 0) return fail(2, "--head: '%s' is not bernoulli or softmax256", optarg);
        break;
      case 's': rc = flag_int("--size", optarg, &PCNN_V_TUNE_SIZE, &size); break;
      case 'b': rc = flag_int("--batch", optarg, &PCNN_V_BATCH, &batch); break;
      case 'r': rc = flag_int("--reps", optarg, &PCNN_V_REPS, &reps); break;
      case 'o': out = optarg; break;
      case 't': case PCNN_OPT_PRECISION: rc = common_flag(o, optarg); break;
      case 'h': tune_usage(stdout); return 0;
      default: tune_usage(stderr); return 2;
    }
    if (rc) return 2;
  }
  if (optind < argc) return fail(2, "unexpected argument '%s' (see --help)", argv[optind]);
  cfg.height = cfg.width = size;
  char err[PCNN_ERR_LEN];
  if (pcnn_prepare_output(out, err)) return fail(1, "--out: %s", err);
  pcnn_model_t m;
  if (pcnn_model_init(&m, &cfg, 1, 0, err)) return fail(2, "%s", err);
  fprintf(stderr, "tune: F=%d D=%d C=%d %dx%d batch %d, %d threads, best of %d runs per kernel\n", cfg.filters,
          cfg.depth, cfg.channels, size, size, batch, omp_get_max_threads(), reps);
  pcnn_plan_t plan;
  pcnn_tune_plan(&m, batch, reps, g_precision, stderr, &plan);
  plan.threads = omp_get_max_threads();
  pcnn_model_set_plan(&m, &plan);
  snprintf(m.plan.source, sizeof m.plan.source, "%s", out);
  print_plan(stdout, &m);
  rc = pcnn_plan_save(out, &plan, err);
  pcnn_model_free(&m);
  if (rc) return fail(1, "--out: %s", err);
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

int cmd_check(int argc, char **argv) {
  int batch = 4;
  static const struct option opts[] = {
      {"batch", 1, 0, 'b'}, {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) switch (o) {
      case 'b': if (flag_int("--batch", optarg, &PCNN_V_CHECK_BATCH, &batch)) return 2; break;
      case 't': if (common_flag(o, optarg)) return 2; break;
      case 'h': check_usage(stdout); return 0;
      default: check_usage(stderr); return 2;
    }
  if (optind < argc) return fail(2, "unexpected argument '%s' (see --help)", argv[optind]);
  return pcnn_check_run(stdout, batch) ? 1 : 0;
}

