/* plan.c: see plan.h. File format: text, '#' comments, one line per role and
 * direction: "<role> <dir> <isa> <ms>", optional "elem <op> <isa> <ms>" lines,
 * plus "threads N", "batch N" and an optional "precision fp32|bf16". */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "values.h"

static const char *const roles[PCNN_ROLES] = {"in", "conv1", "conv2", "conv3", "out", "head"};
static const char *const dirs[PCNN_DIRS] = {"fwd", "bwd_data", "bwd_weights"};

const char *pcnn_role_name(int role) { return role >= 0 && role < PCNN_ROLES ? roles[role] : "?"; }
const char *pcnn_dir_name(int dir) { return dir >= 0 && dir < PCNN_DIRS ? dirs[dir] : "?"; }
int pcnn_role_fused(int role) { return role == PCNN_ROLE_CONV1 || role == PCNN_ROLE_OUT; }

int pcnn_op_elementwise(int op) {
  switch (op) {
    case PCNN_OP_prelu_fwd: case PCNN_OP_prelu_bwd: case PCNN_OP_add_fwd: case PCNN_OP_add_bwd:
    case PCNN_OP_bernoulli_loss: case PCNN_OP_softmax256_loss: case PCNN_OP_nadam_update: return 1;
    default: return 0;
  }
}

void pcnn_plan_default_prec(pcnn_plan_t *p, pcnn_prec_t prec) {
  memset(p, 0, sizeof *p);
  /* the process-wide level, as an FP32 level (it may be capped at a bf16 one) */
  pcnn_isa_t isa = pcnn_kernels_isa();
  if (isa >= PCNN_ISA_FP32_COUNT) isa = (pcnn_isa_t)(PCNN_ISA_FP32_COUNT - 1);
  const pcnn_isa_t conv = prec == PCNN_PREC_BF16 ? pcnn_bf16_level(pcnn_kernels_isa()) : isa;
  p->prec = prec;
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++) p->isa[r][d] = conv;
  for (int op = 0; op < PCNN_OP_COUNT; op++) p->elem[op] = isa;
  if (prec == PCNN_PREC_BF16)
    snprintf(p->source, sizeof p->source, "default (bf16 %s, %s)", pcnn_isa_name(conv), pcnn_isa_name(isa));
  else
    snprintf(p->source, sizeof p->source, "default (%s)", pcnn_isa_name(isa));
}

void pcnn_plan_default(pcnn_plan_t *p) { pcnn_plan_default_prec(p, PCNN_PREC_FP32); }

const char *pcnn_prec_unavailable(pcnn_prec_t prec) {
  const pcnn_isa_t isa = pcnn_kernels_isa();
  if (prec == PCNN_PREC_BF16 && isa != PCNN_ISA_REF && pcnn_bf16_level(isa) == PCNN_ISA_REF)
    return "no bf16 SIMD kernel level runs on this CPU (avx512bf16 needs AVX512_BF16)";
  return NULL;
}

void pcnn_plan_str(const pcnn_plan_t *p, char *buf, size_t n) {
  size_t o = 0;
  buf[0] = 0;
  for (int r = 0; r < PCNN_ROLES && o < n; r++)
    o += (size_t)snprintf(buf + o, n - o, "%s%s=%s/%s/%s", r ? " " : "", roles[r],
                          pcnn_isa_name(p->isa[r][0]), pcnn_isa_name(p->isa[r][1]),
                          pcnn_isa_name(p->isa[r][2]));
  int same = 1, first = -1;
  for (int op = 0; op < PCNN_OP_COUNT; op++)
    if (pcnn_op_elementwise(op)) {
      if (first < 0) first = op;
      same &= p->elem[op] == p->elem[first];
    }
  if (same && o < n) {
    o += (size_t)snprintf(buf + o, n - o, " elem=%s", pcnn_isa_name(p->elem[first]));
  } else {
    for (int op = 0, k = 0; op < PCNN_OP_COUNT && o < n; op++)
      if (pcnn_op_elementwise(op))
        o += (size_t)snprintf(buf + o, n - o, "%s%s:%s", k++ ? "," : " elem=", pcnn_op_name(op),
                              pcnn_isa_name(p->elem[op]));
  }
  if (p->prec != PCNN_PREC_FP32 && o < n) snprintf(buf + o, n - o, " precision=%s", pcnn_prec_name(p->prec));
}

