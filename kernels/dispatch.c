/* dispatch.c: fills the kernel table from the kernel list (kernel_list.h).
 * Every slot starts with the reference (BLIS style: always a working kernel),
 * then each listed kernel whose ISA is allowed and supported overrides it;
 * rows are ordered slowest ISA first, so the fastest wins. */
#include "pcnn_kernels.h"

#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {
#define PCNN_NAME(op) #op,
    PCNN_OPS(PCNN_NAME)
#undef PCNN_NAME
};

const pcnn_kernel_row_t pcnn_kernel_rows[] = {
#define PCNN_KERNEL(isa, op, fn) {isa, PCNN_OP_##op, #op, #fn, (void (*)(void))fn, PCNN_PREC_FP32},
#define PCNN_KERNEL_BF16(isa, op, fn)
#define PCNN_SUPPORTS(isa, op, fn)
#include "kernel_list.h"
#undef PCNN_KERNEL
#undef PCNN_KERNEL_BF16
#undef PCNN_SUPPORTS
};
const int pcnn_kernel_row_count = (int)(sizeof pcnn_kernel_rows / sizeof pcnn_kernel_rows[0]);

const pcnn_kernel_row_t pcnn_kernel_rows_bf16[] = {
#define PCNN_KERNEL(isa, op, fn)
#define PCNN_KERNEL_BF16(isa, op, fn) {isa, PCNN_OP_##op, #op, #fn, (void (*)(void))fn, PCNN_PREC_BF16},
#define PCNN_SUPPORTS(isa, op, fn)
#include "kernel_list.h"
#undef PCNN_KERNEL
#undef PCNN_KERNEL_BF16
#undef PCNN_SUPPORTS
};
const int pcnn_kernel_row_count_bf16 = (int)(sizeof pcnn_kernel_rows_bf16 / sizeof pcnn_kernel_rows_bf16[0]);

/* the shape limits of the list: (isa, op, predicate) */
static const struct {
  pcnn_isa_t isa;
  pcnn_op_t op;
  pcnn_supports_fn *supports;
} supports_rows[] = {
#define PCNN_KERNEL(isa, op, fn)
#define PCNN_KERNEL_BF16(isa, op, fn)
#define PCNN_SUPPORTS(isa, op, fn) {isa, PCNN_OP_##op, fn},
#include "kernel_list.h"
#undef PCNN_KERNEL
#undef PCNN_KERNEL_BF16
#undef PCNN_SUPPORTS
};

int pcnn_kernel_falls_back(pcnn_op_t op, pcnn_isa_t isa, const pcnn_conv_t *c) {
  if ((int)op < 0 || op >= PCNN_OP_COUNT || (int)isa < 0 || isa >= PCNN_ISA_COUNT || !c ||
      pcnn_conv_check(c) || !pcnn_isa_supported(isa))
    return -1;
  int listed = 0; /* an FP32 row, or (a bf16 level) a bf16 row of op at isa */
  for (int i = 0; i < pcnn_kernel_row_count; i++)
    listed |= pcnn_kernel_rows[i].op == (int)op && pcnn_kernel_rows[i].isa == isa;
  if (isa >= PCNN_ISA_FP32_COUNT)
    for (int i = 0; i < pcnn_kernel_row_count_bf16; i++)
      listed |= pcnn_kernel_rows_bf16[i].op == (int)op && pcnn_kernel_rows_bf16[i].isa == isa;
  if (!listed) return -1;
  for (size_t i = 0; i < sizeof supports_rows / sizeof supports_rows[0]; i++)
    if (supports_rows[i].op == op && supports_rows[i].isa == isa) return !supports_rows[i].supports(c);
  return 0;
}

const char *pcnn_op_name(int op) { return op >= 0 && op < PCNN_OP_COUNT ? op_names[op] : "?"; }
int pcnn_op_count(void) { return PCNN_OP_COUNT; }

const char *pcnn_isa_name(pcnn_isa_t isa) {
  switch (isa) {
    case PCNN_ISA_REF: return "ref";
    case PCNN_ISA_AVX2: return "avx2";
    case PCNN_ISA_AVX512: return "avx512";
    case PCNN_ISA_AVX512BF16: return "avx512bf16";
    default: return "?";
  }
}

int pcnn_isa_parse(const char *s) {
  if (!s) return -1;
  for (int i = 0; i < PCNN_ISA_COUNT; i++)
    if (strcmp(s, pcnn_isa_name((pcnn_isa_t)i)) == 0) return i;
  return -1;
}

int pcnn_isa_supported(pcnn_isa_t isa) {
  /* __builtin_cpu_supports checks CPUID and that the OS saves the state
   * (OSXSAVE + XCR0), so AVX-512 is reported only where it can run. */
  __builtin_cpu_init();
  switch (isa) {
    case PCNN_ISA_REF: return 1;
    case PCNN_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case PCNN_ISA_AVX512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma");
    case PCNN_ISA_AVX512BF16:
      return pcnn_isa_supported(PCNN_ISA_AVX512) && __builtin_cpu_supports("avx512bf16");
    default: return 0;
  }
}

