/* image_io.h: PNG grids of images, and .npy arrays in and out.
 *
 * All writers are atomic (see fileio.h): "<path>.tmp.<pid>", fsync, rename.
 *
 * PNG grid: n images (n, h, w, c) NHWC, c = 1 (grey) or 3 (RGB), tiled
 * left-to-right, top-to-bottom into `cols` columns (cols <= 0: ceil(sqrt n))
 * and ceil(n / cols) rows, each pixel repeated scale x scale times
 * (scale >= 1), with `border` px (0..16) of mid grey (128) around and
 * between the tiles; unused tiles stay grey.  Output is 8-bit grey or RGB.
 *   width  = cols * (w * scale + border) + border
 *   height = rows * (h * scale + border) + border
 *
 * .npy: format version 1.0 written (v1/v2/v3 read), C order, dtypes float32
 * '<f4' and uint8 '|u1', any shape of up to PCNN_NPY_MAX_DIMS dims
 * (ndim 0 = a scalar).
 */
#ifndef PCNN_IMAGE_IO_H
#define PCNN_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "pcnn_err.h"

/* Grid of uint8 images, 0 = black, 255 = white. img: (n, h, w, c) */
int pcnn_png_write_grid_u8(const char *path, const uint8_t *img, int n, int h, int w, int c,
                           int cols, int border, int scale, char err[PCNN_ERR_LEN]);
/* Grid of float images, values in [0, 1] (clamped; NaN -> 0), byte = round(v * 255).
 * img: (n, h, w, c) */
int pcnn_png_write_grid_f32(const char *path, const float *img, int n, int h, int w, int c,
                            int cols, int border, int scale, char err[PCNN_ERR_LEN]);

#define PCNN_NPY_MAX_DIMS 8

typedef enum { PCNN_NPY_F32 = 0, PCNN_NPY_U8 = 1 } pcnn_npy_dtype_t;

typedef struct {
  pcnn_npy_dtype_t dtype;
  int ndim;
  int64_t shape[PCNN_NPY_MAX_DIMS];
  size_t count; /* product of shape (1 for a scalar) */
  void *data;   /* count elements, malloc'ed: (float *) or (uint8_t *) */
} pcnn_npy_t;

/* Writes count = prod(shape) elements of data as a .npy file. */
int pcnn_npy_write(const char *path, pcnn_npy_dtype_t dtype, const void *data, int ndim,
                   const int64_t *shape, char err[PCNN_ERR_LEN]);
/* Reads a .npy file of dtype '<f4' or '|u1' (also '<u1'), fortran_order False.
 * On success free with pcnn_npy_free. */
int pcnn_npy_read(pcnn_npy_t *out, const char *path, char err[PCNN_ERR_LEN]);
void pcnn_npy_free(pcnn_npy_t *a);

#endif /* PCNN_IMAGE_IO_H */
