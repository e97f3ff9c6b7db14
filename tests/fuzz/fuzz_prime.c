/* fuzz_prime.c: the priming path of `pixelcnn sample --prime DATA`:
 * pcnn_data_open of a file (IDX, IDX.gz or CIFAR-10, detected by magic or
 * size) for the test split with limit 4, then pcnn_data_batch_f32 of all its
 * images. */
#define _GNU_SOURCE
#include "data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_file_t f;
  fuzz_file_open(&f, data, size);
  char err[PCNN_ERR_LEN];
  pcnn_dataset_t ds;
  if (pcnn_data_open(&ds, f.path, PCNN_SPLIT_TEST, 4, err) == 0) {
    if (ds.n < 1 || ds.n > 4) abort(); /* limit 4 must hold */
    const size_t img = (size_t)ds.h * ds.w * ds.c;
    float *out = malloc((size_t)ds.n * img * sizeof *out);
    int32_t idx[4];
    for (int i = 0; i < ds.n; i++) idx[i] = i;
    if (!out) abort();
    if (pcnn_data_batch_f32(out, &ds, idx, ds.n, 1, err) == 0 &&
        pcnn_data_batch_f32(out, &ds, idx, ds.n, 0, err) == 0)
      fuzz_sink = fuzz_checksum(out, (size_t)ds.n * img * sizeof *out);
    free(out);
    pcnn_dataset_free(&ds);
  }
  fuzz_file_close(&f);
  return 0;
}
