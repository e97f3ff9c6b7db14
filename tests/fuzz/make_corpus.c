/* make_corpus.c: writes the seed corpora of the fuzz targets into DIR/<target>/
 * (tests/fuzz/corpus/ is committed; `make fuzz-corpus` regenerates it).
 *
 * Valid files come from the library's own writers (pcnn_st_write,
 * pcnn_ckpt_save of tiny models, pcnn_idx_write, pcnn_plan_save,
 * pcnn_npy_write) plus hand-made CIFAR-10 records; next to them, reproducers
 * of known-hard inputs (corrupt gzip, odd JSON, absurd checkpoint configs,
 * odd plan lines).  Everything is deterministic: fixed seeds, no timestamps.
 *
 *   make_corpus DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "data.h"
#include "image_io.h"
#include "model.h"
#include "plan.h"
#include "safetensors.h"

static const char *g_dir;
static char g_err[PCNN_ERR_LEN];

static void die(const char *what) {
  fprintf(stderr, "make_corpus: %s: %s\n", what, g_err);
  exit(1);
}

static const char *path_of(const char *target, const char *name) {
  static char p[8192];
  snprintf(p, sizeof p, "%s/%s", g_dir, target);
  if (mkdir(p, 0755) != 0 && errno != EEXIST) {
    snprintf(g_err, sizeof g_err, "%s", strerror(errno));
    die(p);
  }
  snprintf(p, sizeof p, "%s/%s/%s", g_dir, target, name);
  return p;
}

static void put(const char *target, const char *name, const void *b, size_t n) {
  const char *p = path_of(target, name);
  FILE *f = fopen(p, "wb");
  if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
    snprintf(g_err, sizeof g_err, "cannot write");
    die(p);
  }
}

static uint8_t *slurp(const char *p, size_t *n) {
  FILE *f = fopen(p, "rb");
  if (!f) die(p);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*n + 1);
  if (!b || fread(b, 1, *n, f) != *n) die(p);
  fclose(f);
  return b;
}

/* A safetensors file from a JSON header and a data area (header padded to 8). */
static void put_st(const char *target, const char *name, const char *json, const void *data,
                   size_t ndata) {
  const size_t jl = strlen(json), hl = (jl + 7) / 8 * 8;
  uint8_t *b = calloc(1, 8 + hl + ndata);
  for (int k = 0; k < 8; k++) b[k] = (uint8_t)((uint64_t)hl >> (8 * k));
  memcpy(b + 8, json, jl);
  memset(b + 8 + jl, ' ', hl - jl);
  if (ndata) memcpy(b + 8 + hl, data, ndata);
  put(target, name, b, 8 + hl + ndata);
  free(b);
}

/* ---- safetensors ---- */

static void corpus_safetensors(void) {
  const char *T = "safetensors";
  float a[6] = {1, -2, 3.5f, 0, 1e-3f, -7}, b[4] = {0.25f, 0.5f, 0.75f, 1}, s = 42;
  pcnn_st_tensor_t t[4] = {
      {"weight", 2, {2, 3}, a}, {"bias", 1, {4}, b}, {"scalar", 0, {0}, &s}, {"empty", 2, {2, 0}, NULL}};
  const char *meta[] = {"format", "pixelcnn-c/1", "note", "seed corpus"};
  if (pcnn_st_write(path_of(T, "valid_4tensors_meta.safetensors"), t, 4, meta, 2, g_err)) die("st");
  if (pcnn_st_write(path_of(T, "valid_1tensor.safetensors"), t, 1, NULL, 0, g_err)) die("st");
  if (pcnn_st_write(path_of(T, "valid_no_tensors.safetensors"), t, 0, meta, 2, g_err)) die("st");
  /* other dtypes, hand-made (the writer only does F32) */
  const uint8_t raw[8 + 2 + 4 + 1] = {1, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x3f, 1, 2, 3, 4, 1};
  put_st(T, "dtypes_i64_bf16_u8_bool.safetensors",
         "{\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
         "\"h\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[8,10]},"
         "\"u\":{\"dtype\":\"U8\",\"shape\":[2,2],\"data_offsets\":[10,14]},"
         "\"b\":{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[14,15]},"
         "\"__metadata__\":{\"k\":\"v\"}}",
         raw, sizeof raw);
  /* reproducers */
  const float one = 1;
  put_st(T, "name_with_escaped_nul.safetensors",
         "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", &one, 4);
  put_st(T, "name_escaped_nul_twice.safetensors",
         "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\\u0000c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", a, 8);
  put_st(T, "duplicate_meta_keys.safetensors",
         "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\",\"format\":\"a\",\"format\":\"b\"},"
         "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", &one, 4);
  {
    const int n = 2000;
    size_t cap = (size_t)n * 64 + 64, o = 0;
    char *j = malloc(cap);
    o += (size_t)snprintf(j + o, cap - o, "{");
    for (int i = 0; i < n; i++)
      o += (size_t)snprintf(j + o, cap - o, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],"
                            "\"data_offsets\":[0,0]}", i ? "," : "", i);
    snprintf(j + o, cap - o, "}");
    put_st(T, "2000_empty_tensors.safetensors", j, NULL, 0);
    free(j);
  }
}

