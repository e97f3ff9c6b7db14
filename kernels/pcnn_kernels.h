/* pcnn_kernels.h: the kernel contract and the kernel table.
 *
 * Conventions (every kernel, reference or SIMD):
 *   - float32 everywhere; activations are NHWC: (N, H, W, C), channel fastest.
 *   - conv weights are [kh][kw][cin][cout] (HWIO), cout fastest; bias is (cout).
 *   - buffers are owned by the caller; kernels do not allocate per call (a
 *     kernel may keep a per-thread scratch buffer that grows once and is
 *     reused, e.g. conv bwd_data's transposed weights; it says so in its file).
 *   - outputs first, then inputs, then the descriptor.
 *   - forward overwrites its outputs; backward ACCUMULATES (+=) into every
 *     gradient it produces (data, weights, bias, slope): the caller zeroes
 *     gradients once per step (llm.c style), and a residual branch can add
 *     its data gradient into the same buffer.
 *   - results are bitwise the same at any thread count: a kernel splits its
 *     work into items fixed by the shape (and the ISA), never by the number
 *     of threads; an output has one writer, or is a sum over fixed pixel
 *     partitions added in a fixed order (PW_PAR_ITEMS, pw_simd.h). Each
 *     kernel's file states its split (README.md, "How the work splits over
 *     threads"; tests/test_determinism.cc).
 *
 * The PixelCNN mask (pcnn_mask_keep): a k x k filter (k odd, centre r = k/2)
 * keeps every tap in the rows above the centre and the taps left of the centre
 * in the centre row; rows below and taps right of the centre are zero. At the
 * centre tap the channels are split into G contiguous colour groups (G = 1
 * grayscale, 3 RGB; group g of C channels is [g*C/G, (g+1)*C/G)): input group
 * gi feeds output group go only if gi < go (type A) or gi <= go (type B).
 * With G = 1, type A drops the centre and type B keeps it. A masked 1x1 is k=1.
 * Masked taps are never read by a kernel and their weight gradient stays 0.
 */
#ifndef PCNN_KERNELS_H
#define PCNN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { PCNN_MASK_A = 0, PCNN_MASK_B = 1 };
/* pcnn_conv_t.flags. PCNN_CONV_OVERWRITE: the data-gradient kernels
 * (conv_bwd_data, conv1x1_prelu_bwd_data) write din = ... instead of
 * din += ..., with the same bits as zeroing din and accumulating (every
 * sum starts from +0); din's old contents are not read. The backward uses it
 * for a gradient buffer's first writer instead of a separate zeroing pass.
 * PCNN_CONV_STREAM_PRE: a hint to the forwards with a PReLU epilogue
 * (conv_prelu_fwd, conv1x1_prelu_fwd) that nothing reads pre soon (the
 * training forward's kept pre, read back by the backward): they may store
 * it with non-temporal stores, past the caches (no read-for-ownership, and
 * the caches keep what the next layer reads); the values are the same.
 * Every other kernel ignores flags. */
enum { PCNN_CONV_OVERWRITE = 1, PCNN_CONV_STREAM_PRE = 2 };

/* One masked convolution: stride 1, 'same' zero padding, bias. */
typedef struct {
  int n, h, w;    /* batch, rows, columns */
  int cin, cout;  /* input and output channels */
  int k;          /* odd kernel size: 1, 3, 5, 7, ... */
  int mask;       /* PCNN_MASK_A or PCNN_MASK_B */
  int groups;     /* colour groups: 1 (grayscale) or 3 (RGB) */
  unsigned flags; /* PCNN_CONV_OVERWRITE, PCNN_CONV_STREAM_PRE, or 0 */
} pcnn_conv_t;

/* ---- mask helpers (reference/mask.c) ---- */
/* first channel of colour group g (g may equal groups: returns c) */
int pcnn_group_begin(int g, int c, int groups);
/* colour group of channel i of c */
int pcnn_group_of(int i, int c, int groups);
/* 1 if tap (ky, kx) connects input channel ci to output channel co */
int pcnn_mask_keep(const pcnn_conv_t *c, int ky, int kx, int ci, int co);
/* The kept output channels of tap (ky, kx), input channel ci, are exactly
 * [pcnn_mask_co_begin(...), cout): cout if none, 0 if all. */
