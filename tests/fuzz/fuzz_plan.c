/* fuzz_plan.c: pcnn_plan_load (the kernel plan text file) on arbitrary bytes. */
#define _GNU_SOURCE
#include <string.h>

#include "fuzz_util.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_file_t f;
  fuzz_file_open(&f, data, size);
  char err[PCNN_ERR_LEN];
  pcnn_plan_t p;
  if (pcnn_plan_load(f.path, &p, err) == 0) {
    char s[1024];
    pcnn_plan_str(&p, s, sizeof s);
    fuzz_sink = fuzz_checksum(s, strlen(s)) ^ fuzz_checksum(p.source, strnlen(p.source, sizeof p.source));
  }
  fuzz_file_close(&f);
  return 0;
}