/* ---- checkpoints ---- */

/* Copies the safetensors file src to target/name with metadata key set to value. */
static void rewrite_meta(const char *src, const char *target, const char *name, const char *key,
                         const char *value, const char *key2, const char *value2) {
  pcnn_st_t *st;
  if (pcnn_st_open(&st, src, g_err)) die(src);
  const int n = pcnn_st_count(st), nm = pcnn_st_meta_count(st);
  pcnn_st_tensor_t *t = calloc((size_t)n, sizeof *t);
  float **bufs = calloc((size_t)n, sizeof *bufs);
  for (int i = 0; i < n; i++) {
    const pcnn_st_view_t *v = pcnn_st_at(st, i);
    t[i].name = v->name;
    t[i].ndim = v->ndim;
    memcpy(t[i].shape, v->shape, sizeof t[i].shape);
    bufs[i] = malloc(v->nbytes + 4);
    memcpy(bufs[i], v->data, v->nbytes);
    t[i].data = bufs[i];
  }
  const char **meta = calloc(2 * (size_t)nm, sizeof *meta);
  for (int i = 0; i < nm; i++) {
    pcnn_st_meta_at(st, i, &meta[2 * i], &meta[2 * i + 1]);
    if (key && strcmp(meta[2 * i], key) == 0) meta[2 * i + 1] = value;
    if (key2 && strcmp(meta[2 * i], key2) == 0) meta[2 * i + 1] = value2;
  }
  if (pcnn_st_write(path_of(target, name), t, n, meta, nm, g_err)) die(name);
  for (int i = 0; i < n; i++) free(bufs[i]);
  free(bufs), free(t), free(meta);
  pcnn_st_close(st);
}

static void save_model(const char *target, const char *name, int channels, int filters, int depth,
                       int head, int side, int with_opt) {
  pcnn_config_t c = {channels, filters, depth, head, side, side};
  pcnn_model_t m;
  if (pcnn_model_init(&m, &c, 7, 0, g_err)) die(name);
  pcnn_ckpt_extra_t x = {0};
  pcnn_ckpt_extra_set(&x, "data", "fashion-mnist");
  pcnn_ckpt_extra_set(&x, "epoch", "1");
  if (with_opt) m.opt.step = 3, m.opt.mu_product = 0.9;
  if (pcnn_ckpt_save(path_of(target, name), &m, with_opt, &x, g_err)) die(name);
  pcnn_model_free(&m);
}

