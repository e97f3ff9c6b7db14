/* data.c: IDX and CIFAR-10 readers, name resolution, batches; see data.h. */
#include "data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fileio.h"
#include "values.h"

#define MAX_SIDE ((int)PCNN_V_SIDE.hi)
#define CIFAR_REC 3073 /* 1 label byte + 3 * 32 * 32 */
#define GZ_CHUNK (16u << 20)

void pcnn_dataset_free(pcnn_dataset_t *ds) {
  if (!ds) return;
  free(ds->pixels);
  memset(ds, 0, sizeof *ds);
}

const char *pcnn_split_name(pcnn_split_t split) {
  switch (split) {
    case PCNN_SPLIT_TRAIN: return "train";
    case PCNN_SPLIT_TEST: return "test";
    case PCNN_SPLIT_ALL: return "all";
  }
  return "?";
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Clamps the request [first, first + count) to n images; fails if empty. */
static int range_of(const char *path, int64_t n, int64_t first, int64_t *count, char *err) {
  if (first < 0 || first >= n)
    return pcnn_errf(err, "%s: image range starts at %lld but the file has %lld images", path,
                     (long long)first, (long long)n);
  if (*count < 0 || *count > n - first) *count = n - first;
  if (*count == 0) return pcnn_errf(err, "%s: empty image range", path);
  return 0;
}

/* zlib's error state of gz as " (reason)" in *why ("" when the data merely
 * ended), copied out of zlib's state so it outlives gzclose; returns the
 * zlib error code */
static int gz_why(gzFile gz, char *why, size_t n) {
  int zerr = Z_OK;
  const char *zmsg = gzerror(gz, &zerr);
  /* zlib prefixes its message with the name it was opened under ("<fd:3>: ") */
  const char *colon = zmsg ? strstr(zmsg, ": ") : NULL;
  if (zmsg && zmsg[0] == '<' && colon) zmsg = colon + 2;
  if (zerr == Z_BUF_ERROR) snprintf(why, n, " (the compressed data end early)");
  else if (zerr != Z_OK && zerr != Z_STREAM_END) snprintf(why, n, " (%s)", zmsg ? zmsg : "zlib error");
  else why[0] = 0;
  return zerr;
}

/* Reads the 16- or 20-byte IDX header.  dims[] = n, h, w, c. */
static int idx_header(gzFile gz, const char *path, int64_t dims[4], int *hdr_len, char *err) {
  uint8_t b[20];
  int got = gzread(gz, b, 4);
  char why[160];
  const int zerr = gz_why(gz, why, sizeof why);
  if (got < 0 && (zerr == Z_DATA_ERROR || zerr == Z_BUF_ERROR))
    return pcnn_errf(err, "%s: %s gzip stream%s", path, zerr == Z_BUF_ERROR ? "truncated" : "corrupt", why);
  if (got < 4)
    return pcnn_errf(err, "%s: too short for an IDX file (%d bytes)", path, got < 0 ? 0 : got);
  const uint32_t magic = be32(b);
  const int nd = magic == 0x803 ? 3 : magic == 0x804 ? 4 : 0;
  if (!nd)
    return pcnn_errf(err, "%s: wrong IDX magic 0x%08x (expected 0x00000803)", path, magic);
  got = gzread(gz, b + 4, 4u * nd);
  if (got < 4 * nd) return pcnn_errf(err, "%s: truncated IDX header", path);
  dims[3] = 1;
  for (int i = 0; i < nd; i++) dims[i] = be32(b + 4 + 4 * i);
  if (dims[0] == 0 || dims[0] > INT32_MAX || dims[1] == 0 || dims[1] > MAX_SIDE || dims[2] == 0 ||
      dims[2] > MAX_SIDE || (dims[3] != 1 && dims[3] != 3))
    return pcnn_errf(err, "%s: bad IDX dims %lld x %lld x %lld x %lld (want N in 1..2^31-1, "
                     "H and W in 1..%d, C 1 or 3)", path, (long long)dims[0], (long long)dims[1],
                     (long long)dims[2], (long long)dims[3], MAX_SIDE);
  *hdr_len = 4 + 4 * nd;
  return 0;
}

/* Reads exactly n bytes in chunks (gzread takes an unsigned count); *got
 * tells how many arrived. */
static int gz_read_exact(gzFile gz, uint8_t *dst, int64_t n, int64_t *got) {
  *got = 0;
  while (*got < n) {
    const int64_t want = n - *got < GZ_CHUNK ? n - *got : GZ_CHUNK;
    const int r = gzread(gz, dst + *got, (unsigned)want);
    if (r <= 0) return -1;
    *got += r;
  }
  return 0;
}

static int gz_skip(gzFile gz, int64_t n, int64_t *got) {
  static uint8_t sink[1 << 16];
  *got = 0;
  while (*got < n) {
    const int64_t want = n - *got < (int64_t)sizeof sink ? n - *got : (int64_t)sizeof sink;
    const int r = gzread(gz, sink, (unsigned)want);
    if (r <= 0) return -1;
    *got += r;
  }
  return 0;
}

/* Opens a regular file (never blocks on a FIFO) as a gzFile that reads
 * gzip'ed or plain data; *is_gz and *fsize describe the file. */
static gzFile open_gz(const char *path, int *is_gz, int64_t *fsize, char *err) {
  const int fd = pcnn_open_regular(path, err);
  if (fd < 0) return NULL;
  uint8_t m[2] = {0, 0};
  const ssize_t nm = pread(fd, m, 2, 0);
  struct stat st;
  *is_gz = nm == 2 && m[0] == 0x1f && m[1] == 0x8b;
  *fsize = fstat(fd, &st) == 0 ? (int64_t)st.st_size : -1;
  gzFile gz = gzdopen(fd, "rb");
  if (!gz) {
    close(fd);
    pcnn_errf(err, "%s: cannot open: out of memory", path);
  }
  return gz;
}

/* closes gz; *why as gz_why; returns 1 if the stream is corrupt (bad data or
 * checksum) rather than merely short */
static int gz_close_why(gzFile gz, char *why, size_t n) {
  const int zerr = gz_why(gz, why, n);
  gzclose(gz);
  return zerr == Z_DATA_ERROR || zerr == Z_STREAM_ERROR;
}

int pcnn_idx_read(pcnn_dataset_t *ds, const char *path, int64_t first, int64_t count,
                  char err[PCNN_ERR_LEN]) {
  memset(ds, 0, sizeof *ds);
  int is_gz;
  int64_t fsize;
  gzFile gz = open_gz(path, &is_gz, &fsize, err);
  if (!gz) return -1;
  int64_t d[4];
  int hl;
  if (idx_header(gz, path, d, &hl, err)) {
    gzclose(gz);
    return -1;
  }
  const int64_t img = d[1] * d[2] * d[3];
  const int64_t want_total = hl + d[0] * img;
  if (!is_gz && fsize >= 0 && fsize != want_total) {
    gzclose(gz);
    if (fsize < want_total)
      return pcnn_errf(err, "%s: truncated: header says %lld images of %lldx%lldx%lld (%lld bytes), "
                       "file has %lld", path, (long long)d[0], (long long)d[1], (long long)d[2],
                       (long long)d[3], (long long)want_total, (long long)fsize);
    return pcnn_errf(err, "%s: %lld trailing bytes after %lld images of %lldx%lldx%lld", path,
                     (long long)(fsize - want_total), (long long)d[0], (long long)d[1],
                     (long long)d[2], (long long)d[3]);
  }
  /* deflate expands at most ~1032:1, so a .gz header promising more than
   * that is lying (this also keeps a corrupt header from a huge malloc) */
  if (is_gz && fsize >= 0 && want_total / 1100 > fsize + 1024) {
    gzclose(gz);
    return pcnn_errf(err, "%s: truncated: header says %lld images of %lldx%lldx%lld (%lld bytes), "
                     "more than a %lld-byte .gz can hold", path, (long long)d[0], (long long)d[1],
                     (long long)d[2], (long long)d[3], (long long)want_total, (long long)fsize);
  }
  if (range_of(path, d[0], first, &count, err)) {
    gzclose(gz);
    return -1;
  }
  int64_t got = 0;
  char why[160];
  if (gz_skip(gz, first * img, &got)) {
    const int corrupt = gz_close_why(gz, why, sizeof why);
    return pcnn_errf(err, "%s: %s after %lld images (header says %lld)%s", path,
                     corrupt ? "corrupt gzip stream" : "truncated: data end", (long long)(got / img),
                     (long long)d[0], why);
  }
  uint8_t *px = malloc((size_t)(count * img));
  if (!px) {
    gzclose(gz);
    return pcnn_errf(err, "%s: out of memory for %lld images", path, (long long)count);
  }
  if (gz_read_exact(gz, px, count * img, &got)) {
    free(px);
    const int corrupt = gz_close_why(gz, why, sizeof why);
    return pcnn_errf(err, "%s: %s after %lld images (header says %lld)%s", path,
                     corrupt ? "corrupt gzip stream" : "truncated: data end",
                     (long long)(first + got / img), (long long)d[0], why);
  }
  /* a .gz read to the end of what we need can still be corrupt after it (a
   * bad CRC is only seen at the end of the stream): read on to the end */
  if (is_gz && first + count == d[0]) {
    uint8_t extra;
    const int r = gzread(gz, &extra, 1);
    const int zerr = gz_why(gz, why, sizeof why);
    if (r != 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
      free(px);
      gzclose(gz);
      return pcnn_errf(err, "%s: %s after %lld images%s", path,
                       r > 0 ? "trailing bytes" : "corrupt gzip stream", (long long)d[0],
                       r > 0 ? "" : why);
    }
  }
  if (gzclose(gz) != Z_OK) {
    free(px);
    return pcnn_errf(err, "%s: corrupt gzip stream (bad checksum or length)", path);
  }
  ds->pixels = px;
  ds->n = (int)count;
  ds->h = (int)d[1];
  ds->w = (int)d[2];
  ds->c = (int)d[3];
  ds->split = PCNN_SPLIT_ALL;
  snprintf(ds->name, sizeof ds->name, "%s", path);
  return 0;
}

int pcnn_cifar_read(pcnn_dataset_t *ds, const char *path, int64_t first, int64_t count,
                    char err[PCNN_ERR_LEN]) {
  memset(ds, 0, sizeof *ds);
  uint8_t *buf;
  size_t len;
  if (pcnn_read_file(path, &buf, &len, err)) return -1;
  if (len == 0 || len % CIFAR_REC != 0) {
    free(buf);
    if (len == 0) return pcnn_errf(err, "%s: empty file (a CIFAR-10 batch holds 3073-byte records)", path);
    return pcnn_errf(err, "%s: size %zu is not a multiple of 3073 (not a CIFAR-10 batch)", path, len);
  }
  const int64_t n = (int64_t)(len / CIFAR_REC);
  if (range_of(path, n, first, &count, err)) {
    free(buf);
    return -1;
  }
  uint8_t *px = malloc((size_t)count * 3072);
  if (!px) {
    free(buf);
    return pcnn_errf(err, "%s: out of memory for %lld images", path, (long long)count);
  }
  /* record: label, then planes R, G, B of 32x32 row-major -> NHWC */
  for (int64_t i = 0; i < count; i++) {
    const uint8_t *rec = buf + (size_t)(first + i) * CIFAR_REC + 1;
    uint8_t *o = px + (size_t)i * 3072;
    for (int p = 0; p < 1024; p++)
      for (int ch = 0; ch < 3; ch++) o[p * 3 + ch] = rec[ch * 1024 + p];
  }
  free(buf);
  ds->pixels = px;
  ds->n = (int)count;
  ds->h = ds->w = 32;
  ds->c = 3;
  ds->split = PCNN_SPLIT_ALL;
  snprintf(ds->name, sizeof ds->name, "%s", path);
  return 0;
}

int pcnn_idx_write(const char *path, const uint8_t *pixels, int n, int h, int w, int c, int gzip,
                   char err[PCNN_ERR_LEN]) {
  if (n <= 0 || h <= 0 || w <= 0 || (c != 1 && c != 3))
    return pcnn_errf(err, "%s: bad dims %dx%dx%dx%d for an IDX file", path, n, h, w, c);
  uint8_t hdr[20];
  const uint32_t v[5] = {c == 1 ? 0x803u : 0x804u, (uint32_t)n, (uint32_t)h, (uint32_t)w,
                         (uint32_t)c};
  const int nv = c == 1 ? 4 : 5;
  for (int i = 0; i < nv; i++)
    for (int k = 0; k < 4; k++) hdr[4 * i + k] = (uint8_t)(v[i] >> (24 - 8 * k));
  const size_t nb = (size_t)n * h * w * c;
  pcnn_atomic_t a;
  if (pcnn_atomic_open(&a, path, err)) return -1;
  if (!gzip) {
    if (pcnn_atomic_write(&a, hdr, 4u * nv, err) || pcnn_atomic_write(&a, pixels, nb, err))
      return -1;
    return pcnn_atomic_commit(&a, err);
  }
  /* gzip through a second descriptor on the temp file, then commit it */
  fflush(a.f);
  gzFile gz = gzopen(a.tmp, "wb");
  int ok = gz != NULL && gzwrite(gz, hdr, 4u * nv) == 4 * nv;
  for (size_t off = 0; ok && off < nb; off += GZ_CHUNK) {
    const unsigned k = (unsigned)(nb - off < GZ_CHUNK ? nb - off : GZ_CHUNK);
    ok = gzwrite(gz, pixels + off, k) == (int)k;
  }
  if (gz && gzclose(gz) != Z_OK) ok = 0;
  if (!ok) {
    pcnn_atomic_abort(&a);
    return pcnn_errf(err, "%s: gzip write failed", path);
  }
  return pcnn_atomic_commit(&a, err);
}

int pcnn_data_batch_f32(float *out, const pcnn_dataset_t *ds, const int32_t *idx, int b,
                        int binarize, char err[PCNN_ERR_LEN]) {
  const size_t img = (size_t)ds->h * ds->w * ds->c;
  for (int i = 0; i < b; i++)
    if (idx[i] < 0 || idx[i] >= ds->n)
      return pcnn_errf(err, "%s: batch index %d (slot %d) out of range [0, %d)", ds->name, idx[i],
                       i, ds->n);
  for (int i = 0; i < b; i++) {
    const uint8_t *p = ds->pixels + (size_t)idx[i] * img;
    float *o = out + (size_t)i * img;
    if (binarize)
      for (size_t k = 0; k < img; k++) o[k] = p[k] >= 128 ? 1.f : 0.f;
    else
      for (size_t k = 0; k < img; k++) o[k] = (float)p[k] / 255.f;
  }
  return 0;
}

/* ---- name resolution ---- */

enum { KIND_IDX, KIND_CIFAR };

/* a name that is there at all: a FIFO or a directory under a data file's
 * name is then refused by the reader with a line, not silently skipped */
static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* Appends src to dst (dims must match); frees src. */
static int concat(pcnn_dataset_t *dst, pcnn_dataset_t *src, const char *src_path, char *err) {
  if (!dst->pixels) {
    *dst = *src;
    memset(src, 0, sizeof *src);
    return 0;
  }
  if (dst->h != src->h || dst->w != src->w || dst->c != src->c) {
    pcnn_errf(err, "%s: images are %dx%dx%d but earlier files have %dx%dx%d", src_path, src->h,
              src->w, src->c, dst->h, dst->w, dst->c);
    pcnn_dataset_free(src);
    return -1;
  }
  const size_t img = (size_t)dst->h * dst->w * dst->c;
  uint8_t *p = realloc(dst->pixels, ((size_t)dst->n + src->n) * img);
  if (!p) {
    pcnn_dataset_free(src);
    return pcnn_errf(err, "%s: out of memory", src_path);
  }
  memcpy(p + (size_t)dst->n * img, src->pixels, (size_t)src->n * img);
  dst->pixels = p;
  dst->n += src->n;
  pcnn_dataset_free(src);
  return 0;
}

/* Loads whole files one after the other, up to limit images (<= 0: all). */
static int load_files(pcnn_dataset_t *ds, char paths[][4096], int nf, int kind, int limit,
                      char *err) {
  memset(ds, 0, sizeof *ds);
  for (int i = 0; i < nf; i++) {
    if (limit > 0 && ds->n >= limit) break;
    const int64_t want = limit > 0 ? limit - ds->n : -1;
    pcnn_dataset_t part;
    const int r = kind == KIND_IDX ? pcnn_idx_read(&part, paths[i], 0, want, err)
                                   : pcnn_cifar_read(&part, paths[i], 0, want, err);
    if (r || concat(ds, &part, paths[i], err)) {
      pcnn_dataset_free(ds);
      return -1;
    }
  }
  return 0;
}

/* First existing of dir/base{,.gz} for the given bases; else "" */
static void find_idx(char out[4096], const char *dir, const char *const *bases, int nb) {
  out[0] = 0;
  for (int i = 0; i < nb; i++)
    for (int gz = 0; gz < 2; gz++) {
      snprintf(out, 4096, "%s/%s%s", dir, bases[i], gz ? ".gz" : "");
      if (file_exists(out)) return;
    }
  out[0] = 0;
}

static int open_dir(pcnn_dataset_t *ds, const char *dir, pcnn_split_t split, int limit,
                    const char *hint, char *err) {
  static const char *const train_b[] = {"train-images-idx3-ubyte", "train-images.idx3-ubyte"};
  static const char *const test_b[] = {"t10k-images-idx3-ubyte", "test-images-idx3-ubyte",
                                       "t10k-images.idx3-ubyte"};
  char paths[6][4096];
  int nf = 0, kind = KIND_IDX;
  char tr[4096], te[4096];
  find_idx(tr, dir, train_b, 2);
  find_idx(te, dir, test_b, 3);
  if (tr[0] || te[0]) {
    if (split != PCNN_SPLIT_TEST) {
      if (!tr[0]) return pcnn_errf(err, "%s: no train-images-idx3-ubyte[.gz] here%s", dir, hint);
      snprintf(paths[nf++], 4096, "%s", tr);
    }
    if (split != PCNN_SPLIT_TRAIN) {
      if (!te[0])
        return pcnn_errf(err, "%s: no t10k- or test-images-idx3-ubyte[.gz] here%s", dir, hint);
      snprintf(paths[nf++], 4096, "%s", te);
    }
  } else {
    snprintf(te, sizeof te, "%s/test_batch.bin", dir);
    snprintf(tr, sizeof tr, "%s/data_batch_1.bin", dir);
    if (!file_exists(te) && !file_exists(tr))
      return pcnn_errf(err, "%s: no IDX image files ({train,t10k,test}-images-idx3-ubyte[.gz]) nor "
                       "CIFAR-10 batches (data_batch_N.bin, test_batch.bin) here%s", dir, hint);
    kind = KIND_CIFAR;
    if (split != PCNN_SPLIT_TEST)
      for (int i = 1; i <= 5; i++) snprintf(paths[nf++], 4096, "%s/data_batch_%d.bin", dir, i);
    if (split != PCNN_SPLIT_TRAIN) snprintf(paths[nf++], 4096, "%s", te);
  }
  return load_files(ds, paths, nf, kind, limit, err);
}

static int open_file(pcnn_dataset_t *ds, const char *path, pcnn_split_t split, int limit,
                     char *err) {
  FILE *f = pcnn_fopen_regular(path, err);
  if (!f) return -1;
  uint8_t m[4] = {0};
  const size_t nm = fread(m, 1, 4, f);
  struct stat st;
  const int64_t size = fstat(fileno(f), &st) == 0 ? (int64_t)st.st_size : 0;
  fclose(f);
  const int gz = nm >= 2 && m[0] == 0x1f && m[1] == 0x8b;
  const int idx = nm == 4 && m[0] == 0 && m[1] == 0 && m[2] == 8 && (m[3] == 3 || m[3] == 4);
  int kind;
  int64_t n;
  if (gz || idx) {
    kind = KIND_IDX;
    int is_gz;
    int64_t fsize;
    gzFile g = open_gz(path, &is_gz, &fsize, err);
    if (!g) return -1;
    int64_t d[4];
    int hl;
    const int r = idx_header(g, path, d, &hl, err);
    gzclose(g);
    if (r) return -1;
    n = d[0];
  } else if (size > 0 && size % CIFAR_REC == 0) {
    kind = KIND_CIFAR;
    n = size / CIFAR_REC;
  } else {
    if (size == 0) return pcnn_errf(err, "%s: empty file", path);
    return pcnn_errf(err, "%s: neither an IDX file (magic 0x%02x%02x%02x%02x, expected "
                     "0x00000803) nor a CIFAR-10 batch (size %lld is not a multiple of 3073)",
                     path, m[0], m[1], m[2], m[3], (long long)size);
  }
  const int64_t ntest = n / 6;
  int64_t first = 0, count = n;
  if (split == PCNN_SPLIT_TRAIN) count = n - ntest;
  if (split == PCNN_SPLIT_TEST) first = n - ntest, count = ntest;
  if (count == 0)
    return pcnn_errf(err, "%s: the %s split is empty (%lld images; test is the last n/6)", path,
                     pcnn_split_name(split), (long long)n);
  if (limit > 0 && count > limit) count = limit;
  return kind == KIND_IDX ? pcnn_idx_read(ds, path, first, count, err)
                          : pcnn_cifar_read(ds, path, first, count, err);
}

int pcnn_data_open(pcnn_dataset_t *ds, const char *name_or_path, pcnn_split_t split, int limit,
                   char err[PCNN_ERR_LEN]) {
  memset(ds, 0, sizeof *ds);
  if (split != PCNN_SPLIT_TRAIN && split != PCNN_SPLIT_TEST && split != PCNN_SPLIT_ALL)
    return pcnn_errf(err, "%s: unknown split %d", name_or_path ? name_or_path : "", (int)split);
  const char *name = name_or_path && *name_or_path ? name_or_path : "fashion-mnist";
  if (strlen(name) > PCNN_MAX_PATH)
    return pcnn_errf(err, "%.200s...: path longer than %d bytes", name, PCNN_MAX_PATH);
  int r;
  if (strcmp(name, "fashion-mnist") == 0) {
    r = open_dir(ds, PCNN_FASHION_MNIST_DIR, split, limit,
                 " (install the Debian package dataset-fashion-mnist)", err);
  } else if (strcmp(name, "mnist") == 0) {
    const char *root = getenv("PIXELCNN_DATA_DIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/mnist", root && *root ? root : "data");
    r = open_dir(ds, dir, split, limit, " (run scripts/get-mnist.sh)", err);
  } else {
    struct stat st;
    if (stat(name, &st) != 0)
      return pcnn_errf(err, "%s: no such file, directory or data set name (known names: "
                       "fashion-mnist, mnist)", name);
    r = S_ISDIR(st.st_mode) ? open_dir(ds, name, split, limit, "", err)
                            : open_file(ds, name, split, limit, err);
  }
  if (r) return -1;
  ds->split = split;
  snprintf(ds->name, sizeof ds->name, "%s", name);
  return 0;
}

int pcnn_data_open_train_test(pcnn_dataset_t *tr, pcnn_dataset_t *te, const char *name_or_path,
                              int limit, int test_limit, char err[PCNN_ERR_LEN]) {
  memset(te, 0, sizeof *te);
  if (pcnn_data_open(tr, name_or_path, PCNN_SPLIT_TRAIN, limit, err)) return -1;
  if (pcnn_data_open(te, name_or_path, PCNN_SPLIT_TEST, test_limit, err)) {
    pcnn_dataset_free(tr);
    return -1;
  }
  if (tr->h != te->h || tr->w != te->w || tr->c != te->c) {
    pcnn_errf(err, "%s: the test images are %dx%dx%d but the training images are %dx%dx%d",
              te->name, te->h, te->w, te->c, tr->h, tr->w, tr->c);
    pcnn_dataset_free(tr);
    pcnn_dataset_free(te);
    return -1;
  }
  return 0;
}
