/* safetensors.c: safetensors writer and validating reader (cJSON); see safetensors.h. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

struct pcnn_st {
  char *path;
  uint8_t *buf; /* the whole file */
  size_t len;
  cJSON *root;  /* parsed header; names and metadata point into it */
  pcnn_st_view_t *t;
  int nt;
  const char **meta; /* key0, value0, ... */
  int nmeta;
  int *byname;       /* tensor indices sorted by name, for pcnn_st_find */
};

static int host_is_le(void) {
  const uint16_t one = 1;
  return *(const uint8_t *)&one == 1;
}

static size_t dtype_size(const char *d) {
  static const struct { const char *n; size_t s; } tab[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
      {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}};
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (strcmp(d, tab[i].n) == 0) return tab[i].s;
  return 0;
}

/* "[a, b, c]" into buf. */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t k = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < ndim && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
  return buf;
}

/* ---- writer ---- */

int pcnn_st_write(const char *path, const pcnn_st_tensor_t *tensors, int n,
                  const char *const *meta, int nmeta, char err[PCNN_ERR_LEN]) {
  if (!host_is_le()) return pcnn_errf(err, "%s: safetensors writer needs a little-endian host", path);
  if (n < 0 || nmeta < 0) return pcnn_errf(err, "%s: negative tensor or metadata count", path);
  cJSON *root = cJSON_CreateObject();
  if (!root) return pcnn_errf(err, "%s: out of memory", path);
  uint64_t off = 0;
  char sb[200];
  for (int i = 0; i < n; i++) {
    const pcnn_st_tensor_t *t = &tensors[i];
    if (!t->name || !*t->name || strcmp(t->name, "__metadata__") == 0) {
      cJSON_Delete(root);
      return pcnn_errf(err, "%s: tensor %d has an empty or reserved name", path, i);
    }
    if (cJSON_GetObjectItemCaseSensitive(root, t->name)) {
      cJSON_Delete(root);
      return pcnn_errf(err, "%s: duplicate tensor name '%s'", path, t->name);
    }
    if (t->ndim < 0 || t->ndim > PCNN_ST_MAX_DIMS) {
      cJSON_Delete(root);
      return pcnn_errf(err, "%s: tensor '%s' has %d dims (0..%d)", path, t->name, t->ndim,
                       PCNN_ST_MAX_DIMS);
    }
    uint64_t count = 1;
    for (int d = 0; d < t->ndim; d++) {
      if (t->shape[d] < 0 || t->shape[d] > (1ll << 40)) {
        cJSON_Delete(root);
        return pcnn_errf(err, "%s: tensor '%s' has a bad shape %s", path, t->name,
                         shape_str(sb, sizeof sb, t->ndim, t->shape));
      }
      count *= (uint64_t)t->shape[d];
    }
    if (count > (1ull << 40) || (count && !t->data)) {
      cJSON_Delete(root);
      return pcnn_errf(err, "%s: tensor '%s' has no data or is too large", path, t->name);
    }
    cJSON *o = cJSON_AddObjectToObject(root, t->name);
    cJSON *sh = o ? cJSON_AddArrayToObject(o, "shape") : NULL;
    cJSON *of = o ? cJSON_AddArrayToObject(o, "data_offsets") : NULL;
    int ok = o && sh && of && cJSON_AddStringToObject(o, "dtype", "F32");
    for (int d = 0; ok && d < t->ndim; d++)
      ok = cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
    ok = ok && cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
    off += count * 4;
    ok = ok && cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
    if (!ok) {
      cJSON_Delete(root);
      return pcnn_errf(err, "%s: out of memory building the header", path);
    }
  }
  if (nmeta > 0) {
    cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
    for (int i = 0; i < nmeta; i++) {
      const char *k = meta[2 * i], *v = meta[2 * i + 1];
      if (!m || !k || !v || !cJSON_AddStringToObject(m, k, v)) {
        cJSON_Delete(root);
        return pcnn_errf(err, "%s: bad metadata pair %d", path, i);
      }
    }
  }
  char *json = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!json) return pcnn_errf(err, "%s: out of memory printing the header", path);
  const size_t jl = strlen(json);
  const size_t hl = (jl + 7) / 8 * 8; /* pad with spaces so the data area is 8-aligned */
  uint8_t *hdr = malloc(8 + hl);
  if (!hdr) {
    free(json);
    return pcnn_errf(err, "%s: out of memory", path);
  }
  for (int k = 0; k < 8; k++) hdr[k] = (uint8_t)((uint64_t)hl >> (8 * k));
  memcpy(hdr + 8, json, jl);
  memset(hdr + 8 + jl, ' ', hl - jl);
  free(json);
  pcnn_atomic_t a;
  int r = pcnn_atomic_open(&a, path, err) || pcnn_atomic_write(&a, hdr, 8 + hl, err);
  free(hdr);
  for (int i = 0; !r && i < n; i++) {
    size_t count = 1;
    for (int d = 0; d < tensors[i].ndim; d++) count *= (size_t)tensors[i].shape[d];
    r = pcnn_atomic_write(&a, tensors[i].data, count * 4, err);
  }
  if (r) return -1;
  return pcnn_atomic_commit(&a, err);
}

