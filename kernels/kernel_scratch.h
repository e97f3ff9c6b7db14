/* kernel_scratch.h: the one scratch buffer a kernel file may keep (see the
 * contract in pcnn_kernels.h: kernels do not allocate per call). */
#ifndef PCNN_KERNEL_SCRATCH_H
#define PCNN_KERNEL_SCRATCH_H
#include <stdlib.h>

/* the calling thread's scratch of at least n floats: grows once and is kept
 * (one per translation unit, i.e. per kernel file), NULL if it cannot */
static inline float *pcnn_scratch(size_t n) {
  static _Thread_local float *buf;
  static _Thread_local size_t cap;
  if (n > cap) {
    free(buf);
    buf = malloc(n * sizeof(float));
    cap = buf ? n : 0;
  }
  return buf;
}
#endif
