/* embed.c: the pixelcnn library from a program. Creates a small model (or
 * loads CKPT if it exists), scores a batch of striped images, trains on it,
 * draws one image and saves the model (with its optimizer) to CKPT.
 *   cc examples/embed.c $(pkg-config --cflags --libs pixelcnn) -o embed
 *   ./embed [CKPT]
 */
#include <pixelcnn.h>
#include <stdio.h>
#include <stdlib.h>

enum { N = 8, STEPS = 40 };

int main(int argc, char **argv) {
  char err[PIXELCNN_ERR_LEN];
  const char *ckpt = argc > 1 ? argv[1] : NULL;
  pixelcnn_t *m = NULL;
  pixelcnn_status_t s;
  FILE *f = ckpt ? fopen(ckpt, "rb") : NULL;
  if (f) {
    fclose(f);
    s = pixelcnn_load(&m, ckpt, err);
  } else {
    pixelcnn_config_t cfg = pixelcnn_config_default(); /* grayscale, Bernoulli head */
    cfg.filters = 16, cfg.depth = 1, cfg.height = cfg.width = 12;
    s = pixelcnn_create(&m, &cfg, 42, err);
  }
  if (s) return fprintf(stderr, "embed: %s\n", err), 1;
  const pixelcnn_config_t c = pixelcnn_get_config(m);
  const int H = c.height, W = c.width, C = c.channels;
  printf("pixelcnn %s: %s model, %zu parameters, %dx%dx%d\n", pixelcnn_version(),
         f ? "loaded" : "new", pixelcnn_num_params(m), H, W, C);

  /* N binary images: horizontal stripes two rows high, image i shifted by i rows */
  float *img = malloc(sizeof(float) * N * H * W * C), *smp = malloc(sizeof(float) * H * W * C);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < H * W * C; j++) img[i * H * W * C + j] = (float)((j / (W * C) + i) / 2 % 2);

  double nll = 0;
  if ((s = pixelcnn_nll(m, &nll, img, N, err))) goto fail;
  printf("nll before: %.2f nats/image\n", nll);
  for (int t = 0; t < STEPS; t++)
    if ((s = pixelcnn_train_step(m, NULL, img, N, err))) goto fail;
  if ((s = pixelcnn_nll(m, &nll, img, N, err))) goto fail;
  printf("nll after %d steps: %.2f nats/image\n", STEPS, nll);

  if ((s = pixelcnn_sample(m, smp, 1, 0, 1.0f, 7, PIXELCNN_SAMPLER_CACHED, err))) goto fail;
  for (int y = 0; y < H; y++, putchar('\n'))
    for (int x = 0; x < W; x++) putchar(smp[(y * W + x) * C] > 0.5f ? '#' : '.');

  if (ckpt && (s = pixelcnn_save(m, ckpt, 1, err))) goto fail;
  if (ckpt) printf("saved %s\n", ckpt);
fail:
  if (s) fprintf(stderr, "embed: %s (%s)\n", err, pixelcnn_status_str(s));
  free(img);
  free(smp);
  pixelcnn_free(m);
  return s ? 1 : 0;
}