/* ---- reader ---- */

void pcnn_st_close(pcnn_st_t *st) {
  if (!st) return;
  cJSON_Delete(st->root);
  free(st->t);
  free(st->meta);
  free(st->byname);
  free(st->buf);
  free(st->path);
  free(st);
}

/* A JSON number that is an integer in [0, 2^53]. */
static int json_uint(const cJSON *j, uint64_t *v) {
  if (!cJSON_IsNumber(j)) return 0;
  const double d = j->valuedouble;
  if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return 0;
  *v = (uint64_t)d;
  return 1;
}

typedef struct {
  uint64_t begin, end;
  int i;
} span_t;

static int span_cmp(const void *a, const void *b) {
  const span_t *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* Checks one tensor entry of the header into *v and its span. */
static int parse_entry(const char *path, const cJSON *e, pcnn_st_view_t *v, span_t *s,
                       char *err) {
  const char *name = e->string;
  if (!cJSON_IsObject(e)) return pcnn_errf(err, "%s: header entry '%s' is not an object", path, name);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
  const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of))
    return pcnn_errf(err, "%s: tensor '%s' lacks a string dtype, a shape array or a data_offsets array",
                     path, name);
  const size_t es = dtype_size(dt->valuestring);
  if (!es) return pcnn_errf(err, "%s: tensor '%s' has unknown dtype '%.20s'", path, name, dt->valuestring);
  v->name = name;
  snprintf(v->dtype, sizeof v->dtype, "%s", dt->valuestring);
  const int nd = cJSON_GetArraySize(sh);
  if (nd > PCNN_ST_MAX_DIMS)
    return pcnn_errf(err, "%s: tensor '%s' has %d dims (at most %d)", path, name, nd, PCNN_ST_MAX_DIMS);
  v->ndim = nd;
  uint64_t count = 1;
  int d = 0;
  const cJSON *x;
  cJSON_ArrayForEach(x, sh) {
    uint64_t u;
    if (!json_uint(x, &u) || u > (1ull << 40))
      return pcnn_errf(err, "%s: tensor '%s' has a non-integer or absurd dim in its shape", path, name);
    v->shape[d++] = (int64_t)u;
    if (u && count > (1ull << 50) / u)
      return pcnn_errf(err, "%s: tensor '%s' is absurdly large", path, name);
    count *= u;
  }
  uint64_t o[2];
  if (cJSON_GetArraySize(of) != 2 || !json_uint(cJSON_GetArrayItem(of, 0), &o[0]) ||
      !json_uint(cJSON_GetArrayItem(of, 1), &o[1]) || o[1] < o[0])
    return pcnn_errf(err, "%s: tensor '%s' has bad data_offsets (want [begin, end], begin <= end)",
                     path, name);
  if (count * es != o[1] - o[0]) {
    char sb[200];
    return pcnn_errf(err, "%s: tensor '%s': shape %s of %s needs %llu bytes but data_offsets "
                     "[%llu, %llu] hold %llu", path, name, shape_str(sb, sizeof sb, nd, v->shape),
                     v->dtype, (unsigned long long)(count * es), (unsigned long long)o[0],
                     (unsigned long long)o[1], (unsigned long long)(o[1] - o[0]));
  }
  v->nbytes = (size_t)(o[1] - o[0]);
  s->begin = o[0];
  s->end = o[1];
  return 0;
}