int pcnn_plan_save(const char *path, const pcnn_plan_t *p, char err[PCNN_ERR_LEN]) {
  char buf[4096];
  size_t o = (size_t)snprintf(buf, sizeof buf,
                              "# pixelcnn kernel plan (pixelcnn tune): role direction level ms; elem op level ms\n"
                              "threads %d\nbatch %d\n", p->threads, p->batch);
  if (p->prec != PCNN_PREC_FP32)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "precision %s\n", pcnn_prec_name(p->prec));
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++)
      o += (size_t)snprintf(buf + o, sizeof buf - o, "%s %s %s %.4f\n", roles[r], dirs[d],
                            pcnn_isa_name(p->isa[r][d]), p->ms[r][d]);
  for (int op = 0; op < PCNN_OP_COUNT; op++)
    if (pcnn_op_elementwise(op))
      o += (size_t)snprintf(buf + o, sizeof buf - o, "elem %s %s %.4f\n", pcnn_op_name(op),
                            pcnn_isa_name(p->elem[op]), p->elem_ms[op]);
  pcnn_atomic_t a;
  if (pcnn_atomic_open(&a, path, err)) return -1;
  if (pcnn_atomic_write(&a, buf, o, err)) return -1; /* it aborts on error */
  return pcnn_atomic_commit(&a, err);
}

/* splits line into at most max whitespace-separated tokens; returns the
 * count, or max + 1 if there are more */
static int tokens(char *line, char **tok, int max) {
  int n = 0;
  char *save = NULL;
  for (char *p = strtok_r(line, " \t\r\n", &save); p; p = strtok_r(NULL, " \t\r\n", &save)) {
    if (n == max) return max + 1;
    tok[n++] = p;
  }
  return n;
}