static void corpus_checkpoint(void) {
  const char *T = "checkpoint";
  save_model(T, "tiny_f2_d0_2x2.safetensors", 1, 2, 0, PCNN_HEAD_BERNOULLI, 2, 0);
  save_model(T, "tiny_f2_d0_2x2_opt.safetensors", 1, 2, 0, PCNN_HEAD_BERNOULLI, 2, 1);
  save_model(T, "tiny_f2_d1_3x3.safetensors", 1, 2, 1, PCNN_HEAD_BERNOULLI, 3, 0);
  save_model(T, "tiny_rgb_f6_d0_2x2.safetensors", 3, 6, 0, PCNN_HEAD_BERNOULLI, 2, 0);
  save_model(T, "tiny_f2_d0_softmax.safetensors", 1, 2, 0, PCNN_HEAD_SOFTMAX256, 2, 0);
  char src[8192];
  snprintf(src, sizeof src, "%s", path_of(T, "tiny_f2_d0_2x2.safetensors"));
  /* the tensors are for F=2, D=0: the load must reject this before allocating */
  rewrite_meta(src, T, "meta_filters4096_depth256.safetensors", "filters", "4096", "depth", "256");
  rewrite_meta(src, T, "meta_side4096.safetensors", "height", "4096", "width", "4096");
  rewrite_meta(src, T, "meta_lr_inf.safetensors", "nadam.lr", "inf", NULL, NULL);
}

/* ---- IDX ---- */

static void pattern(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((i * 37u + seed * 101u) ^ (i >> 3));
}

static void corpus_idx(void) {
  const char *T = "idx";
  uint8_t px[6 * 4 * 4 * 3];
  pattern(px, sizeof px, 1);
  if (pcnn_idx_write(path_of(T, "gray_3x4x4.idx"), px, 3, 4, 4, 1, 0, g_err)) die("idx");
  if (pcnn_idx_write(path_of(T, "gray_3x4x4.idx.gz"), px, 3, 4, 4, 1, 1, g_err)) die("idx");
  if (pcnn_idx_write(path_of(T, "rgb_2x3x3.idx"), px, 2, 3, 3, 3, 0, g_err)) die("idx");
  if (pcnn_idx_write(path_of(T, "rgb_2x3x3.idx.gz"), px, 2, 3, 3, 3, 1, g_err)) die("idx");
  /* a gzip whose CRC-32 (the 4 bytes before the 4-byte length) is zeroed */
  size_t n;
  uint8_t *gz = slurp(path_of(T, "gray_3x4x4.idx.gz"), &n);
  uint8_t *bad = malloc(n);
  memcpy(bad, gz, n);
  memset(bad + n - 8, 0, 4);
  put(T, "gray_3x4x4_crc_zeroed.idx.gz", bad, n);
  put(T, "gray_3x4x4_truncated.idx.gz", gz, n / 2);
  free(bad);
  free(gz);
}

/* ---- CIFAR-10 ---- */

static void corpus_cifar(const char *T, int nrec, const char *name) {
  const size_t n = (size_t)nrec * 3073;
  uint8_t *b = malloc(n);
  pattern(b, n, (unsigned)nrec);
  for (int r = 0; r < nrec; r++) b[(size_t)r * 3073] = (uint8_t)(r % 10); /* label */
  put(T, name, b, n);
  free(b);
}

/* ---- plans ---- */

static void corpus_plan(void) {
  const char *T = "plan";
  pcnn_plan_t p;
  pcnn_plan_default(&p);
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++) p.isa[r][d] = PCNN_ISA_REF, p.ms[r][d] = 0.125 * (r + 1) + d;
  p.threads = 2, p.batch = 32;
  const char *ref = path_of(T, "valid_ref.plan");
  if (pcnn_plan_save(ref, &p, g_err)) die("plan");
  p.isa[PCNN_ROLE_CONV2][PCNN_DIR_FWD] = PCNN_ISA_AVX2;
  p.isa[PCNN_ROLE_HEAD][PCNN_DIR_BWD_WEIGHTS] = PCNN_ISA_AVX512;
  if (pcnn_plan_save(path_of(T, "valid_mixed.plan"), &p, g_err)) die("plan");
  /* reproducers: the valid ref plan with one odd line inserted after the comment */
  size_t n;
  uint8_t *base = slurp(ref, &n);
  const char *nl = memchr(base, '\n', n);
  const size_t head = nl ? (size_t)(nl - (const char *)base) + 1 : 0;
  char comment[302];
  comment[0] = '#';
  memset(comment + 1, 'c', 299);
  comment[300] = '\n';
  comment[301] = 0;
  static const struct { const char *name, *line; } odd[] = {
      {"junk_after_ms.plan", "in fwd avx2 0.01junk\n"},
      {"ms_nan.plan", "in fwd ref nan\n"},
      {"threads_overflow.plan", "threads 99999999999999999999\n"},
      {"long_comment.plan", NULL},
      {"duplicate_line.plan", "conv1 bwd_data ref 0.5000\n"},
  };
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    const char *line = odd[i].line ? odd[i].line : comment;
    const size_t ll = strlen(line);
    uint8_t *b = malloc(n + ll);
    memcpy(b, base, head);
    memcpy(b + head, line, ll);
    memcpy(b + head + ll, base + head, n - head);
    put(T, odd[i].name, b, n + ll);
    free(b);
  }
  free(base);
}