/* names sorted with qsort and checked pairwise: O(n log n) where checking
 * every pair was O(n^2) (80,000 empty tensors took 32 s) */
typedef struct {
  const char *name;
  int i;
} named_t;

static int named_cmp(const void *a, const void *b) {
  return strcmp(((const named_t *)a)->name, ((const named_t *)b)->name);
}

/* builds st->byname; fails on a tensor name or a metadata key given twice */
static int index_names(pcnn_st_t *st, char *err) {
  const int n = st->nt > st->nmeta ? st->nt : st->nmeta;
  named_t *v = malloc(((size_t)n + 1) * sizeof *v);
  st->byname = malloc(((size_t)st->nt + 1) * sizeof *st->byname);
  if (!v || !st->byname) {
    free(v);
    return pcnn_errf(err, "%s: out of memory", st->path);
  }
  int r = 0;
  for (int i = 0; i < st->nt; i++) v[i] = (named_t){st->t[i].name, i};
  qsort(v, (size_t)st->nt, sizeof *v, named_cmp);
  for (int i = 0; i < st->nt; i++) {
    st->byname[i] = v[i].i;
    if (i && !r && strcmp(v[i].name, v[i - 1].name) == 0)
      r = pcnn_errf(err, "%s: tensor '%.200s' appears twice in the header", st->path, v[i].name);
  }
  for (int i = 0; i < st->nmeta; i++) v[i] = (named_t){st->meta[2 * i], i};
  qsort(v, (size_t)st->nmeta, sizeof *v, named_cmp);
  for (int i = 1; i < st->nmeta && !r; i++)
    if (strcmp(v[i].name, v[i - 1].name) == 0)
      r = pcnn_errf(err, "%s: __metadata__ key '%.200s' appears twice", st->path, v[i].name);
  free(v);
  return r;
}

