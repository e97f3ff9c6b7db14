/* fileio.h: atomic file writes and whole-file reads, shared by the writers
 * in image_io.c and safetensors.c (and usable by the trainer for its own
 * outputs).
 *
 * Atomic write: the data goes to "<path>.tmp.<pid>", which is flushed,
 * fsync'ed, closed and then renamed over <path>.  A crash or an error at any
 * point leaves either the old <path> or the new one, never a half-written
 * file (on error the temp file is removed).
 *
 *   pcnn_atomic_t a;
 *   if (pcnn_atomic_open(&a, path, err)) return -1;
 *   if (pcnn_atomic_write(&a, buf, n, err)) return -1;   // aborts on error
 *   return pcnn_atomic_commit(&a, err);
 */
#ifndef PCNN_FILEIO_H
#define PCNN_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pcnn_err.h"

typedef struct {
  FILE *f;         /* the open temp file: may be handed to fwrite/libpng */
  char path[4096]; /* final path */
  char tmp[4200];  /* "<path>.tmp.<pid>" */
} pcnn_atomic_t;

/* Opens the temp file for writing. */
int pcnn_atomic_open(pcnn_atomic_t *a, const char *path, char err[PCNN_ERR_LEN]);
/* fwrite of n bytes; on failure aborts (closes and removes the temp file). */
int pcnn_atomic_write(pcnn_atomic_t *a, const void *buf, size_t n, char err[PCNN_ERR_LEN]);
/* Flushes, fsyncs, closes and renames to the final path.  On failure the temp
 * file is removed.  Either way the pcnn_atomic_t is finished. */
int pcnn_atomic_commit(pcnn_atomic_t *a, char err[PCNN_ERR_LEN]);
/* Closes and removes the temp file (no-op if already finished). */
void pcnn_atomic_abort(pcnn_atomic_t *a);

/* Reads the whole file into a malloc'ed buffer (*buf, *len); free() it.
 * One extra zero byte is appended (not counted in *len). */
int pcnn_read_file(const char *path, uint8_t **buf, size_t *len, char err[PCNN_ERR_LEN]);

#endif /* PCNN_FILEIO_H */
