/* arch_pixelcnn.c: the seed PixelCNN (model.h) as a layer graph.
 *
 *   in:        x0 = conv7x7A(image);  a1.0 = PReLU(x0, blocks.0.prelu1)
 *   block d:   a2.d = PReLU(conv1x1B(a1.d))                      (fused 1x1)
 *              a3.d = PReLU(conv3x3B(a2.d))
 *              x.d+1 = x.d + conv1x1B(a3.d);  a1.d+1 = PReLU(x.d+1, blocks.d+1.prelu1)
 *   the last layer of the stream (in, or block D-1's conv3) ends with out_prelu
 *   instead: af = PReLU(x.D, out_prelu)
 *   out.i:     o.i = PReLU(conv1x1B(...))                        (fused 1x1)
 *   head:      logits = conv1x1B(o.1)
 *
 * Tensors are appended in the checkpoint's order (in, blocks.d.{prelu1,
 * conv1, conv2, conv3}, out_prelu, out.0, out.1, head), and the layers in
 * forward order, which is also the order init draws their weights in. */
#include <stdio.h>

#include "model.h"

/* the epilogue PReLU of layer l: out = PReLU(pre, alpha) */
static void epilogue(pcnn_layer_t *l, pcnn_op_t op, size_t alpha, int out) {
  l->op = op;
  l->alpha = alpha;
  l->out = out;
}

int pcnn_arch_pixelcnn(pcnn_model_t *m) {
  const int F = m->cfg.filters, H = F / 2, C = m->cfg.channels, D = m->cfg.depth;
  char nm[48];
  int x = pcnn_graph_slot(m, "x.0", F);
  pcnn_layer_t *in = pcnn_graph_conv(m, "in", PCNN_ROLE_IN, C, F, 7, PCNN_MASK_A, PCNN_SLOT_IMAGE, x);
  if (!in) return -1;
  const int in_index = m->nlayers - 1;
  /* the layer that wrote the stream x: its epilogue is the next PReLU of x */
  int last = in_index;
  for (int d = 0; d < D; d++) {
    snprintf(nm, sizeof nm, "blocks.%d.prelu1", d);
    const size_t prelu1 = pcnn_graph_tensor(m, nm, 1, F, 0, 0, 0);
    snprintf(nm, sizeof nm, "a1.%d", d);
    const int a1 = pcnn_graph_slot(m, nm, F);
    if (a1 < 0) return -1;
    epilogue(&m->layers[last], PCNN_OP_conv_prelu_fwd, prelu1, a1);

    int pre2, a2, pre3, a3, xn;
    snprintf(nm, sizeof nm, "pre2.%d", d), pre2 = pcnn_graph_slot(m, nm, H);
    snprintf(nm, sizeof nm, "a2.%d", d), a2 = pcnn_graph_slot(m, nm, H);
    snprintf(nm, sizeof nm, "pre3.%d", d), pre3 = pcnn_graph_slot(m, nm, H);
    snprintf(nm, sizeof nm, "a3.%d", d), a3 = pcnn_graph_slot(m, nm, H);
    snprintf(nm, sizeof nm, "x.%d", d + 1), xn = pcnn_graph_slot(m, nm, F);
    if (pre2 < 0 || a2 < 0 || pre3 < 0 || a3 < 0 || xn < 0) return -1;

    pcnn_layer_t *l;
    snprintf(nm, sizeof nm, "blocks.%d.conv1", d);
    if (!(l = pcnn_graph_conv(m, nm, PCNN_ROLE_CONV1, F, H, 1, PCNN_MASK_B, a1, pre2))) return -1;
    snprintf(nm, sizeof nm, "blocks.%d.conv1.prelu", d);
    epilogue(l, PCNN_OP_conv1x1_prelu_fwd, pcnn_graph_tensor(m, nm, 1, H, 0, 0, 0), a2);

    snprintf(nm, sizeof nm, "blocks.%d.conv2", d);
    if (!(l = pcnn_graph_conv(m, nm, PCNN_ROLE_CONV2, H, H, 3, PCNN_MASK_B, a2, pre3))) return -1;
    snprintf(nm, sizeof nm, "blocks.%d.conv2.prelu", d);
    epilogue(l, PCNN_OP_conv_prelu_fwd, pcnn_graph_tensor(m, nm, 1, H, 0, 0, 0), a3);

    snprintf(nm, sizeof nm, "blocks.%d.conv3", d);
    if (!(l = pcnn_graph_conv(m, nm, PCNN_ROLE_CONV3, H, F, 1, PCNN_MASK_B, a3, xn))) return -1;
    l->res = x; /* x.d+1 = x.d + conv3(a3.d) */
    last = m->nlayers - 1;
    x = xn;
  }
  const size_t out_prelu = pcnn_graph_tensor(m, "out_prelu", 1, F, 0, 0, 0);
  int h = pcnn_graph_slot(m, "af", F);
  if (h < 0) return -1;
  epilogue(&m->layers[last], PCNN_OP_conv_prelu_fwd, out_prelu, h);
  for (int i = 0; i < 2; i++) {
    char sp[16], so[16];
    snprintf(sp, sizeof sp, "pre_o.%d", i);
    snprintf(so, sizeof so, "o.%d", i);
    const int pre = pcnn_graph_slot(m, sp, F), o = pcnn_graph_slot(m, so, F);
    snprintf(nm, sizeof nm, "out.%d", i);
    pcnn_layer_t *l = pre < 0 || o < 0 ? NULL : pcnn_graph_conv(m, nm, PCNN_ROLE_OUT, F, F, 1, PCNN_MASK_B, h, pre);
    if (!l) return -1;
    snprintf(nm, sizeof nm, "out.%d.prelu", i);
    epilogue(l, PCNN_OP_conv1x1_prelu_fwd, pcnn_graph_tensor(m, nm, 1, F, 0, 0, 0), o);
    h = o;
  }
  const int L = C * m->k_out, logits = pcnn_graph_slot(m, "logits", L);
  if (logits < 0) return -1;
  if (!pcnn_graph_conv(m, "head", PCNN_ROLE_HEAD, F, L, 1, PCNN_MASK_B, h, logits)) return -1;
  return 0;
}
