/* kernel_scratch.h: the one scratch buffer a kernel file may keep (see the
 * contract in pcnn_kernels.h: kernels do not allocate per call). */
#ifndef PCNN_KERNEL_SCRATCH_H
#define PCNN_KERNEL_SCRATCH_H
#include <stdlib.h>

/* records a thread's scratch pointer so that it is freed when the thread
 * exits (kernels/kernel_scratch.c; a pthread key destructor): a program that
 * runs the library on short-lived threads does not leak a buffer per thread */
void pcnn_scratch_at_exit(float **slot);

/* the calling thread's scratch of at least n floats, 64-byte aligned (a
 * whole vector per cache line): grows once and is kept until the thread
 * exits (one per translation unit, i.e. per kernel file), NULL if it cannot */
static inline float *pcnn_scratch(size_t n) {
  static _Thread_local float *buf;
  static _Thread_local size_t cap;
  static _Thread_local int tracked;
  if (n > cap) {
    if (!tracked) {
      pcnn_scratch_at_exit(&buf);
      tracked = 1;
    }
    free(buf);
    buf = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    cap = buf ? n : 0;
  }
  return buf;
}
#endif