int pcnn_mask_co_begin(const pcnn_conv_t *c, int ky, int kx, int ci);
/* PCNN_CONV_OVERWRITE for a data-gradient path that accumulates: zeroes din
 * (N,H,W,cin) if c asks to overwrite it; returns c without the flag (then
 * accumulating gives the same bits) */
pcnn_conv_t pcnn_conv_zero_din(float *din, const pcnn_conv_t *c);
/* at least PCNN_ZEROS zero floats, 64-byte aligned: a zero bias for the
 * paths that start their sums from a bias */
enum { PCNN_ZEROS = 4096 };
extern const float pcnn_zeros[PCNN_ZEROS];
/* dense 0/1 mask, [k][k][cin][cout] like the weights */
void pcnn_mask_fill(float *mask, const pcnn_conv_t *c);
/* multiply-adds the mask keeps, and the dense count, for one forward */
double pcnn_conv_useful_macs(const pcnn_conv_t *c);
double pcnn_conv_dense_macs(const pcnn_conv_t *c);
/* 0 if the descriptor is valid, else a static message */
const char *pcnn_conv_check(const pcnn_conv_t *c);

/* ---- Nadam (torch.optim.NAdam, momentum_decay schedule) ---- */
typedef struct {
  double lr, beta1, beta2, eps, momentum_decay;
} pcnn_nadam_hparams_t;
typedef struct {
  long step;          /* steps taken so far */
  double mu_product;  /* prod of mu_t over steps taken; 1 at start */
} pcnn_nadam_state_t;
/* per-step scalars, computed in double by pcnn_nadam_begin_step */
typedef struct {
  float beta1, beta2, eps;
  float omb1, omb2; /* 1 - beta1, 1 - beta2, rounded from double (1 - 0.999f is 1.3e-5 off) */
  float bc2;     /* 1 - beta2^t */
  float c_grad;  /* -lr (1 - mu_t) / (1 - mu_product_t) */
  float c_mom;   /* -lr mu_{t+1} / (1 - mu_product_t mu_{t+1}) */
} pcnn_nadam_coef_t;
pcnn_nadam_hparams_t pcnn_nadam_defaults(void);
/* advances state (step, mu_product) and returns this step's scalars */
pcnn_nadam_coef_t pcnn_nadam_begin_step(pcnn_nadam_state_t *st, const pcnn_nadam_hparams_t *hp);

/* ---- kernel signatures: one typedef per operation and direction ---- */

/* out = masked_conv(in, w) + b
 * out (N,H,W,cout); in (N,H,W,cin); w [k][k][cin][cout]; b (cout) */
typedef void pcnn_conv_fwd_fn(float *out, const float *in, const float *w, const float *b,
                              const pcnn_conv_t *c);
/* din += masked_conv^T(dout, w) (= with PCNN_CONV_OVERWRITE);  din (N,H,W,cin); dout (N,H,W,cout) */
typedef void pcnn_conv_bwd_data_fn(float *din, const float *dout, const float *w,
                                   const pcnn_conv_t *c);
/* dw += in (x) dout at kept taps; db += sum dout.  dw [k][k][cin][cout]; db (cout) */
typedef void pcnn_conv_bwd_weights_fn(float *dw, float *db, const float *dout, const float *in,
                                      const pcnn_conv_t *c);

/* out = prelu(x) = x > 0 ? x : alpha[ch] * x;  out, x (P, C); alpha (C) */
typedef void pcnn_prelu_fwd_fn(float *out, const float *x, const float *alpha, size_t p, int ch);
/* dx += dout * (x > 0 ? 1 : alpha);  dalpha += sum dout * x * (x <= 0) */
typedef void pcnn_prelu_bwd_fn(float *dx, float *dalpha, const float *dout, const float *x,
                               const float *alpha, size_t p, int ch);

/* masked 1x1 conv then PReLU (c->k must be 1):
 * pre = conv1x1(in, w) + b; out = prelu(pre, alpha)
 * pre, out (N,H,W,cout); in (N,H,W,cin); w [cin][cout]; b, alpha (cout) */
