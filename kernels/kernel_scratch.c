/* kernel_scratch.c: frees the kernels' per-thread scratch buffers
 * (kernel_scratch.h) when their thread exits. Each kernel file keeps one
 * thread-local pointer; the first time a thread allocates it, its address is
 * recorded in that thread's list, and the list's pthread key destructor frees
 * every recorded buffer at thread exit (before the thread's TLS goes away).
 * The main thread's buffers live until the process exits. */
#include <pthread.h>
#include <stdlib.h>

#include "kernel_scratch.h"

enum { SLOTS = 16 }; /* kernel files with a scratch buffer: 3 today */

typedef struct {
  float **slot[SLOTS];
  int n;
} slots_t;

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int have_key;

static void free_slots(void *p) {
  slots_t *s = p;
  for (int i = 0; i < s->n; i++) {
    free(*s->slot[i]);
    *s->slot[i] = NULL;
  }
  free(s);
}

static void make_key(void) { have_key = pthread_key_create(&key, free_slots) == 0; }

void pcnn_scratch_at_exit(float **slot) {
  pthread_once(&once, make_key);
  if (!have_key) return;
  slots_t *s = pthread_getspecific(key);
  if (!s) {
    if (!(s = calloc(1, sizeof *s))) return;
    if (pthread_setspecific(key, s)) {
      free(s);
      return;
    }
  }
  if (s->n < SLOTS) s->slot[s->n++] = slot;
}