static int validate(pcnn_st_t *st, char *err) {
  const char *path = st->path;
  if (st->len < 8)
    return pcnn_errf(err, "%s: not a safetensors file: %zu bytes, too short for the 8-byte header "
                     "length", path, st->len);
  uint64_t hl = 0;
  for (int k = 0; k < 8; k++) hl |= (uint64_t)st->buf[k] << (8 * k);
  if (hl > PCNN_ST_MAX_HEADER)
    return pcnn_errf(err, "%s: not a safetensors file: header length %llu is absurd (limit %llu)",
                     path, (unsigned long long)hl, PCNN_ST_MAX_HEADER);
  if (hl > st->len - 8)
    return pcnn_errf(err, "%s: truncated: header says %llu bytes of JSON, file has %zu after the "
                     "length field", path, (unsigned long long)hl, st->len - 8);
  const char *js = (const char *)st->buf + 8;
  size_t lead = 0;
  while (lead < hl && (js[lead] == ' ' || js[lead] == '\n' || js[lead] == '\t' || js[lead] == '\r'))
    lead++;
  if (lead == hl || js[lead] != '{')
    return pcnn_errf(err, "%s: not a safetensors file: the header does not start with '{'", path);
  /* a name or value with an escaped NUL would be cut short by the C string
   * cJSON makes of it (and then match another name): refuse it */
  for (size_t k = 0; k + 1 < hl; k++) {
    if (js[k] != '\\') continue;
    if (js[k + 1] == 'u' && k + 5 < hl && js[k + 2] == '0' && js[k + 3] == '0' && js[k + 4] == '0' &&
        js[k + 5] == '0')
      return pcnn_errf(err, "%s: header has a \\u0000 (NUL) inside a string at byte %zu", path, k);
    k++; /* skip the escaped character (so "\\\\u0000" is a backslash then text) */
  }
  const char *end = NULL;
  st->root = cJSON_ParseWithLengthOpts(js, (size_t)hl, &end, 0);
  if (!st->root || !cJSON_IsObject(st->root))
    return pcnn_errf(err, "%s: header is not valid JSON (error near byte %lld of %llu)", path,
                     end ? (long long)(end - js) : -1ll, (unsigned long long)hl);
  for (const char *p = js; p < end; p++)
    if (*p == 0)
      return pcnn_errf(err, "%s: header has a NUL byte inside the JSON at byte %lld", path,
                       (long long)(p - js));
  for (const char *p = end; p < js + hl; p++)
    if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != 0)
      return pcnn_errf(err, "%s: header has junk after the JSON object at byte %lld", path,
                       (long long)(p - js));
  const uint64_t data_len = st->len - 8 - hl;
  const int nall = cJSON_GetArraySize(st->root);
  st->t = calloc((size_t)nall + 1, sizeof *st->t);
  span_t *sp = calloc((size_t)nall + 1, sizeof *sp);
  if (!st->t || !sp) {
    free(sp);
    return pcnn_errf(err, "%s: out of memory", path);
  }
  const cJSON *e;
  int r = 0;
  cJSON_ArrayForEach(e, st->root) {
    if (strcmp(e->string, "__metadata__") == 0) {
      if (st->meta) {
        r = pcnn_errf(err, "%s: two __metadata__ entries", path);
        break;
      }
      if (!cJSON_IsObject(e)) {
        r = pcnn_errf(err, "%s: __metadata__ is not an object", path);
        break;
      }
      const int nm = cJSON_GetArraySize(e);
      st->meta = calloc(2 * (size_t)nm + 1, sizeof *st->meta);
      if (!st->meta) {
        r = pcnn_errf(err, "%s: out of memory", path);
        break;
      }
      const cJSON *m;
      cJSON_ArrayForEach(m, e) {
        if (!cJSON_IsString(m)) {
          r = pcnn_errf(err, "%s: __metadata__ value of '%s' is not a string", path, m->string);
          break;
        }
        st->meta[2 * st->nmeta] = m->string;
        st->meta[2 * st->nmeta + 1] = m->valuestring;
        st->nmeta++;
      }
      if (r) break;
      continue;
    }
    if (parse_entry(path, e, &st->t[st->nt], &sp[st->nt], err)) {
      r = -1;
      break;
    }
    if (sp[st->nt].end > data_len) {
      r = pcnn_errf(err, "%s: truncated: tensor '%s' data_offsets [%llu, %llu] run past the %llu "
                    "data bytes in the file", path, e->string, (unsigned long long)sp[st->nt].begin,
                    (unsigned long long)sp[st->nt].end, (unsigned long long)data_len);
      break;
    }
    sp[st->nt].i = st->nt;
    st->nt++;
  }
  if (r) {
    free(sp);
    return -1;
  }
  /* sorted by begin the tensors must tile [0, data_len) exactly */
  qsort(sp, (size_t)st->nt, sizeof *sp, span_cmp);
  uint64_t at = 0;
  for (int k = 0; k < st->nt; k++) {
    if (sp[k].begin != at) {
      const char *nm = st->t[sp[k].i].name;
      r = sp[k].begin < at
              ? pcnn_errf(err, "%s: tensor '%s' data_offsets [%llu, %llu] overlap the previous "
                          "tensor (which ends at %llu)", path, nm, (unsigned long long)sp[k].begin,
                          (unsigned long long)sp[k].end, (unsigned long long)at)
              : pcnn_errf(err, "%s: gap in the data area: bytes [%llu, %llu) belong to no tensor",
                          path, (unsigned long long)at, (unsigned long long)sp[k].begin);
      break;
    }
    at = sp[k].end;
  }
  if (!r && at != data_len)
    r = pcnn_errf(err, "%s: %llu trailing data bytes after the last tensor (data ends at %llu)",
                  path, (unsigned long long)(data_len - at), (unsigned long long)at);
  if (!r) {
    /* views in data order */
    pcnn_st_view_t *sorted = calloc((size_t)st->nt + 1, sizeof *sorted);
    if (!sorted) {
      free(sp);
      return pcnn_errf(err, "%s: out of memory", path);
    }
    for (int k = 0; k < st->nt; k++) {
      sorted[k] = st->t[sp[k].i];
      sorted[k].data = st->buf + 8 + hl + sp[k].begin;
    }
    free(st->t);
    st->t = sorted;
  }
  free(sp);
  if (!r) r = index_names(st, err);
  return r;
}

