/* pixelcnn.h: the public C API of pixelcnn-c, for programs that embed the
 * library (link with `pkg-config --cflags --libs pixelcnn`; see README
 * "Embedding the library" and examples/embed.c).
 *
 * A model is an opaque handle, pixelcnn_t: a PixelCNN (van den Oord et al.
 * 2016) with its parameters, its Nadam optimizer state and activation memory
 * for a batch. Everything else of the library (kernels, plans, data readers)
 * stays private; this header includes only the C standard library.
 *
 * Images are float32, NHWC, (n, H, W, C) with channel fastest, every value in
 * [0, 1] (a value outside [0, 1], NaN included, is refused: the softmax256
 * head reads its target class as round(255 v)). H, W and C are the model's
 * (pixelcnn_get_config). Logits are (n, H, W, C*K), colour c's K logits at
 * [c*K, c*K + K); K = 1 for the Bernoulli head, 256 for the softmax256 head.
 * n, the batch, is 1..4096. Buffers are the caller's: the library reads
 * and writes them only during the call and keeps no pointer to them.
 *
 * Memory: a handle owns its parameters and Nadam state (4 floats per
 * parameter) and activations for the largest batch it has been given; they
 * grow on the first call with a larger n and never shrink (about 14 MB per
 * image for the seed model at 28x28).
 *
 * Errors: every call that can fail returns a pixelcnn_status_t, PIXELCNN_OK
 * (0) on success, and on failure writes one line naming the argument, file
 * or value at fault into err (a caller buffer of PIXELCNN_ERR_LEN chars; err
 * may be NULL). The library never prints, never exits and never reads stdin.
 *
 * Threads: a call parallelises itself with OpenMP (OMP_NUM_THREADS, or the
 * caller's omp_set_num_threads). A handle must not be used by two threads at
 * once; different handles may be used from different threads at the same
 * time (each call then runs its own OpenMP team: mind oversubscription).
 * Some kernels keep a per-thread scratch buffer (up to a few hundred KB each
 * for the seed model), grown once and freed when its thread exits; a thread
 * pool (or OpenMP's own threads) reuses them, a new thread per call
 * allocates them again.
 * Kernels are picked once per process, the fastest this CPU runs (AVX-512,
 * AVX2 or the portable reference), or capped by the environment variable
 * PIXELCNN_ISA=ref|avx2|avx512 read at the first pixelcnn_create/load.
 */
#ifndef PIXELCNN_H
#define PIXELCNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PIXELCNN_VERSION_MAJOR 0
#define PIXELCNN_VERSION_MINOR 1
#define PIXELCNN_VERSION_PATCH 0
#define PIXELCNN_VERSION "0.1.0"

/* The library's version, "MAJOR.MINOR.PATCH" (static string). Compare with
 * PIXELCNN_VERSION to tell the header from the library linked. */
const char *pixelcnn_version(void);

#define PIXELCNN_ERR_LEN 512

typedef enum {
  PIXELCNN_OK = 0,
  PIXELCNN_EINVAL = 1,    /* a bad argument: NULL, n or a config out of range, a pixel outside [0, 1] */
  PIXELCNN_EFILE = 2,     /* a file that cannot be read or written, or is not a valid checkpoint */
  PIXELCNN_ENOMEM = 3,    /* out of memory (or activations larger than the machine's memory) */
  PIXELCNN_EDIVERGED = 4  /* training produced a loss that is not finite */
} pixelcnn_status_t;

/* A short static description of a status ("invalid argument", ...); never NULL. */
const char *pixelcnn_status_str(pixelcnn_status_t status);

typedef enum {
  PIXELCNN_HEAD_BERNOULLI = 0,  /* one logit per channel: sigmoid, binary cross-entropy */
  PIXELCNN_HEAD_SOFTMAX256 = 1  /* 256 logits per channel: 8-bit categorical */
} pixelcnn_head_t;

typedef struct {
  int channels; /* C: 1 (grayscale) or 3 (RGB, three colour groups) */
  int filters;  /* F: even, 2..4096 (>= 6 for RGB) */
  int depth;    /* residual blocks: 0..256 */
  int head;     /* pixelcnn_head_t */
  int height, width; /* image sides: 1..4096 */
} pixelcnn_config_t;

/* The seed's model: 1 channel, 128 filters, depth 6, Bernoulli head, 28x28. */
pixelcnn_config_t pixelcnn_config_default(void);

typedef struct pixelcnn pixelcnn_t; /* opaque */

/* A new model for cfg, initialised from seed (PyTorch's defaults: conv weights
 * and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PReLU slopes 0.25; the same
 * seed gives the same weights), with fresh Nadam state (torch.optim.NAdam with
 * Keras' defaults: lr 0.002, betas 0.9 / 0.999, eps 1e-7). On success *out
 * owns it (free with pixelcnn_free); on failure *out is NULL. */
pixelcnn_status_t pixelcnn_create(pixelcnn_t **out, const pixelcnn_config_t *cfg, uint64_t seed,
                                  char err[PIXELCNN_ERR_LEN]);

