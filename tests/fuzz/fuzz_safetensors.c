/* fuzz_safetensors.c: pcnn_st_open on arbitrary bytes, then every accessor:
 * each tensor view (every data byte read), each metadata pair, pcnn_st_find
 * on each name, pcnn_st_get_f32 of each F32 tensor into an exact-size buffer. */
#define _GNU_SOURCE
#include <string.h>

#include "fuzz_util.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_file_t f;
  fuzz_file_open(&f, data, size);
  char err[PCNN_ERR_LEN];
  pcnn_st_t *st = NULL;
  if (pcnn_st_open(&st, f.path, err) == 0) {
    uint32_t h = 0;
    const int n = pcnn_st_count(st);
    for (int i = 0; i < n; i++) {
      const pcnn_st_view_t *v = pcnn_st_at(st, i);
      if (!v) abort(); /* pcnn_st_at must answer every i < count */
      h ^= fuzz_checksum(v->data, v->nbytes);
      h ^= fuzz_checksum(v->name, strlen(v->name));
      h ^= fuzz_checksum(v->dtype, strnlen(v->dtype, sizeof v->dtype));
      if (v->ndim < 0 || v->ndim > PCNN_ST_MAX_DIMS) abort();
      const pcnn_st_view_t *w = pcnn_st_find(st, v->name);
      if (!w) abort(); /* every listed name must be findable */
      if (strcmp(v->dtype, "F32") == 0) {
        float *out = malloc(v->nbytes ? v->nbytes : 1);
        if (!out) abort();
        /* the first tensor of that name is what get_f32 fetches: use its shape */
        if (pcnn_st_get_f32(st, w->name, w->ndim, w->shape, out, err) == 0 && w == v)
          h ^= fuzz_checksum(out, v->nbytes);
        free(out);
      }
    }
    (void)pcnn_st_at(st, -1);
    (void)pcnn_st_at(st, n);
    const int nm = pcnn_st_meta_count(st);
    for (int i = 0; i < nm; i++) {
      const char *k, *val;
      pcnn_st_meta_at(st, i, &k, &val);
      if (!k || !val) abort();
      h ^= fuzz_checksum(k, strlen(k)) ^ fuzz_checksum(val, strlen(val));
      const char *again = pcnn_st_meta(st, k);
      if (!again) abort();
    }
    (void)pcnn_st_find(st, "");
    (void)pcnn_st_meta(st, "format");
    h ^= fuzz_checksum(pcnn_st_path(st), strlen(pcnn_st_path(st)));
    fuzz_sink = h;
    pcnn_st_close(st);
  }
  fuzz_file_close(&f);
  return 0;
}