typedef void pcnn_conv1x1_prelu_fwd_fn(float *pre, float *out, const float *in, const float *w,
                                       const float *b, const float *alpha, const pcnn_conv_t *c);
/* din += conv1x1^T(dout * prelu'(pre), w) (= with PCNN_CONV_OVERWRITE) */
typedef void pcnn_conv1x1_prelu_bwd_data_fn(float *din, const float *dout, const float *pre,
                                            const float *w, const float *alpha,
                                            const pcnn_conv_t *c);
/* with dpre = dout * prelu'(pre): dw += in (x) dpre; db += sum dpre;
 * dalpha += sum dout * pre * (pre <= 0) */
typedef void pcnn_conv1x1_prelu_bwd_weights_fn(float *dw, float *db, float *dalpha,
                                               const float *dout, const float *pre,
                                               const float *in, const float *alpha,
                                               const pcnn_conv_t *c);

/* masked k x k conv with the residual add and the PReLU in its epilogue (the
 * model's forward: 3x3 -> PReLU, and 1x1 + skip -> next block's PReLU):
 * pre = masked_conv(in, w) + b (+ res if res != NULL); out = prelu(pre, alpha)
 * pre, out (N,H,W,cout); res (N,H,W,cout) or NULL; in (N,H,W,cin); alpha (cout).
 * The backward is that of conv_fwd, add and prelu on the saved pre / out. */
typedef void pcnn_conv_prelu_fwd_fn(float *pre, float *out, const float *in, const float *w,
                                    const float *b, const float *res, const float *alpha,
                                    const pcnn_conv_t *c);

/* residual add: out = a + b (n floats); out may alias a or b */
typedef void pcnn_add_fwd_fn(float *out, const float *a, const float *b, size_t n);
/* da += dout; db += dout */
typedef void pcnn_add_bwd_fn(float *da, float *db, const float *dout, size_t n);

/* Bernoulli head: logits x (P, C), targets t (P, C) in [0, 1].
 * Returns sum over all P*C of BCE(sigmoid(x), t) in nats (stable form
 * max(x,0) - t x + log1p(exp(-|x|))); writes dx = scale * (sigmoid(x) - t). */
typedef double pcnn_bernoulli_loss_fn(float *dx, const float *x, const float *t, size_t p, int ch,
                                      float scale);
/* 256-way categorical head: logits x (P, C*256), channel c's logits at
 * x[c*256 .. c*256+255]; targets t (P, C) in [0, 1], the class is
 * round(t * 255). Returns the summed NLL (logsumexp - x[class]) in nats;
 * writes dx = scale * (softmax(x) - onehot). */
typedef double pcnn_softmax256_loss_fn(float *dx, const float *x, const float *t, size_t p,
                                       int ch, float scale);

/* Nadam update of n parameters with this step's scalars:
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; d = sqrt(v / bc2) + eps;
 * p += c_grad g / d + c_mom m / d */
typedef void pcnn_nadam_update_fn(float *param, float *m, float *v, const float *grad, size_t n,
                                  const pcnn_nadam_coef_t *k);

/* gemm_acc's epilogue, applied to each c[i][j] (i < m, j < n) as its tile
 * is stored, so the sampler's bias, residual add and PReLU cost no pass of
 * their own. Every pointer may be NULL (that step is skipped); pointers are
 * to column 0 of the call's block:
 *   bias:  c[i][j] = bias[j] + sum_p ... (c is not read; without it c += sum)
 *   res:   after the sum, c[i][j] += res[i*ldr + j]
 *   out:   then out[i*ldo + j] = c[i][j] > 0 ? c[i][j] : alpha[j] c[i][j]
 *   out16: (with out) then out16[i*ldo16 + j] = bf16 bits of out[i*ldo + j]
 *          (round to nearest even, pcnn_f32_to_bf16): the caching sampler
 *          keeps the input of a k x k layer in bf16 too, so that it is
 *          converted once, not by every call that reads it (gemm_acc_a16)
 * In this order, so the operations per element are those of the model's
 * forward epilogue (bias first, the products in order of p, + res, PReLU).
 * Zero-initialise it: the fields may grow. */
