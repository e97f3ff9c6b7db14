/* plan.c: see plan.h. File format: text, '#' comments, one line per role and
 * direction: "<role> <dir> <isa> <ms>", plus "threads N" and "batch N". */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "fileio.h"

static const char *const roles[PCNN_ROLES] = {"in", "conv1", "conv2", "conv3", "out", "head"};
static const char *const dirs[PCNN_DIRS] = {"fwd", "bwd_data", "bwd_weights"};

const char *pcnn_role_name(int role) { return role >= 0 && role < PCNN_ROLES ? roles[role] : "?"; }
const char *pcnn_dir_name(int dir) { return dir >= 0 && dir < PCNN_DIRS ? dirs[dir] : "?"; }
int pcnn_role_fused(int role) { return role == PCNN_ROLE_CONV1 || role == PCNN_ROLE_OUT; }

void pcnn_plan_default(pcnn_plan_t *p) {
  memset(p, 0, sizeof *p);
  const pcnn_isa_t isa = pcnn_kernels_isa();
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++) p->isa[r][d] = isa;
  snprintf(p->source, sizeof p->source, "default (%s)", pcnn_isa_name(isa));
}

void pcnn_plan_str(const pcnn_plan_t *p, char *buf, size_t n) {
  size_t o = 0;
  buf[0] = 0;
  for (int r = 0; r < PCNN_ROLES && o < n; r++)
    o += (size_t)snprintf(buf + o, n - o, "%s%s=%s/%s/%s", r ? " " : "", roles[r],
                          pcnn_isa_name(p->isa[r][0]), pcnn_isa_name(p->isa[r][1]),
                          pcnn_isa_name(p->isa[r][2]));
}

int pcnn_plan_save(const char *path, const pcnn_plan_t *p, char err[PCNN_ERR_LEN]) {
  char buf[4096];
  size_t o = (size_t)snprintf(buf, sizeof buf,
                              "# pixelcnn kernel plan (pixelcnn tune): role direction level ms\n"
                              "threads %d\nbatch %d\n", p->threads, p->batch);
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++)
      o += (size_t)snprintf(buf + o, sizeof buf - o, "%s %s %s %.4f\n", roles[r], dirs[d],
                            pcnn_isa_name(p->isa[r][d]), p->ms[r][d]);
  pcnn_atomic_t a;
  if (pcnn_atomic_open(&a, path, err)) return -1;
  if (pcnn_atomic_write(&a, buf, o, err)) return -1; /* it aborts on error */
  return pcnn_atomic_commit(&a, err);
}

int pcnn_plan_load(const char *path, pcnn_plan_t *p, char err[PCNN_ERR_LEN]) {
  FILE *f = fopen(path, "r");
  if (!f) return pcnn_errf(err, "%s: cannot open the plan file", path);
  pcnn_plan_default(p);
  int seen[PCNN_ROLES][PCNN_DIRS] = {{0}};
  char line[256];
  int ln = 0, rc = 0;
  while (fgets(line, sizeof line, f)) {
    ln++;
    char a[32], b[32], c[32];
    double ms;
    int v;
    if (line[0] == '#' || line[0] == '\n') continue;
    if (sscanf(line, "threads %d", &v) == 1) { p->threads = v; continue; }
    if (sscanf(line, "batch %d", &v) == 1) { p->batch = v; continue; }
    if (sscanf(line, "%31s %31s %31s %lf", a, b, c, &ms) != 4) {
      rc = pcnn_errf(err, "%s:%d: expected '<role> <direction> <level> <ms>'", path, ln);
      break;
    }
    int r = -1, d = -1;
    for (int i = 0; i < PCNN_ROLES; i++) r = strcmp(a, roles[i]) ? r : i;
    for (int i = 0; i < PCNN_DIRS; i++) d = strcmp(b, dirs[i]) ? d : i;
    const int isa = pcnn_isa_parse(c);
    if (r < 0 || d < 0 || isa < 0) {
      rc = pcnn_errf(err, "%s:%d: unknown %s '%s'", path, ln, r < 0 ? "role" : d < 0 ? "direction" : "level",
                     r < 0 ? a : d < 0 ? b : c);
      break;
    }
    if (!pcnn_isa_supported((pcnn_isa_t)isa)) {
      rc = pcnn_errf(err, "%s:%d: this CPU cannot run %s kernels (the plan was tuned elsewhere?)", path, ln, c);
      break;
    }
    p->isa[r][d] = (pcnn_isa_t)isa;
    p->ms[r][d] = ms;
    seen[r][d] = 1;
  }
  fclose(f);
  if (rc) return rc;
  for (int r = 0; r < PCNN_ROLES; r++)
    for (int d = 0; d < PCNN_DIRS; d++)
      if (!seen[r][d]) return pcnn_errf(err, "%s: no line for %s %s", path, roles[r], dirs[d]);
  snprintf(p->source, sizeof p->source, "%s", path);
  return 0;
}