static void set_slot(pcnn_kernels_t *t, int op, void (*fn)(void)) {
  switch (op) {
#define PCNN_SET(op)                                   \
  case PCNN_OP_##op:                                  \
    t->op = (pcnn_##op##_fn *)fn;                     \
    break;
    PCNN_OPS(PCNN_SET)
#undef PCNN_SET
    default: break;
  }
}

/* fills the slots of op (every op if op < 0) from the n rows (one
 * precision's list) as pcnn_kernels_fill says: the reference row, then each
 * allowed and supported row in list order (slowest first) */
static void fill_rows(pcnn_kernels_t *t, const pcnn_kernel_row_t *rows, int n, int op, pcnn_isa_t max_isa) {
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < n; i++) {
      const pcnn_kernel_row_t *r = &rows[i];
      if (op >= 0 && r->op != op) continue;
      if (pass == 0 ? r->isa != PCNN_ISA_REF
                    : (r->isa == PCNN_ISA_REF || r->isa > max_isa || !pcnn_isa_supported(r->isa)))
        continue;
      set_slot(t, r->op, r->fn);
      t->isa_of[r->op] = r->isa;
      t->prec_of[r->op] = r->prec;
    }
  }
}
static void fill_ops(pcnn_kernels_t *t, int op, pcnn_isa_t max_isa) {
  fill_rows(t, pcnn_kernel_rows, pcnn_kernel_row_count, op, max_isa);
}

void pcnn_kernels_fill(pcnn_kernels_t *t, pcnn_isa_t max_isa) {
  memset(t, 0, sizeof *t);
  fill_ops(t, -1, max_isa);
}

const char *pcnn_prec_name(pcnn_prec_t p) {
  return p == PCNN_PREC_FP32 ? "fp32" : p == PCNN_PREC_BF16 ? "bf16" : "?";
}

int pcnn_prec_parse(const char *s) {
  if (!s) return -1;
  for (int i = 0; i < PCNN_PREC_COUNT; i++)
    if (strcmp(s, pcnn_prec_name((pcnn_prec_t)i)) == 0) return i;
  return -1;
}

int pcnn_op_has_bf16(int op) {
  for (int i = 0; i < pcnn_kernel_row_count_bf16; i++)
    if (pcnn_kernel_rows_bf16[i].op == op) return 1;
  return 0;
}

pcnn_isa_t pcnn_bf16_level(pcnn_isa_t isa) {
  if (isa == PCNN_ISA_REF) return PCNN_ISA_REF;
  pcnn_isa_t best = PCNN_ISA_REF;
  for (int i = 0; i < pcnn_kernel_row_count_bf16; i++)
    if (pcnn_kernel_rows_bf16[i].isa > best && pcnn_isa_supported(pcnn_kernel_rows_bf16[i].isa))
      best = pcnn_kernel_rows_bf16[i].isa;
  return best;
}

void pcnn_kernels_fill_prec(pcnn_kernels_t *t, pcnn_isa_t max_isa, pcnn_prec_t prec) {
  pcnn_kernels_fill(t, max_isa);
  if (prec == PCNN_PREC_BF16) fill_rows(t, pcnn_kernel_rows_bf16, pcnn_kernel_row_count_bf16, -1, max_isa);
}

void pcnn_kernels_fill_op(pcnn_kernels_t *t, pcnn_op_t op, pcnn_isa_t max_isa) {
  if ((int)op >= 0 && op < PCNN_OP_COUNT) fill_ops(t, (int)op, max_isa);
}

static pcnn_kernels_t g_table;
static pcnn_isa_t g_isa;
static int g_ready;

/* the best FP32 level (bf16 levels are chosen per model: pcnn_bf16_level) */
static pcnn_isa_t best_isa(void) {
  for (int i = PCNN_ISA_FP32_COUNT - 1; i > 0; i--)
    if (pcnn_isa_supported((pcnn_isa_t)i)) return (pcnn_isa_t)i;
  return PCNN_ISA_REF;
}

int pcnn_kernels_set_isa(pcnn_isa_t max_isa) {
  if ((int)max_isa < 0 || max_isa >= PCNN_ISA_COUNT || !pcnn_isa_supported(max_isa)) return -1;
  pcnn_kernels_fill(&g_table, max_isa);
  g_isa = max_isa;
  g_ready = 1;
  return 0;
}

const pcnn_kernels_t *pcnn_kernels(void) {
  if (!g_ready) {
    pcnn_isa_t isa = best_isa();
    const char *env = getenv("PIXELCNN_ISA");
    int forced = pcnn_isa_parse(env);
    if (forced >= 0 && pcnn_isa_supported((pcnn_isa_t)forced)) isa = (pcnn_isa_t)forced;
    pcnn_kernels_set_isa(isa);
  }
  return &g_table;
}

pcnn_isa_t pcnn_kernels_isa(void) {
  pcnn_kernels();
  return g_isa;
}

pcnn_gemm_acc_a16_fn *pcnn_gemm_a16_of(pcnn_gemm_acc_fn *gemm) {
#define PCNN_KERNEL(isa, op, fn)
#define PCNN_KERNEL_BF16(isa, op, fn)
#define PCNN_SUPPORTS(isa, op, fn)
#define PCNN_GEMM_A16(g, fn) \
  if (gemm == g) return fn;
#include "kernel_list.h"
#undef PCNN_KERNEL
#undef PCNN_KERNEL_BF16
#undef PCNN_SUPPORTS
#undef PCNN_GEMM_A16
  return NULL;
}