typedef struct {
  const float *bias;
  const float *res;
  int ldr;
  float *out;
  int ldo;
  const float *alpha;
  uint16_t *out16;
  int ldo16;
} pcnn_gemm_epi_t;

/* small accumulating GEMM (the caching sampler's per-position layer step):
 * c[i][j] += sum_p a[i][p] b[p][j], i < m, j < n, p < k, then the epilogue
 * epi (NULL: none); a and c row-major floats with leading dimensions lda,
 * ldc; b (the layer's weights, constant while the sampler runs) in the
 * packed form of the row's precision (pcnn_gemm_pack_b, below: row-major
 * floats at FP32, bf16 pair words at bf16), leading dimension ldb in its
 * 4-byte elements; c and out must not overlap a, b, res or each other.
 * Reads b in columns [0, n) only; writes c and out in columns [0, n) of rows
 * [0, m) only. */
typedef void pcnn_gemm_acc_fn(float *c, const float *a, const void *b, int m, int n, int k,
                              int lda, int ldb, int ldc, const pcnn_gemm_epi_t *epi);
/* gemm_acc in bf16 with a given as bf16 bits already (uint16, row-major,
 * lda even): the same result as the bf16 gemm_acc on the floats those bits
 * stand for (pcnn_bf16_to_f32), bit for bit. The bf16 gemm_acc rows' twins
 * (pcnn_gemm_a16_of); a must start on an even element (a pair). */
typedef void pcnn_gemm_acc_a16_fn(float *c, const uint16_t *a, const void *b, int m, int n, int k,
                                  int lda, int ldb, int ldc, const pcnn_gemm_epi_t *epi);
/* the a16 twin of a bf16 gemm_acc row (kernel_list.h, PCNN_GEMM_A16), or
 * NULL (an FP32 row, or a level without one) */
pcnn_gemm_acc_a16_fn *pcnn_gemm_a16_of(pcnn_gemm_acc_fn *gemm);
/* epi->out16 from epi->out for rows [0, m) and columns [0, n), in plain C
 * (the reference's and the FP32 levels' way; nothing if either is NULL) */
void pcnn_gemm_out16(const pcnn_gemm_epi_t *epi, int m, int n);

/* ---- instruction sets ---- */
/* Kernel levels, slowest first. ref, avx2 and avx512 have FP32 kernels;
 * avx512bf16 (AVX-512 with AVX512_BF16: VDPBF16PS, VCVTNE2PS2BF16) has bf16
 * kernels only (an FP32 table at that level takes the avx512 rows). */
typedef enum {
  PCNN_ISA_REF = 0,
  PCNN_ISA_AVX2 = 1,
  PCNN_ISA_AVX512 = 2,
  PCNN_ISA_AVX512BF16 = 3,
  PCNN_ISA_COUNT
} pcnn_isa_t;
/* the FP32 levels are [0, PCNN_ISA_FP32_COUNT) */
#define PCNN_ISA_FP32_COUNT 3
const char *pcnn_isa_name(pcnn_isa_t isa);
/* -1 if unknown; accepts "ref", "avx2", "avx512", "avx512bf16" */
int pcnn_isa_parse(const char *s);
/* 1 if this CPU and OS run code of that ISA (CPUID + XCR0 via __builtin_cpu_supports) */
int pcnn_isa_supported(pcnn_isa_t isa);

/* ---- precision ----
 * fp32: every kernel in float32. bf16 (mixed): the ops pcnn_op_has_bf16
 * lists (the convolutions and the sampler's GEMM) round both operands of
 * every product to bf16 (round to nearest even, pcnn_bf16.h) and add the
 * products in fp32; their inputs and outputs stay float arrays, so a bf16
 * kernel has its FP32 twin's signature and contract (gemm_acc's b, constant
 * weights, comes packed in the row's precision: pcnn_gemm_pack_b). The rest (bias, PReLU,
 * residual adds, bias and slope gradients, the loss heads, Nadam) is FP32.
 * The bf16 reference of op is pcnn_<op>__ref_bf16: the FP32 reference with
 * the operands of its products rounded, so a SIMD bf16 kernel differs from
 * it only in the order of its fp32 additions. */
