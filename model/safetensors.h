/* safetensors.h: checkpoints in the safetensors format (Hugging Face).
 *
 * File layout:
 *   bytes [0, 8)        N, the JSON header length, uint64 little-endian
 *   bytes [8, 8 + N)    UTF-8 JSON object, padded at the end with spaces:
 *     { "<tensor name>": {"dtype": "F32", "shape": [d0, d1, ...],
 *                         "data_offsets": [begin, end]},  ...,
 *       "__metadata__": {"<key>": "<string value>", ...} }   (optional)
 *   bytes [8 + N, EOF)  the data area: each tensor's elements, C order,
 *     little-endian, at [begin, end) relative to the start of the data area.
 * The tensors tile the data area exactly: sorted by begin they are
 * contiguous, the first begins at 0 and the last ends at EOF.
 *
 * Writer: F32 tensors only, in the order given, header padded to a multiple
 * of 8 bytes (so the data area is 8-aligned); atomic (temp + fsync + rename).
 * Reader: loads the whole file and checks everything above: header length
 * vs file size (a length over 100,000,000 means "not safetensors"), valid
 * JSON (parsed with cJSON), known dtype (F64 F32 F16 BF16 I64 I32 I16 I8 U8
 * BOOL; only F32 can be fetched as floats), integer shapes, offsets in range,
 * non-overlapping and contiguous, prod(shape) * dtype size == end - begin,
 * unique names, string metadata values.  Little-endian hosts only.
 * A file written here reads in Python with safetensors.numpy.load_file /
 * safetensors.torch.load_file, and vice versa for F32.
 */
#ifndef PCNN_SAFETENSORS_H
#define PCNN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "pcnn_err.h"

#define PCNN_ST_MAX_DIMS 8
#define PCNN_ST_MAX_HEADER 100000000ull

/* One tensor to write. */
typedef struct {
  const char *name;                 /* unique, not "__metadata__" */
  int ndim;                         /* 0 (scalar) .. PCNN_ST_MAX_DIMS */
  int64_t shape[PCNN_ST_MAX_DIMS];
  const float *data;                /* prod(shape) floats, C order */
} pcnn_st_tensor_t;

/* Writes n tensors and nmeta metadata pairs: meta = {key0, value0, key1,
 * value1, ...} (2 * nmeta strings; meta may be NULL when nmeta == 0). */
int pcnn_st_write(const char *path, const pcnn_st_tensor_t *tensors, int n,
                  const char *const *meta, int nmeta, char err[PCNN_ERR_LEN]);

/* One tensor of an opened file. */
typedef struct {
  const char *name;
  char dtype[8];                    /* "F32", "I64", ... */
  int ndim;
  int64_t shape[PCNN_ST_MAX_DIMS];
  size_t nbytes;                    /* == prod(shape) * dtype size */
  const void *data;                 /* into the loaded file; may be unaligned: memcpy */
} pcnn_st_view_t;

typedef struct pcnn_st pcnn_st_t;   /* an opened, validated file */

/* Loads and validates path; on success *out must be closed with pcnn_st_close. */
int pcnn_st_open(pcnn_st_t **out, const char *path, char err[PCNN_ERR_LEN]);
void pcnn_st_close(pcnn_st_t *st);  /* NULL is fine */

const char *pcnn_st_path(const pcnn_st_t *st);
/* Tensors in data order (by begin offset): i in [0, count). */
int pcnn_st_count(const pcnn_st_t *st);
const pcnn_st_view_t *pcnn_st_at(const pcnn_st_t *st, int i);
/* The tensor called name, or NULL. */
const pcnn_st_view_t *pcnn_st_find(const pcnn_st_t *st, const char *name);

/* Copies tensor `name` into out (prod(expected_shape) floats) after checking
 * that it exists, is F32 and has exactly the expected shape; the error names
 * the file, the tensor and both shapes. */
int pcnn_st_get_f32(const pcnn_st_t *st, const char *name, int expected_ndim,
                    const int64_t *expected_shape, float *out, char err[PCNN_ERR_LEN]);

/* Metadata value for key, or NULL. */
const char *pcnn_st_meta(const pcnn_st_t *st, const char *key);
/* All metadata pairs: i in [0, pcnn_st_meta_count). */
int pcnn_st_meta_count(const pcnn_st_t *st);
void pcnn_st_meta_at(const pcnn_st_t *st, int i, const char **key, const char **value);

#endif /* PCNN_SAFETENSORS_H */
