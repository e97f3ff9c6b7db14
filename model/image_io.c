/* image_io.c: PNG grids (libpng simplified API) and .npy files; see image_io.h. */
#include "image_io.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

/* ---- PNG ---- */

static int grid_check(const char *path, int n, int h, int w, int c, int *cols, int border,
                      int scale, int *rows, char *err) {
  if (n <= 0 || h <= 0 || w <= 0 || (c != 1 && c != 3))
    return pcnn_errf(err, "%s: bad image dims n=%d h=%d w=%d c=%d (c must be 1 or 3)", path, n, h,
                     w, c);
  if (border < 0 || border > 16 || scale < 1 || scale > 64)
    return pcnn_errf(err, "%s: bad border %d (0..16) or scale %d (1..64)", path, border, scale);
  if (*cols <= 0) {
    *cols = 1;
    while ((int64_t)*cols * *cols < n) (*cols)++;
  }
  if (*cols > n) *cols = n;
  *rows = (n + *cols - 1) / *cols;
  const int64_t W = (int64_t)*cols * (w * scale + border) + border;
  const int64_t H = (int64_t)*rows * (h * scale + border) + border;
  if (W > 65535 || H > 65535)
    return pcnn_errf(err, "%s: grid of %lldx%lld px is too large for one PNG", path, (long long)W,
                     (long long)H);
  return 0;
}

/* Lays out the grid from bytes (u8 != NULL) or floats. */
static int write_grid(const char *path, const uint8_t *u8, const float *f32, int n, int h, int w,
                      int c, int cols, int border, int scale, char *err) {
  int rows = 0;
  if (grid_check(path, n, h, w, c, &cols, border, scale, &rows, err)) return -1;
  const size_t W = (size_t)cols * (w * scale + border) + border;
  const size_t H = (size_t)rows * (h * scale + border) + border;
  uint8_t *canvas = malloc(W * H * c);
  if (!canvas) return pcnn_errf(err, "%s: out of memory for a %zux%zu grid", path, W, H);
  memset(canvas, 128, W * H * c);
  for (int i = 0; i < n; i++) {
    const size_t x0 = border + (size_t)(i % cols) * (w * scale + border);
    const size_t y0 = border + (size_t)(i / cols) * (h * scale + border);
    for (int y = 0; y < h * scale; y++)
      for (int x = 0; x < w * scale; x++)
        for (int ch = 0; ch < c; ch++) {
          const size_t s = (((size_t)i * h + y / scale) * w + x / scale) * c + ch;
          uint8_t v;
          if (u8) {
            v = u8[s];
          } else {
            const float f = f32[s];
            v = f > 0.f ? (f < 1.f ? (uint8_t)lrintf(f * 255.f) : 255) : 0; /* NaN -> 0 */
          }
          canvas[((y0 + y) * W + x0 + x) * c + ch] = v;
        }
  }
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)W;
  img.height = (png_uint_32)H;
  img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  pcnn_atomic_t a;
  if (pcnn_atomic_open(&a, path, err)) {
    free(canvas);
    return -1;
  }
  const int ok = png_image_write_to_stdio(&img, a.f, 0, canvas, (png_int_32)(W * c), NULL);
  free(canvas);
  if (!ok) {
    pcnn_errf(err, "%s: PNG write failed: %s", path, img.message);
    png_image_free(&img);
    pcnn_atomic_abort(&a);
    return -1;
  }
  return pcnn_atomic_commit(&a, err);
}

int pcnn_png_write_grid_u8(const char *path, const uint8_t *img, int n, int h, int w, int c,
                           int cols, int border, int scale, char err[PCNN_ERR_LEN]) {
  return write_grid(path, img, NULL, n, h, w, c, cols, border, scale, err);
}

int pcnn_png_write_grid_f32(const char *path, const float *img, int n, int h, int w, int c,
                            int cols, int border, int scale, char err[PCNN_ERR_LEN]) {
  return write_grid(path, NULL, img, n, h, w, c, cols, border, scale, err);
}

/* ---- .npy ---- */

static const char NPY_MAGIC[] = "\x93NUMPY";

static size_t dtype_size(pcnn_npy_dtype_t d) { return d == PCNN_NPY_F32 ? 4 : 1; }

int pcnn_npy_write(const char *path, pcnn_npy_dtype_t dtype, const void *data, int ndim,
                   const int64_t *shape, char err[PCNN_ERR_LEN]) {
  if (dtype != PCNN_NPY_F32 && dtype != PCNN_NPY_U8)
    return pcnn_errf(err, "%s: unknown npy dtype %d", path, (int)dtype);
  if (ndim < 0 || ndim > PCNN_NPY_MAX_DIMS)
    return pcnn_errf(err, "%s: %d dims (at most %d)", path, ndim, PCNN_NPY_MAX_DIMS);
  char dict[512];
  int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     dtype == PCNN_NPY_F32 ? "<f4" : "|u1");
  size_t count = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return pcnn_errf(err, "%s: negative dim %lld", path, (long long)shape[i]);
    count *= (size_t)shape[i];
    len += snprintf(dict + len, sizeof dict - len, "%lld%s", (long long)shape[i],
                    ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
  }
  len += snprintf(dict + len, sizeof dict - len, "), }");
  /* v1.0: magic(6) + version(2) + u16 header len, header padded with spaces
   * and ended by '\n' so that data starts at a multiple of 64 */
  const size_t pre = 10;
  size_t total = pre + (size_t)len + 1;
  total = (total + 63) / 64 * 64;
  const size_t hlen = total - pre;
  uint8_t hdr[600];
  memcpy(hdr, NPY_MAGIC, 6);
  hdr[6] = 1;
  hdr[7] = 0;
  hdr[8] = (uint8_t)(hlen & 0xff);
  hdr[9] = (uint8_t)(hlen >> 8);
  memcpy(hdr + pre, dict, (size_t)len);
  memset(hdr + pre + len, ' ', hlen - len - 1);
  hdr[total - 1] = '\n';
  pcnn_atomic_t a;
  if (pcnn_atomic_open(&a, path, err) || pcnn_atomic_write(&a, hdr, total, err) ||
      pcnn_atomic_write(&a, data, count * dtype_size(dtype), err))
    return -1;
  return pcnn_atomic_commit(&a, err);
}