int pcnn_plan_load(const char *path, pcnn_plan_t *p, char err[PCNN_ERR_LEN]) {
  FILE *f = pcnn_fopen_regular(path, err);
  if (!f) return -1;
  pcnn_plan_default(p);
  int seen[PCNN_ROLES][PCNN_DIRS] = {{0}}, seen_elem[PCNN_OP_COUNT] = {0}, seen_threads = 0, seen_batch = 0;
  int seen_prec = 0;
  char *line = NULL, why[PCNN_ERR_LEN];
  size_t cap = 0;
  int ln = 0, rc = 0;
  while (!rc && getline(&line, &cap, f) >= 0) { /* any line length: a long comment is fine */
    ln++;
    char *tok[5];
    const int nt = tokens(line, tok, 4);
    if (nt == 0 || tok[0][0] == '#') continue;
    if (strcmp(tok[0], "precision") == 0) {
      const int pr = nt == 2 ? pcnn_prec_parse(tok[1]) : -1;
      if (nt != 2) rc = pcnn_errf(err, "%s:%d: expected 'precision fp32|bf16'", path, ln);
      else if (seen_prec) rc = pcnn_errf(err, "%s:%d: a second 'precision' line", path, ln);
      else if (pr < 0) rc = pcnn_errf(err, "%s:%d: unknown precision '%.40s' (fp32 or bf16)", path, ln, tok[1]);
      else p->prec = (pcnn_prec_t)pr, seen_prec = ln;
      continue;
    }
    const int is_threads = strcmp(tok[0], "threads") == 0, is_batch = strcmp(tok[0], "batch") == 0;
    if (is_threads || is_batch) {
      /* 0: not recorded (an untuned plan) */
      const pcnn_irange_t r = {tok[0], 0, is_threads ? PCNN_V_THREADS.hi : PCNN_V_BATCH.hi};
      long long v;
      if (nt != 2) rc = pcnn_errf(err, "%s:%d: expected '%s N'", path, ln, tok[0]);
      else if (is_threads ? seen_threads : seen_batch)
        rc = pcnn_errf(err, "%s:%d: a second '%s' line", path, ln, tok[0]);
      else if (pcnn_value_int(&r, tok[1], &v, why)) rc = pcnn_errf(err, "%s:%d: %s: %s", path, ln, tok[0], why);
      else if (is_threads) p->threads = (int)v, seen_threads = ln;
      else p->batch = (int)v, seen_batch = ln;
      continue;
    }
    if (nt != 4) {
      rc = pcnn_errf(err, "%s:%d: expected '<role> <direction> <level> <ms>' (%s fields)", path, ln,
                     nt > 4 ? "more than 4" : "fewer than 4");
      break;
    }
    /* the entry the line sets: "elem <op>" or "<role> <direction>"; then
     * one set of checks for both kinds */
    pcnn_isa_t *isa_at = NULL;
    double *ms_at = NULL;
    int *seen_at = NULL;
    const char *unknown = NULL, *bad = NULL;
    if (strcmp(tok[0], "elem") == 0) {
      int op = -1;
      for (int i = 0; i < PCNN_OP_COUNT; i++) op = pcnn_op_elementwise(i) && !strcmp(tok[1], pcnn_op_name(i)) ? i : op;
      if (op < 0) unknown = "element-wise op", bad = tok[1];
      else isa_at = &p->elem[op], ms_at = &p->elem_ms[op], seen_at = &seen_elem[op];
    } else {
      int r = -1, d = -1;
      for (int i = 0; i < PCNN_ROLES; i++) r = strcmp(tok[0], roles[i]) ? r : i;
      for (int i = 0; i < PCNN_DIRS; i++) d = strcmp(tok[1], dirs[i]) ? d : i;
      if (r < 0 || d < 0) unknown = r < 0 ? "role" : "direction", bad = r < 0 ? tok[0] : tok[1];
      else isa_at = &p->isa[r][d], ms_at = &p->ms[r][d], seen_at = &seen[r][d];
    }
    const int isa = pcnn_isa_parse(tok[2]);
    double ms;
    if (unknown || isa < 0) {
      rc = pcnn_errf(err, "%s:%d: unknown %s '%.40s'", path, ln, unknown ? unknown : "level", unknown ? bad : tok[2]);
    } else if (*seen_at) {
      rc = pcnn_errf(err, "%s:%d: a second line for %s %s (the first is line %d)", path, ln, tok[0], tok[1],
                     *seen_at);
    } else if (pcnn_value_real(&PCNN_V_PLAN_MS, tok[3], &ms, why)) {
      rc = pcnn_errf(err, "%s:%d: ms: %s", path, ln, why);
    } else if (!pcnn_isa_supported((pcnn_isa_t)isa)) {
      rc = pcnn_errf(err, "%s:%d: this CPU cannot run %s kernels (the plan was tuned elsewhere?)", path, ln,
                     tok[2]);
    } else {
      *isa_at = (pcnn_isa_t)isa;
      *ms_at = ms;
      *seen_at = ln;
    }
  }
  const int rerr = ferror(f);
  free(line);
  fclose(f);
  if (rc) return rc;
  if (rerr) return pcnn_errf(err, "%s: read error", path);
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++)
      if (!seen[r][d]) return pcnn_errf(err, "%s: no line for %s %s", path, roles[r], dirs[d]);
  /* each entry's level must have kernels of the plan's precision: FP32
   * levels for the element-wise ops and an fp32 plan's convs, ref or a bf16
   * level for a bf16 plan's convs */
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++) {
      const pcnn_isa_t isa = p->isa[r][d];
      const int fp32_level = isa < PCNN_ISA_FP32_COUNT;
      if (p->prec == PCNN_PREC_FP32 ? !fp32_level : (fp32_level && isa != PCNN_ISA_REF))
        return pcnn_errf(err, "%s:%d: %s %s: %s has no %s kernels (the plan's precision is %s%s)", path, seen[r][d],
                         roles[r], dirs[d], pcnn_isa_name(isa), pcnn_prec_name(p->prec), pcnn_prec_name(p->prec),
                         seen_prec ? "" : ": no 'precision' line");
    }
  for (int op = 0; op < PCNN_OP_COUNT; op++)
    if (pcnn_op_elementwise(op) && p->elem[op] >= PCNN_ISA_FP32_COUNT)
      return pcnn_errf(err, "%s:%d: elem %s: %s has no element-wise kernels", path, seen_elem[op],
                       pcnn_op_name(op), pcnn_isa_name(p->elem[op]));
  snprintf(p->source, sizeof p->source, "%s", path);
  return 0;
}