typedef enum { PCNN_PREC_FP32 = 0, PCNN_PREC_BF16 = 1, PCNN_PREC_COUNT } pcnn_prec_t;
const char *pcnn_prec_name(pcnn_prec_t p);
/* -1 if unknown; accepts "fp32", "bf16" */
int pcnn_prec_parse(const char *s);
/* 1 if op has a bf16 form (rows in the bf16 list) */
int pcnn_op_has_bf16(int op);
/* The bf16 level a model of cap `isa` runs: ref if isa is ref, else the best
 * bf16 level this CPU supports (ref if none). */
pcnn_isa_t pcnn_bf16_level(pcnn_isa_t isa);

/* gemm_acc's packed b (kernels/gemm_pack.c), per precision, for b (k, n)
 * row-major floats with leading dimension ldb:
 *   FP32: the same floats, (k, ldp);
 *   bf16: pair words, (ceil(k/2), ldp) uint32: word [q][j] = bf(b[2q][j]) |
 *         bf(b[2q+1][j]) << 16 (round to nearest even, pcnn_bf16.h; the even
 *         row in the low half, the pairing VDPBF16PS multiplies), b[k][j] = 0
 *         when k is odd.
 * So the weights are converted once, not on every call. A block of the packed
 * matrix is rows [0, k') (k' <= k, odd allowed: gemm_acc ignores the high
 * half of the last pair then) and columns [j0, j0 + n'): pass (elements)
 * bp + j0, ldp and k'. pcnn_gemm_packed_len: the 4-byte elements of bp. */
size_t pcnn_gemm_packed_len(pcnn_prec_t prec, int k, int ldp);
void pcnn_gemm_pack_b(pcnn_prec_t prec, void *bp, int ldp, const float *b, int k, int n, int ldb);

/* ---- the kernel table: one slot per operation and direction ---- */
#define PCNN_OPS(X)                                                                           \
  X(conv_fwd) X(conv_bwd_data) X(conv_bwd_weights) X(prelu_fwd) X(prelu_bwd)                  \
  X(conv1x1_prelu_fwd) X(conv1x1_prelu_bwd_data) X(conv1x1_prelu_bwd_weights) X(add_fwd)      \
  X(add_bwd) X(bernoulli_loss) X(softmax256_loss) X(nadam_update) X(gemm_acc)                 \
  X(conv_prelu_fwd)

/* the op index, in PCNN_OPS order: PCNN_OP_conv_fwd, ...; every per-op
 * table is sized by PCNN_OP_COUNT */
typedef enum {
#define PCNN_ENUM(op) PCNN_OP_##op,
  PCNN_OPS(PCNN_ENUM)
#undef PCNN_ENUM
  PCNN_OP_COUNT
} pcnn_op_t;

typedef struct {
#define PCNN_SLOT(op) pcnn_##op##_fn *op;
  PCNN_OPS(PCNN_SLOT)
#undef PCNN_SLOT
  /* ISA each slot came from, indexed by pcnn_op_t */
  pcnn_isa_t isa_of[PCNN_OP_COUNT];
  /* precision of each slot (bf16 only for the ops pcnn_op_has_bf16 lists) */
  pcnn_prec_t prec_of[PCNN_OP_COUNT];
} pcnn_kernels_t;

/* A kernel's shape limit: 1 if the kernel runs the shape c in its own SIMD
 * code, 0 if it hands c to its reference twin (c must pass pcnn_conv_check). */
typedef int pcnn_supports_fn(const pcnn_conv_t *c);

/* One row per implemented kernel: (isa, op, function) for FP32 and
 * PCNN_KERNEL_BF16 (isa, op, function) for bf16, and one per kernel with a
 * shape limit: (isa, op, predicate). kernels/kernel_list.h is the single
 * list; it drives these declarations, the dispatch, the tests and the
 * benchmarks. */
