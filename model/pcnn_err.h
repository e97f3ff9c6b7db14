/* pcnn_err.h: the error convention of the model/ library.
 *
 * Library code never prints and never exits.  Every function that can fail
 * returns 0 on success and -1 on failure, and on failure writes a one-line
 * reason into a caller buffer `char err[PCNN_ERR_LEN]` that names the file
 * and what is wrong, e.g.
 *   "data/x.idx: wrong IDX magic 0x00000000 (expected 0x00000803)"
 * err may be NULL (the reason is then dropped).  On success err is untouched.
 */
#ifndef PCNN_ERR_H
#define PCNN_ERR_H

#include <stdarg.h>
#include <stdio.h>

#define PCNN_ERR_LEN 512

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
/* Formats the reason into err (if not NULL) and returns -1, so that a
 * failing path is one line: `return pcnn_errf(err, "%s: ...", path);` */
static inline int pcnn_errf(char *err, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, PCNN_ERR_LEN, fmt, ap);
    va_end(ap);
  }
  return -1;
}

#endif /* PCNN_ERR_H */
