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
 * One extra zero byte is appended (not counted in *len).  Regular files
 * only (see pcnn_open_regular). */
int pcnn_read_file(const char *path, uint8_t **buf, size_t *len, char err[PCNN_ERR_LEN]);

/* Opens path read-only if, and only if, it is a regular file: a FIFO, a
 * device, a socket or a directory gets "<path>: not a regular file (...)"
 * at once instead of blocking in open() or failing later.  Returns a
 * descriptor (O_CLOEXEC, blocking) or -1. */
int pcnn_open_regular(const char *path, char err[PCNN_ERR_LEN]);
/* The same as a stdio stream ("rb"); NULL on failure. */
FILE *pcnn_fopen_regular(const char *path, char err[PCNN_ERR_LEN]);

/* Checks, before any long work, that an atomic write to path can succeed:
 * creates missing parent directories, fails if path names a directory or an
 * existing non-regular file, and creates and removes the temp file once. */
int pcnn_prepare_output(const char *path, char err[PCNN_ERR_LEN]);

/* Removes "<path>.tmp.<pid>" files left by killed writers: only names of our
 * own pattern whose <pid> is not a running process.  pcnn_atomic_commit calls
 * it after every successful rename.  Returns the number removed. */
int pcnn_clean_stale_temps(const char *path);

#endif /* PCNN_FILEIO_H */
