/* fuzz_checkpoint.c: pcnn_ckpt_load (a whole model from a safetensors file)
 * on arbitrary bytes, with a batch of 1; inputs over 4 MB are skipped so the
 * fuzzer does not spend its time on huge models. */
#define _GNU_SOURCE
#include "checkpoint.h"
#include "fuzz_util.h"

#define MAX_INPUT (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > MAX_INPUT) return 0;
  fuzz_file_t f;
  fuzz_file_open(&f, data, size);
  char err[PCNN_ERR_LEN];
  pcnn_model_t m;
  pcnn_ckpt_extra_t extra;
  int has_opt = 0;
  if (pcnn_ckpt_load(f.path, &m, 1, &has_opt, &extra, err) == 0) {
    uint32_t h = fuzz_checksum(m.params, m.nparams * sizeof *m.params);
    if (has_opt) h ^= fuzz_checksum(m.m, m.nparams * sizeof *m.m);
    for (int i = 0; i < extra.n; i++) h ^= fuzz_checksum(extra.value[i], sizeof extra.value[i]);
    fuzz_sink = h;
    pcnn_model_free(&m);
  }
  fuzz_file_close(&f);
  return 0;
}
