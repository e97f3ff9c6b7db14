/* fuzz_cifar.c: pcnn_cifar_read (CIFAR-10 binary batch) on arbitrary bytes. */
#define _GNU_SOURCE
#include "data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_file_t f;
  fuzz_file_open(&f, data, size);
  char err[PCNN_ERR_LEN];
  pcnn_dataset_t ds;
  if (pcnn_cifar_read(&ds, f.path, 0, -1, err) == 0) {
    fuzz_sink = fuzz_checksum(ds.pixels, (size_t)ds.n * ds.h * ds.w * ds.c);
    pcnn_dataset_free(&ds);
  }
  fuzz_file_close(&f);
  return 0;
}
