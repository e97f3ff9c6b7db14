/* fuzz_util.h: shared by the libFuzzer targets in tests/fuzz/.
 *
 * The library's readers take a path, so each input is written into an
 * anonymous in-memory file (memfd_create) and handed over as
 * "/proc/self/fd/N": no disk files, nothing left behind per iteration.
 * Opening /proc/self/fd/N creates a new open file description, so every
 * open() / gzopen() inside the library starts at offset 0.
 *
 * Harness failures (memfd_create or write failing) abort: they are not
 * findings in the library, but must not go unnoticed either.
 */
#ifndef PCNN_FUZZ_UTIL_H
#define PCNN_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
  int fd;
  char path[64];
} fuzz_file_t;

/* Creates the in-memory file holding data[0, size); returns 0 (aborts on failure). */
static inline int fuzz_file_open(fuzz_file_t *f, const uint8_t *data, size_t size) {
  f->fd = memfd_create("pcnn-fuzz", MFD_CLOEXEC);
  if (f->fd < 0) {
    perror("fuzz: memfd_create");
    abort();
  }
  size_t off = 0;
  while (off < size) {
    const ssize_t w = write(f->fd, data + off, size - off);
    if (w <= 0) {
      perror("fuzz: write to memfd");
      abort();
    }
    off += (size_t)w;
  }
  snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
  return 0;
}

static inline void fuzz_file_close(fuzz_file_t *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
}

/* Reads every byte of p[0, n) so ASan sees any out-of-bounds view. */
static inline uint32_t fuzz_checksum(const void *p, size_t n) {
  const uint8_t *b = (const uint8_t *)p;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
  return h;
}

/* Keeps checksums alive so the reads are not optimised away. */
static volatile uint32_t fuzz_sink;

#endif /* PCNN_FUZZ_UTIL_H */
