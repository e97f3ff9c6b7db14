/* fuzz_npy.c: pcnn_npy_read (.npy arrays, float32 or uint8) on arbitrary bytes. */
#define _GNU_SOURCE
#include "fuzz_util.h"
#include "image_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_file_t f;
  fuzz_file_open(&f, data, size);
  char err[PCNN_ERR_LEN];
  pcnn_npy_t a;
  if (pcnn_npy_read(&a, f.path, err) == 0) {
    fuzz_sink = fuzz_checksum(a.data, a.count * (a.dtype == PCNN_NPY_F32 ? 4 : 1));
    pcnn_npy_free(&a);
  }
  fuzz_file_close(&f);
  return 0;
}
