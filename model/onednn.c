/* onednn.c: see onednn.h. One engine and stream per process; primitives are
 * made per call (this is for checking, not for speed). */
#include "onednn.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <string.h>

#define CK(call)                                                                       \
  do {                                                                                 \
    dnnl_status_t s_ = (call);                                                         \
    if (s_ != dnnl_success) {                                                          \
      rc = pcnn_errf(err, "oneDNN: %s failed (status %d)", #call, (int)s_);            \
      goto out;                                                                        \
    }                                                                                  \
  } while (0)

int pcnn_dnnl_conv(int dir, const pcnn_conv_t *c, float *a, const float *b, const float *w,
                   float *bias, char impl[64], char err[PCNN_ERR_LEN]) {
  static dnnl_engine_t eng;
  static dnnl_stream_t strm;
  int rc = 0;
  dnnl_primitive_desc_t fpd = NULL, pd = NULL;
  dnnl_primitive_t prim = NULL;
  dnnl_memory_t mem[4] = {0};
  if (!eng) {
    CK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
  }
  dnnl_memory_desc_t src, wei, bia, dst;
  const dnnl_dims_t ds = {c->n, c->cin, c->h, c->w}, dd = {c->n, c->cout, c->h, c->w},
                    dw = {c->cout, c->cin, c->k, c->k}, db = {c->cout};
  CK(dnnl_memory_desc_init_by_tag(&src, 4, ds, dnnl_f32, dnnl_nhwc));
  CK(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_nhwc));
  CK(dnnl_memory_desc_init_by_tag(&wei, 4, dw, dnnl_f32, dnnl_hwio));
  CK(dnnl_memory_desc_init_by_tag(&bia, 1, db, dnnl_f32, dnnl_x));
  const dnnl_dims_t strides = {1, 1}, pad = {c->k / 2, c->k / 2};
  dnnl_convolution_desc_t fd, d;
  CK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &src,
                                        &wei, &bia, &dst, strides, pad, pad));
  CK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
  dnnl_exec_arg_t args[4];
  int nargs;
  if (dir == PCNN_DNNL_FWD) {
    pd = fpd, fpd = NULL;
    CK(dnnl_memory_create(&mem[0], &dst, eng, a));
    CK(dnnl_memory_create(&mem[1], &src, eng, (void *)b));
    CK(dnnl_memory_create(&mem[2], &wei, eng, (void *)w));
    CK(dnnl_memory_create(&mem[3], &bia, eng, bias));
    const int ids[4] = {DNNL_ARG_DST, DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS};
    for (int i = 0; i < 4; i++) args[i].arg = ids[i], args[i].memory = mem[i];
    nargs = 4;
  } else if (dir == PCNN_DNNL_BWD_DATA) {
    CK(dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &src, &wei, &dst,
                                                strides, pad, pad));
    CK(dnnl_primitive_desc_create(&pd, &d, NULL, eng, fpd));
    CK(dnnl_memory_create(&mem[0], &src, eng, a));
    CK(dnnl_memory_create(&mem[1], &dst, eng, (void *)b));
    CK(dnnl_memory_create(&mem[2], &wei, eng, (void *)w));
    const int ids[3] = {DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS};
    for (int i = 0; i < 3; i++) args[i].arg = ids[i], args[i].memory = mem[i];
    nargs = 3;
  } else {
    CK(dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &src, &wei, &bia,
                                                   &dst, strides, pad, pad));
    CK(dnnl_primitive_desc_create(&pd, &d, NULL, eng, fpd));
    CK(dnnl_memory_create(&mem[0], &wei, eng, a));
    CK(dnnl_memory_create(&mem[1], &bia, eng, bias));
    CK(dnnl_memory_create(&mem[2], &dst, eng, (void *)b));
    CK(dnnl_memory_create(&mem[3], &src, eng, (void *)w));
    const int ids[4] = {DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS, DNNL_ARG_DIFF_DST, DNNL_ARG_SRC};
    for (int i = 0; i < 4; i++) args[i].arg = ids[i], args[i].memory = mem[i];
    nargs = 4;
  }
  const char *name = NULL;
  CK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name));
  snprintf(impl, 64, "%s", name ? name : "?");
  CK(dnnl_primitive_create(&prim, pd));
  CK(dnnl_primitive_execute(prim, strm, nargs, args));
  CK(dnnl_stream_wait(strm));
out:
  if (prim) dnnl_primitive_destroy(prim);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (fpd) dnnl_primitive_desc_destroy(fpd);
  for (int i = 0; i < 4; i++)
    if (mem[i]) dnnl_memory_destroy(mem[i]);
  return rc;
}