int pcnn_st_open(pcnn_st_t **out, const char *path, char err[PCNN_ERR_LEN]) {
  *out = NULL;
  if (!host_is_le()) return pcnn_errf(err, "%s: safetensors reader needs a little-endian host", path);
  pcnn_st_t *st = calloc(1, sizeof *st);
  if (!st) return pcnn_errf(err, "%s: out of memory", path);
  st->path = strdup(path);
  if (!st->path || pcnn_read_file(path, &st->buf, &st->len, err) || validate(st, err)) {
    if (!st->path) pcnn_errf(err, "%s: out of memory", path);
    pcnn_st_close(st);
    return -1;
  }
  *out = st;
  return 0;
}

const char *pcnn_st_path(const pcnn_st_t *st) { return st->path; }
int pcnn_st_count(const pcnn_st_t *st) { return st->nt; }
const pcnn_st_view_t *pcnn_st_at(const pcnn_st_t *st, int i) {
  return i >= 0 && i < st->nt ? &st->t[i] : NULL;
}

const pcnn_st_view_t *pcnn_st_find(const pcnn_st_t *st, const char *name) {
  int lo = 0, hi = st->nt; /* binary search over the name index */
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    const int c = strcmp(st->t[st->byname[mid]].name, name);
    if (c == 0) return &st->t[st->byname[mid]];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

int pcnn_st_get_f32(const pcnn_st_t *st, const char *name, int expected_ndim,
                    const int64_t *expected_shape, float *out, char err[PCNN_ERR_LEN]) {
  const pcnn_st_view_t *v = pcnn_st_find(st, name);
  if (!v) return pcnn_errf(err, "%s: missing tensor '%s'", st->path, name);
  if (strcmp(v->dtype, "F32") != 0)
    return pcnn_errf(err, "%s: tensor '%s' has dtype %s, expected F32", st->path, name, v->dtype);
  int same = v->ndim == expected_ndim;
  for (int d = 0; same && d < v->ndim; d++) same = v->shape[d] == expected_shape[d];
  if (!same) {
    char a[200], b[200];
    return pcnn_errf(err, "%s: tensor '%s' has shape %s, expected %s", st->path, name,
                     shape_str(a, sizeof a, v->ndim, v->shape),
                     shape_str(b, sizeof b, expected_ndim < 0 ? 0 : expected_ndim, expected_shape));
  }
  if (v->nbytes) memcpy(out, v->data, v->nbytes);
  return 0;
}

const char *pcnn_st_meta(const pcnn_st_t *st, const char *key) {
  for (int i = 0; i < st->nmeta; i++)
    if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
  return NULL;
}

int pcnn_st_meta_count(const pcnn_st_t *st) { return st->nmeta; }

void pcnn_st_meta_at(const pcnn_st_t *st, int i, const char **key, const char **value) {
  const int ok = i >= 0 && i < st->nmeta;
  *key = ok ? st->meta[2 * i] : NULL;
  *value = ok ? st->meta[2 * i + 1] : NULL;
}