/* Loads a checkpoint (safetensors, written by pixelcnn_save or `pixelcnn
 * train`). Nothing in the file is trusted: config, tensor names and shapes,
 * finite weights and optimizer state are checked before use. Its Nadam state
 * and hyper-parameters are restored when the file has them (else fresh
 * defaults). The file's run metadata (epoch, data, ...) is not kept.
 * On failure *out is NULL. */
pixelcnn_status_t pixelcnn_load(pixelcnn_t **out, const char *path, char err[PIXELCNN_ERR_LEN]);

/* Writes the model to path atomically (temp file, fsync, rename; an existing
 * file is replaced only by a complete one); with_optimizer != 0 also writes
 * the Nadam state, so that training can continue from the file. Two handles
 * must not save to the same path at the same time. */
pixelcnn_status_t pixelcnn_save(const pixelcnn_t *m, const char *path, int with_optimizer,
                                char err[PIXELCNN_ERR_LEN]);

/* Frees the model and its memory; NULL is a no-op. */
void pixelcnn_free(pixelcnn_t *m);

/* The model's configuration; m must not be NULL. */
pixelcnn_config_t pixelcnn_get_config(const pixelcnn_t *m);

/* Parameters (weights, biases, PReLU slopes), and floats of logits for n
 * images: n * H * W * C * K. */
size_t pixelcnn_num_params(const pixelcnn_t *m);
size_t pixelcnn_logits_len(const pixelcnn_t *m, int n);

/* logits (n, H, W, C*K), caller-owned, pixelcnn_logits_len(m, n) floats, of
 * images (n, H, W, C) in [0, 1]. Logits at a position depend only on the
 * pixels before it in raster order (and the earlier colours of that pixel). */
pixelcnn_status_t pixelcnn_logits(pixelcnn_t *m, float *logits, const float *images, int n,
                                  char err[PIXELCNN_ERR_LEN]);

/* *nll = the mean negative log-likelihood of images (n, H, W, C) in [0, 1],
 * in nats per image (bits per dimension: *nll / (H W C ln 2)). The Bernoulli
 * head scores each value v as a Bernoulli target (binary cross-entropy, exact
 * for v in {0, 1}), the softmax256 head as the class round(255 v). */
pixelcnn_status_t pixelcnn_nll(pixelcnn_t *m, double *nll, const float *images, int n,
                               char err[PIXELCNN_ERR_LEN]);

/* One Nadam step on the batch images (n, H, W, C) in [0, 1], the objective
 * being the mean NLL per image; *nll (may be NULL) = that mean, in nats per
 * image, before the step. PIXELCNN_EDIVERGED if it is not finite: the step
 * has been taken and the weights are not usable any more (reload a
 * checkpoint). */
pixelcnn_status_t pixelcnn_train_step(pixelcnn_t *m, double *nll, const float *images, int n,
                                      char err[PIXELCNN_ERR_LEN]);

typedef enum {
  PIXELCNN_SAMPLER_CACHED = 0, /* exact incremental sampling: about one forward pass per image */
  PIXELCNN_SAMPLER_NAIVE = 1   /* one full forward pass per position and colour (H*W*C of them) */
} pixelcnn_sampler_t;

/* Draws n images into images (n, H, W, C), caller-owned. Rows y < prime_rows
 * (0..H) are kept as given (image completion; their values must be in
 * [0, 1]), the rest are overwritten: positions in raster order, colours R,
 * G, B, one draw per image from one generator seeded with seed; the
 * Bernoulli head draws {0, 1}, the softmax256 head j / 255. temperature
 * (1e-6..1000) divides the logits. Both samplers draw the same images for
 * the same seed (up to float rounding flipping a near-tie draw). On failure
 * the rows >= prime_rows hold no samples. */
pixelcnn_status_t pixelcnn_sample(pixelcnn_t *m, float *images, int n, int prime_rows,
                                  float temperature, uint64_t seed, pixelcnn_sampler_t sampler,
                                  char err[PIXELCNN_ERR_LEN]);

/* Runs the conv layers on the kernel levels of a plan file written by
 * `pixelcnn tune` (without one every layer runs the process-wide level). The
 * file is checked line by line; a plan naming a level this CPU cannot run is
 * refused (PIXELCNN_EFILE) and the model keeps its plan. */
pixelcnn_status_t pixelcnn_use_plan(pixelcnn_t *m, const char *path, char err[PIXELCNN_ERR_LEN]);

/* The arithmetic of the convolutions: "fp32" (every model starts so), or
 * "bf16": both operands of each product rounded to bf16, products added in
 * fp32; weights, optimizer state, checkpoints and everything outside the
 * convolutions stay fp32 (README: Precision). Sets the default plan of that
 * precision (a plan from pixelcnn_use_plan is replaced). PIXELCNN_EINVAL for
 * another string, or for "bf16" on a CPU without a bf16 kernel level
 * (AVX512_BF16); the model then keeps its plan. */
pixelcnn_status_t pixelcnn_set_precision(pixelcnn_t *m, const char *precision, char err[PIXELCNN_ERR_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* PIXELCNN_H */