void pcnn_npy_free(pcnn_npy_t *a) {
  if (!a) return;
  free(a->data);
  memset(a, 0, sizeof *a);
}

/* The value text after 'key': in the header dict, or NULL. */
static const char *dict_value(const char *h, const char *key) {
  char k[32];
  snprintf(k, sizeof k, "'%s'", key);
  const char *p = strstr(h, k);
  if (!p) {
    snprintf(k, sizeof k, "\"%s\"", key);
    p = strstr(h, k);
  }
  if (!p) return NULL;
  p += strlen(k);
  while (*p == ' ') p++;
  if (*p != ':') return NULL;
  p++;
  while (*p == ' ') p++;
  return p;
}

int pcnn_npy_read(pcnn_npy_t *out, const char *path, char err[PCNN_ERR_LEN]) {
  memset(out, 0, sizeof *out);
  uint8_t *buf;
  size_t len;
  if (pcnn_read_file(path, &buf, &len, err)) return -1;
  int r = -1;
  if (len < 10 || memcmp(buf, NPY_MAGIC, 6) != 0) {
    pcnn_errf(err, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    goto done;
  }
  const int major = buf[6];
  size_t hlen, pre;
  if (major == 1) {
    hlen = buf[8] | (size_t)buf[9] << 8;
    pre = 10;
  } else if (major == 2 || major == 3) {
    if (len < 12) {
      pcnn_errf(err, "%s: truncated .npy header", path);
      goto done;
    }
    hlen = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    pre = 12;
  } else {
    pcnn_errf(err, "%s: unsupported .npy version %d.%d", path, major, buf[7]);
    goto done;
  }
  if (hlen > len - pre) {
    pcnn_errf(err, "%s: truncated: .npy header says %zu bytes, file has %zu", path, hlen,
              len - pre);
    goto done;
  }
  char hdr[4096];
  if (hlen >= sizeof hdr) {
    pcnn_errf(err, "%s: .npy header of %zu bytes is too long", path, hlen);
    goto done;
  }
  memcpy(hdr, buf + pre, hlen);
  hdr[hlen] = 0;
  const char *d = dict_value(hdr, "descr"), *fo = dict_value(hdr, "fortran_order"),
             *sh = dict_value(hdr, "shape");
  if (!d || !fo || !sh) {
    pcnn_errf(err, "%s: .npy header lacks descr, fortran_order or shape: %.200s", path, hdr);
    goto done;
  }
  if (strncmp(d, "'<f4'", 5) == 0) {
    out->dtype = PCNN_NPY_F32;
  } else if (strncmp(d, "'|u1'", 5) == 0 || strncmp(d, "'<u1'", 5) == 0) {
    out->dtype = PCNN_NPY_U8;
  } else {
    pcnn_errf(err, "%s: unsupported .npy dtype %.12s (want '<f4' or '|u1')", path, d);
    goto done;
  }
  if (strncmp(fo, "False", 5) != 0) {
    pcnn_errf(err, "%s: fortran_order arrays are not supported", path);
    goto done;
  }
  if (*sh != '(') {
    pcnn_errf(err, "%s: bad .npy shape %.40s", path, sh);
    goto done;
  }
  const char *p = sh + 1;
  size_t count = 1;
  for (;;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') break;
    char *end;
    const long long v = strtoll(p, &end, 10);
    if (end == p || v < 0 || out->ndim == PCNN_NPY_MAX_DIMS || (v > 0 && count > SIZE_MAX / (size_t)v)) {
      pcnn_errf(err, "%s: bad or too many dims in .npy shape %.60s", path, sh);
      goto done;
    }
    out->shape[out->ndim++] = v;
    count *= (size_t)v;
    p = end;
  }
  const size_t nb = count * dtype_size(out->dtype);
  if (nb / dtype_size(out->dtype) != count || len - pre - hlen != nb) {
    pcnn_errf(err, "%s: %s: shape needs %zu data bytes, file has %zu", path,
              len - pre - hlen < nb ? "truncated" : "size mismatch", nb, len - pre - hlen);
    goto done;
  }
  out->count = count;
  out->data = malloc(nb ? nb : 1);
  if (!out->data) {
    pcnn_errf(err, "%s: out of memory", path);
    goto done;
  }
  memcpy(out->data, buf + pre + hlen, nb);
  r = 0;
done:
  free(buf);
  if (r) pcnn_npy_free(out);
  return r;
}