/* ---- .npy ---- */

static void put_npy_v(const char *T, const char *name, int major, const char *dict,
                      const void *data, size_t nd) {
  const size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
  size_t hl = (pre + dl + 1 + 63) / 64 * 64 - pre;
  uint8_t *b = malloc(pre + hl + nd);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (uint8_t)major, b[7] = 0;
  for (size_t k = 0; k < pre - 8; k++) b[8 + k] = (uint8_t)(hl >> (8 * k));
  memset(b + pre, ' ', hl);
  memcpy(b + pre, dict, dl);
  b[pre + hl - 1] = '\n';
  memcpy(b + pre + hl, data, nd);
  put(T, name, b, pre + hl + nd);
  free(b);
}

static void corpus_npy(void) {
  const char *T = "npy";
  const float f[6] = {0, 0.5f, 1, -1, 3.25f, 1e30f};
  const uint8_t u[4] = {0, 1, 128, 255};
  const int64_t s23[2] = {2, 3}, s4[1] = {4}, s0[1] = {0};
  if (pcnn_npy_write(path_of(T, "f32_2x3.npy"), PCNN_NPY_F32, f, 2, s23, g_err)) die("npy");
  if (pcnn_npy_write(path_of(T, "u8_4.npy"), PCNN_NPY_U8, u, 1, s4, g_err)) die("npy");
  if (pcnn_npy_write(path_of(T, "f32_scalar.npy"), PCNN_NPY_F32, f, 0, s4, g_err)) die("npy");
  if (pcnn_npy_write(path_of(T, "f32_empty.npy"), PCNN_NPY_F32, f, 1, s0, g_err)) die("npy");
  put_npy_v(T, "v2_u1_4.npy", 2, "{'descr': '<u1', 'fortran_order': False, 'shape': (4,), }", u, 4);
  put_npy_v(T, "v3_f4_2x3.npy", 3, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3)}",
            f, sizeof f);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_corpus DIR\n");
    return 2;
  }
  g_dir = argv[1];
  if (mkdir(g_dir, 0755) != 0 && errno != EEXIST) {
    perror(g_dir);
    return 1;
  }
  corpus_safetensors();
  corpus_checkpoint();
  corpus_idx();
  corpus_cifar("cifar", 1, "one_record.bin");
  corpus_cifar("cifar", 2, "two_records.bin");
  corpus_plan();
  corpus_npy();
  /* prime: files pcnn_data_open takes, with a non-empty test split (n/6 >= 1) */
  const char *P = "prime";
  uint8_t px[24 * 4 * 4 * 3];
  pattern(px, sizeof px, 3);
  if (pcnn_idx_write(path_of(P, "gray_6x4x4.idx"), px, 6, 4, 4, 1, 0, g_err)) die("prime");
  if (pcnn_idx_write(path_of(P, "gray_24x4x4.idx.gz"), px, 24, 4, 4, 1, 1, g_err)) die("prime");
  if (pcnn_idx_write(path_of(P, "rgb_6x4x4.idx"), px, 6, 4, 4, 3, 0, g_err)) die("prime");
  if (pcnn_idx_write(path_of(P, "rgb_12x2x2.idx.gz"), px, 12, 2, 2, 3, 1, g_err)) die("prime");
  corpus_cifar(P, 6, "cifar_6_records.bin");
  return 0;
}