#define PCNN_KERNEL(isa, op, fn) pcnn_##op##_fn fn;
#define PCNN_KERNEL_BF16(isa, op, fn) pcnn_##op##_fn fn;
#define PCNN_SUPPORTS(isa, op, fn) pcnn_supports_fn fn;
#define PCNN_GEMM_A16(gemm, fn) pcnn_gemm_acc_a16_fn fn;
#include "kernel_list.h"
#undef PCNN_KERNEL
#undef PCNN_KERNEL_BF16
#undef PCNN_SUPPORTS
#undef PCNN_GEMM_A16

typedef struct {
  pcnn_isa_t isa;
  int op; /* pcnn_op_t */
  const char *op_name;
  const char *fn_name;
  void (*fn)(void);
  pcnn_prec_t prec;
} pcnn_kernel_row_t;
/* the FP32 rows, then (a second array) the bf16 rows */
extern const pcnn_kernel_row_t pcnn_kernel_rows[];
extern const int pcnn_kernel_row_count;
extern const pcnn_kernel_row_t pcnn_kernel_rows_bf16[];
extern const int pcnn_kernel_row_count_bf16;
const char *pcnn_op_name(int op);
int pcnn_op_count(void);

/* Does the kernel of op for ISA isa hand the shape c to the reference?
 *   1  it falls back: for this shape it runs pcnn_<op>__ref (same result,
 *      reference speed);
 *   0  it runs c in its own code (always, for the reference rows and the
 *      kernels with no shape limit in kernel_list.h);
 *  -1  no kernel of op for isa in the list, this CPU cannot run isa (the
 *      predicate is compiled for that ISA), or c fails pcnn_conv_check.
 * The answer is the predicate the kernel itself tests first (PCNN_SUPPORTS
 * rows), so it cannot drift from what the kernel does. Shapes that fall
 * back (README.md, "Shape limits"): conv_fwd, conv_prelu_fwd,
 * conv_bwd_data, conv_bwd_weights with k >= 17 (more than 128 kept taps);
 * conv1x1_prelu_fwd with cin > 1022 (AVX-512) or > 4094 (AVX2);
 * conv1x1_prelu_bwd_data when cout x cin' + cout' exceeds 65,536 floats
 * (' : rounded up to a whole vector; e.g. 256 -> 256);
 * conv1x1_prelu_bwd_weights with cout > 4096. Not predicted: a kernel
 * whose grow-once scratch cannot be allocated (conv_bwd_data, the
 * first-layer conv_bwd_weights, conv1x1_prelu_bwd_weights) also runs the
 * reference. The element-wise ops, losses, Nadam and gemm_acc take other
 * sizes and have no limit (0).
 * For a kernel table t: pcnn_kernel_falls_back(op, t->isa_of[op], c). */
int pcnn_kernel_falls_back(pcnn_op_t op, pcnn_isa_t isa, const pcnn_conv_t *c);

/* Table with every slot filled from the reference, then overridden by the
 * fastest listed kernel whose ISA is <= max_isa and supported here. */
void pcnn_kernels_fill(pcnn_kernels_t *t, pcnn_isa_t max_isa);
/* Sets only op's slot of t, as pcnn_kernels_fill would at max_isa (a model
 * takes its element-wise ops at their own plan level this way). */
void pcnn_kernels_fill_op(pcnn_kernels_t *t, pcnn_op_t op, pcnn_isa_t max_isa);
/* As pcnn_kernels_fill, then for prec == bf16 the ops with a bf16 form are
 * overridden by the bf16 reference, then by the fastest bf16 row whose ISA
 * is <= max_isa and supported here. */
void pcnn_kernels_fill_prec(pcnn_kernels_t *t, pcnn_isa_t max_isa, pcnn_prec_t prec);
/* The process-wide table: max ISA from PIXELCNN_ISA (ref|avx2|avx512) if set,
 * else the best this CPU supports. Filled on first call. */
const pcnn_kernels_t *pcnn_kernels(void);
/* Force the process-wide level (e.g. from --isa); returns 0, or -1 if the CPU
 * cannot run it. */
int pcnn_kernels_set_isa(pcnn_isa_t max_isa);
pcnn_isa_t pcnn_kernels_isa(void);

#ifdef __cplusplus
}
#endif
#endif
