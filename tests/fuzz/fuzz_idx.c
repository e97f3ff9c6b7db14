/* fuzz_idx.c: pcnn_idx_read on arbitrary bytes, twice per input:
 *   1. the bytes as they are (a plain IDX file, or a .gz if they start 1f 8b:
 *      corrupt gzip streams come in this way);
 *   2. the bytes gzip-compressed here (zlib deflate, gzip wrapper), so every
 *      IDX header and truncation the fuzzer makes also goes through the
 *      reader's gzip path inside a valid stream. */
#define _GNU_SOURCE
#include <zlib.h>

#include "data.h"
#include "fuzz_util.h"

static void read_one(const uint8_t *data, size_t size) {
  fuzz_file_t f;
  fuzz_file_open(&f, data, size);
  char err[PCNN_ERR_LEN];
  pcnn_dataset_t ds;
  if (pcnn_idx_read(&ds, f.path, 0, -1, err) == 0) {
    fuzz_sink = fuzz_checksum(ds.pixels, (size_t)ds.n * ds.h * ds.w * ds.c);
    pcnn_dataset_free(&ds);
  }
  fuzz_file_close(&f);
}

/* gzip of data into a malloc'ed buffer; NULL on failure. */
static uint8_t *gzip_bytes(const uint8_t *data, size_t size, size_t *out_len) {
  z_stream z = {0};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return NULL;
  const size_t cap = deflateBound(&z, (uLong)size) + 64;
  uint8_t *out = malloc(cap);
  if (!out) {
    deflateEnd(&z);
    return NULL;
  }
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)size;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  const int r = deflate(&z, Z_FINISH);
  *out_len = z.total_out;
  deflateEnd(&z);
  if (r != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  read_one(data, size);
  if (size > (1u << 20)) return 0;
  size_t gl = 0;
  uint8_t *gz = gzip_bytes(data, size, &gl);
  if (!gz) abort(); /* harness failure, not a finding */
  read_one(gz, gl);
  free(gz);
  return 0;
}
