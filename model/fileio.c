/* fileio.c: atomic writes and whole-file reads; see fileio.h. */
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
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
  pcnn_clean_stale_temps(a->path);
  return 0;
}

static const char *kind_of(mode_t m) {
  return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket"
       : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : "not a plain file";
}

int pcnn_open_regular(const char *path, char err[PCNN_ERR_LEN]) {
  if (!path || !*path) return pcnn_errf(err, "(empty path): no file given");
  /* O_NONBLOCK: open() of a FIFO with no writer would block forever */
  const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return pcnn_errf(err, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    return pcnn_errf(err, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return pcnn_errf(err, "%s: not a regular file (it is %s)", path, kind_of(st.st_mode));
  }
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    const int e = errno;
    close(fd);
    return pcnn_errf(err, "%s: cannot open: %s", path, strerror(e));
  }
  return fd;
}

FILE *pcnn_fopen_regular(const char *path, char err[PCNN_ERR_LEN]) {
  const int fd = pcnn_open_regular(path, err);
  if (fd < 0) return NULL;
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    pcnn_errf(err, "%s: cannot open: %s", path, strerror(errno));
    close(fd);
  }
  return f;
}

/* mkdir -p of the directory part of path */
static int make_parents(const char *path, char *err) {
  char d[4096];
  if (strlen(path) >= sizeof d) return pcnn_errf(err, "%.200s...: path too long", path);
  snprintf(d, sizeof d, "%s", path);
  char *slash = strrchr(d, '/');
  if (!slash || slash == d) return 0;
  *slash = 0;
  for (char *p = d + 1; ; p++) {
    const int last = *p == 0;
    if (*p == '/' || last) {
      *p = 0;
      struct stat st;
      if (stat(d, &st) != 0) {
        if (mkdir(d, 0755) != 0 && errno != EEXIST)
          return pcnn_errf(err, "%s: cannot create the directory %s: %s", path, d, strerror(errno));
      } else if (!S_ISDIR(st.st_mode)) {
        return pcnn_errf(err, "%s: %s is not a directory", path, d);
      }
      if (last) break;
      *p = '/';
    }
  }
  return 0;
}

int pcnn_prepare_output(const char *path, char err[PCNN_ERR_LEN]) {
  if (!path || !*path) return pcnn_errf(err, "(empty path): cannot write to an empty path");
  const size_t n = strlen(path);
  if (path[n - 1] == '/') return pcnn_errf(err, "%s: names a directory, not a file", path);
  if (make_parents(path, err)) return -1;
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
    return pcnn_errf(err, "%s: exists and is %s, not a file that can be replaced", path,
                     kind_of(st.st_mode));
  pcnn_atomic_t a;
  if (pcnn_atomic_open(&a, path, err)) return -1;
  pcnn_atomic_abort(&a);
  return 0;
}

int pcnn_clean_stale_temps(const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (slash) {
    const size_t dl = slash == path ? 1 : (size_t)(slash - path);
    if (dl >= sizeof dir) return 0;
    memcpy(dir, path, dl);
    dir[dl] = 0;
  } else {
    snprintf(dir, sizeof dir, ".");
  }
  const size_t bl = strlen(base);
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  const struct dirent *e;
  while ((e = readdir(d))) {
    const char *nm = e->d_name;
    if (strncmp(nm, base, bl) != 0 || strncmp(nm + bl, ".tmp.", 5) != 0) continue;
    const char *digits = nm + bl + 5;
    char *end;
    errno = 0;
    const long pid = strtol(digits, &end, 10);
    if (end == digits || *end || errno || pid <= 0 || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", dir, nm);
    struct stat st;
    if (lstat(full, &st) == 0 && S_ISREG(st.st_mode) && unlink(full) == 0) removed++;
  }
  closedir(d);
  return removed;
}

int pcnn_read_file(const char *path, uint8_t **buf, size_t *len, char err[PCNN_ERR_LEN]) {
  *buf = NULL;
  *len = 0;
  FILE *f = pcnn_fopen_regular(path, err);
  if (!f) return -1;
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    fclose(f);
    return pcnn_errf(err, "%s: cannot stat: %s", path, strerror(errno));
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
