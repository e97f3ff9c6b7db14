/* fileio.c: atomic writes and whole-file reads; see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pcnn_atomic_open(pcnn_atomic_t *a, const char *path, char err[PCNN_ERR_LEN]) {
  a->f = NULL;
  a->path[0] = a->tmp[0] = 0;
  if (!path || !*path) return pcnn_errf(err, "(empty path): cannot write to an empty path");
  if (strlen(path) >= sizeof a->path) return pcnn_errf(err, "%.200s...: path too long", path);
  snprintf(a->path, sizeof a->path, "%s", path);
  snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
  a->f = fopen(a->tmp, "wb");
  if (!a->f) return pcnn_errf(err, "%s: cannot create %s: %s", path, a->tmp, strerror(errno));
  return 0;
}

void pcnn_atomic_abort(pcnn_atomic_t *a) {
  if (a->f) {
    fclose(a->f);
    a->f = NULL;
    remove(a->tmp);
  }
}

int pcnn_atomic_write(pcnn_atomic_t *a, const void *buf, size_t n, char err[PCNN_ERR_LEN]) {
  if (!a->f) return pcnn_errf(err, "%s: write after the file was closed", a->path);
  if (n && fwrite(buf, 1, n, a->f) != n) {
    const int e = errno;
    pcnn_atomic_abort(a);
    return pcnn_errf(err, "%s: write failed: %s", a->path, strerror(e));
  }
  return 0;
}

int pcnn_atomic_commit(pcnn_atomic_t *a, char err[PCNN_ERR_LEN]) {
  if (!a->f) return pcnn_errf(err, "%s: commit after the file was closed", a->path);
  FILE *f = a->f;
  a->f = NULL;
  int bad = fflush(f) != 0 || ferror(f);
  int e = errno;
  if (!bad && fsync(fileno(f)) != 0) bad = 1, e = errno;
  if (fclose(f) != 0 && !bad) bad = 1, e = errno;
  if (bad) {
    remove(a->tmp);
    return pcnn_errf(err, "%s: write failed: %s", a->path, strerror(e));
  }
  if (rename(a->tmp, a->path) != 0) {
    e = errno;
    remove(a->tmp);
    return pcnn_errf(err, "%s: cannot rename %s into place: %s", a->path, a->tmp, strerror(e));
  }
  return 0;
}

int pcnn_read_file(const char *path, uint8_t **buf, size_t *len, char err[PCNN_ERR_LEN]) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return pcnn_errf(err, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return pcnn_errf(err, "%s: not a regular file", path);
  }
  const size_t n = (size_t)st.st_size;
  uint8_t *b = malloc(n + 1);
  if (!b) {
    fclose(f);
    return pcnn_errf(err, "%s: out of memory reading %zu bytes", path, n);
  }
  const size_t got = fread(b, 1, n, f);
  const int rerr = ferror(f);
  fclose(f);
  if (got != n || rerr) {
    free(b);
    return pcnn_errf(err, "%s: read error (%zu of %zu bytes)", path, got, n);
  }
  b[n] = 0;
  *buf = b;
  *len = n;
  return 0;
}
