// test_graph.cc: the network as data (model.h's layer records) and the
// model's own kernel tables.
//  - the graph of the seed PixelCNN: layer and slot counts, the checkpoint's
//    tensor order, every PReLU slope the epilogue of exactly one layer, the
//    activation accessor;
//  - a model takes every kernel from its plan: changing the process-wide level
//    after init changes nothing it computes (train step, loss, cached sample);
//  - an element-wise plan entry sets that op's level in every table the model
//    runs it from, and changes what the backward computes.
#include <omp.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <fstream>
#include <sstream>
#include <unistd.h>

#include "config_name.h"
#include "test_util.h"

extern "C" {
#include "model.h"
#include "sample.h"
}

namespace {


TEST(Graph, SeedPixelCnnRecords) {
  for (int depth : {0, 1, 3}) {
    pcnn_config_t cfg = {3, 12, depth, PCNN_HEAD_SOFTMAX256, 6, 5};
    pcnn_model_t m;
    char err[PCNN_ERR_LEN];
    ASSERT_EQ(pcnn_model_init(&m, &cfg, 1, 2, err), 0) << err;
    EXPECT_EQ(m.nlayers, 1 + 3 * depth + 3);
    EXPECT_EQ(m.ntensors, pcnn_config_ntensors(&cfg));
    EXPECT_EQ(m.nparams, pcnn_config_nparams(&cfg));
    // every slope tensor is the epilogue of exactly one layer, every
    // weight/bias belongs to one layer
    std::multiset<size_t> alphas, wb;
    for (int i = 0; i < m.nlayers; i++) {
      const pcnn_layer_t &l = m.layers[i];
      if (l.alpha != PCNN_NO_PARAM) alphas.insert(l.alpha);
      wb.insert(l.w), wb.insert(l.b);
      EXPECT_EQ(l.out >= 0, l.alpha != PCNN_NO_PARAM) << l.name;
      EXPECT_TRUE(l.src == PCNN_SLOT_IMAGE || (l.src >= 0 && l.src < m.nslots)) << l.name;
      if (l.src >= 0) {
        EXPECT_EQ(m.slots[l.src].ch, l.c.cin) << l.name;
      }
      EXPECT_EQ(m.slots[l.pre].ch, l.c.cout) << l.name;
      if (l.res >= 0) {
        EXPECT_EQ(m.slots[l.res].ch, l.c.cout) << l.name;
      }
      if (l.op == PCNN_OP_conv1x1_prelu_fwd) {
        EXPECT_EQ(l.c.k, 1) << l.name;
        EXPECT_LT(l.res, 0) << l.name;
      }
      // a layer reads only slots written before it (forward order)
      for (int s : {l.src, l.res}) {
        if (s < 0) continue;
        bool written = false;
        for (int j = 0; j < i; j++) written |= m.layers[j].pre == s || m.layers[j].out == s;
        EXPECT_TRUE(written) << l.name << " reads " << m.slots[s].name << " before it is written";
      }
    }
    int nslopes = 0;
    for (int t = 0; t < m.ntensors; t++) {
      const std::string name = m.tensors[t].name;
      const bool slope = name.find("prelu") != std::string::npos;
      nslopes += slope;
      if (slope) EXPECT_EQ(alphas.count(m.tensors[t].off), 1u) << name;
      else EXPECT_EQ(wb.count(m.tensors[t].off), 1u) << name;
    }
    EXPECT_EQ((int)alphas.size(), nslopes);
    // the checkpoint's tensor order
    EXPECT_STREQ(m.tensors[0].name, "in.weight");
    if (depth) {
      EXPECT_STREQ(m.tensors[2].name, "blocks.0.prelu1");
    }
    EXPECT_STREQ(m.tensors[m.ntensors - 1].name, "head.bias");
    // the accessor: slot buffers are disjoint, batch_cap*H*W*ch floats each,
    // and the logits are the last layer's pre slot
    EXPECT_EQ(m.logits, pcnn_model_act(&m, m.layers[m.nlayers - 1].pre));
    for (int s = 0; s + 1 < m.nslots; s++)
      EXPECT_EQ(pcnn_model_act(&m, s + 1) - pcnn_model_act(&m, s), (ptrdiff_t)2 * 6 * 5 * m.slots[s].ch);
    EXPECT_EQ(pcnn_model_act(&m, m.nslots), nullptr);
    pcnn_model_free(&m);
  }
}

std::string slurp(const std::string &p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
void spit(const std::string &p, const std::string &text) { std::ofstream(p, std::ios::binary) << text; }

struct Outputs {
  std::vector<float> params, grads, logits, samples;
  double nll;
};

Outputs run(const pcnn_config_t &cfg, const pcnn_plan_t *plan, pcnn_isa_t process_after_init) {
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  Outputs r{};
  const int n = 3;
  EXPECT_EQ(pcnn_model_init(&m, &cfg, 5, n, err), 0) << err;
  if (plan) pcnn_model_set_plan(&m, plan);
  EXPECT_EQ(pcnn_kernels_set_isa(process_after_init), 0);
  const std::vector<float> in = model_batch(n, cfg, 9);
  pcnn_model_train_step(&m, in.data(), n);
  r.nll = pcnn_model_train_step(&m, in.data(), n);
  r.params.assign(m.params, m.params + m.nparams);
  r.grads.assign(m.grads, m.grads + m.nparams);
  pcnn_model_forward(&m, in.data(), n);
  r.logits.assign(m.logits, m.logits + (size_t)n * cfg.height * cfg.width * cfg.channels * m.k_out);
  r.samples = in;
  EXPECT_EQ(pcnn_sample_cached(&m, r.samples.data(), n, 2, 1.f, 3, nullptr, nullptr, nullptr), 0);
  pcnn_model_free(&m);
  return r;
}

pcnn_isa_t best_isa() {
  for (int i = PCNN_ISA_FP32_COUNT - 1; i > 0; i--)
    if (pcnn_isa_supported((pcnn_isa_t)i)) return (pcnn_isa_t)i;
  return PCNN_ISA_REF;
}

// restores the process-wide level when a test ends
struct KeepIsa {
  pcnn_isa_t isa = pcnn_kernels_isa();
  ~KeepIsa() { pcnn_kernels_set_isa(isa); }
};

TEST(ModelTable, ProcessWideLevelAfterInitChangesNothing) {
  KeepIsa keep;
  const pcnn_isa_t best = best_isa();
  if (best == PCNN_ISA_REF) GTEST_SKIP() << "this CPU runs only the reference level";
  for (int head : {PCNN_HEAD_BERNOULLI, PCNN_HEAD_SOFTMAX256}) {
    pcnn_config_t cfg = {3, 12, 2, head, 6, 5};
    ASSERT_EQ(pcnn_kernels_set_isa(best), 0);
    const Outputs a = run(cfg, nullptr, best);  // plan at best, process at best
    ASSERT_EQ(pcnn_kernels_set_isa(best), 0);
    const Outputs b = run(cfg, nullptr, PCNN_ISA_REF);  // plan at best, process at ref after init
    EXPECT_EQ(a.nll, b.nll);
    EXPECT_EQ(0, memcmp(a.params.data(), b.params.data(), a.params.size() * 4)) << "params";
    EXPECT_EQ(0, memcmp(a.grads.data(), b.grads.data(), a.grads.size() * 4)) << "grads";
    EXPECT_EQ(0, memcmp(a.logits.data(), b.logits.data(), a.logits.size() * 4)) << "logits";
    EXPECT_EQ(0, memcmp(a.samples.data(), b.samples.data(), a.samples.size() * 4)) << "samples";
  }
}

TEST(ModelTable, ElementwisePlanEntrySetsTheLevelOnEveryPath) {
  KeepIsa keep;
  const pcnn_isa_t best = best_isa();
  if (best == PCNN_ISA_REF) GTEST_SKIP() << "this CPU runs only the reference level";
  ASSERT_EQ(pcnn_kernels_set_isa(best), 0);
  pcnn_config_t cfg = {1, 8, 2, PCNN_HEAD_BERNOULLI, 6, 5};
  for (int op = 0; op < PCNN_OP_COUNT; op++) {
    if (!pcnn_op_elementwise(op)) continue;
    pcnn_plan_t plan;
    pcnn_plan_default(&plan);
    plan.elem[op] = PCNN_ISA_REF;
    pcnn_model_t m;
    char err[PCNN_ERR_LEN];
    ASSERT_EQ(pcnn_model_init(&m, &cfg, 5, 2, err), 0) << err;
    pcnn_model_set_plan(&m, &plan);
    // every table the model runs a kernel from: the per-role tables (layer
    // epilogues) and the model-wide one (loss heads, Nadam)
    EXPECT_EQ(m.ops.isa_of[op], PCNN_ISA_REF) << pcnn_op_name(op);
    for (int r = 0; r < PCNN_ROLES; r++)
      for (int d = 0; d < PCNN_DIRS; d++) {
        EXPECT_EQ(m.tab[r][d].isa_of[op], PCNN_ISA_REF) << pcnn_op_name(op) << " " << pcnn_role_name(r);
        for (int o = 0; o < PCNN_OP_COUNT; o++)
          if (o != op && pcnn_op_elementwise(o)) {
            EXPECT_EQ(m.tab[r][d].isa_of[o], m.ops.isa_of[o]);
          }
      }
    // the plan string says so
    char s[1024];
    pcnn_plan_str(&m.plan, s, sizeof s);
    EXPECT_NE(strstr(s, (std::string(pcnn_op_name(op)) + ":ref").c_str()), nullptr) << s;
    pcnn_model_free(&m);
  }
  // and what runs changes: the reference and SIMD Bernoulli heads round
  // differently (exp, and the order of the NLL sum), and each op whose
  // levels differ in bits on this data shows in the outputs
  pcnn_plan_t a;
  pcnn_plan_default(&a);
  const Outputs ra = run(cfg, &a, best);
  int changed = 0;
  for (int op = 0; op < PCNN_OP_COUNT; op++) {
    if (!pcnn_op_elementwise(op)) continue;
    pcnn_plan_t b = a;
    b.elem[op] = PCNN_ISA_REF;
    const Outputs rb = run(cfg, &b, best);
    const bool differs = ra.nll != rb.nll || memcmp(ra.params.data(), rb.params.data(), ra.params.size() * 4) ||
                         memcmp(ra.grads.data(), rb.grads.data(), ra.grads.size() * 4);
    changed += differs;
    printf("  elem %-16s at ref: %s\n", pcnn_op_name(op), differs ? "outputs differ" : "same bits");
    if (op == PCNN_OP_bernoulli_loss) {
      EXPECT_TRUE(differs) << "the bernoulli_loss plan entry changed nothing";
    }
  }
  EXPECT_GT(changed, 0);
}

TEST(ModelTable, PlanFileCarriesElementwiseLevels) {
  pcnn_plan_t p, q;
  pcnn_plan_default(&p);
  p.elem[PCNN_OP_nadam_update] = PCNN_ISA_REF;
  p.elem_ms[PCNN_OP_nadam_update] = 1.5;
  char tmpl[] = "/tmp/pcnn_graph_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/p.plan";
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_plan_save(path.c_str(), &p, err), 0) << err;
  ASSERT_EQ(pcnn_plan_load(path.c_str(), &q, err), 0) << err;
  for (int op = 0; op < PCNN_OP_COUNT; op++)
    if (pcnn_op_elementwise(op)) {
      EXPECT_EQ(q.elem[op], p.elem[op]) << pcnn_op_name(op);
    }
  EXPECT_EQ(q.elem_ms[PCNN_OP_nadam_update], 1.5);
  // a plan file of the previous format (no elem lines) still loads, with
  // the element-wise ops at the process-wide level
  std::string text = slurp(path), old;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t e = text.find('\n', pos);
    const std::string line = text.substr(pos, e - pos + 1);
    if (line.rfind("elem ", 0) != 0) old += line;
    pos = e + 1;
  }
  spit(path, old);
  ASSERT_EQ(pcnn_plan_load(path.c_str(), &q, err), 0) << err;
  EXPECT_EQ(q.elem[PCNN_OP_nadam_update], pcnn_kernels_isa());
  // an unknown element-wise op is named
  spit(path, old + "elem conv_fwd ref 0\n");
  EXPECT_NE(pcnn_plan_load(path.c_str(), &q, err), 0);
  EXPECT_NE(strstr(err, "conv_fwd"), nullptr) << err;
  unlink(path.c_str());
  rmdir(tmpl);
}

}  // namespace

namespace {

std::string describe(const pcnn_config_t &cfg) {
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  EXPECT_EQ(pcnn_model_init(&m, &cfg, 1, 0, err), 0) << err;
  char *buf = nullptr;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  pcnn_model_describe(&m, f);
  fclose(f);
  std::string s(buf, len);
  free(buf);
  pcnn_model_free(&m);
  return s;
}

// info's layer table marks a SIMD kernel that hands the layer's shape to
// the reference (pcnn_kernel_falls_back): the fused 1x1's backward-data at
// 256 -> 256 does, nothing of the seed model does
TEST(Graph, DescribeMarksKernelsThatFallBack) {
  if (!pcnn_isa_supported(PCNN_ISA_AVX2)) GTEST_SKIP() << "no SIMD level on this CPU";
  const std::string seed = describe(pcnn_config_default());
  // (the levels avx2, avx512 end in '2'; the header says "X>ref")
  EXPECT_EQ(seed.find("2>ref"), std::string::npos) << seed;
  EXPECT_NE(seed.find("blocks.5.conv3"), std::string::npos) << seed;
  pcnn_config_t big = pcnn_config_default();
  big.filters = 256, big.depth = 0;
  const std::string s = describe(big);
  for (const char *layer : {"out.0", "out.1"}) {
    const size_t at = s.find(std::string("\n") + layer);
    ASSERT_NE(at, std::string::npos) << s;
    const std::string line = s.substr(at + 1, s.find('\n', at + 1) - at - 1);
    EXPECT_NE(line.find("/" + std::string(pcnn_isa_name(pcnn_kernels_isa())) + ">ref/"), std::string::npos)
        << line;
  }
  EXPECT_EQ(s.substr(s.find("\nhead")).find("2>ref"), std::string::npos) << s;
}

}  // namespace

namespace {

// the profile (pcnn_model_profile): every layer's forward and weight
// gradient, every data gradient a layer computes, the loss and the step get
// time; the parts sum to at most the step; the step computes the same bits
TEST(ModelProfile, EveryLayerAndDirectionInsideTheStep) {
  const pcnn_config_t cfg = {3, 12, 2, PCNN_HEAD_SOFTMAX256, 6, 5};
  pcnn_model_t a, b;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_model_init(&a, &cfg, 3, 2, err), 0) << err;
  ASSERT_EQ(pcnn_model_init(&b, &cfg, 3, 2, err), 0) << err;
  const std::vector<float> in = model_batch(2, cfg, 4);
  std::vector<double> prof(pcnn_model_prof_len(&b), 0.0);
  ASSERT_EQ(prof.size(), (size_t)b.nlayers * PCNN_DIRS + 2);
  pcnn_model_profile(&b, prof.data());
  const double t0 = omp_get_wtime();
  const double nb = pcnn_model_train_step(&b, in.data(), 2);
  const double whole = omp_get_wtime() - t0;
  pcnn_model_profile(&b, nullptr);
  const double na = pcnn_model_train_step(&a, in.data(), 2);
  EXPECT_EQ(na, nb);
  EXPECT_EQ(0, memcmp(a.params, b.params, a.nparams * sizeof(float)));
  double sum = 0;
  for (int i = 0; i < b.nlayers; i++) {
    const pcnn_layer_t &l = b.layers[i];
    EXPECT_GT(prof[(size_t)i * PCNN_DIRS + PCNN_DIR_FWD], 0) << l.name;
    EXPECT_GT(prof[(size_t)i * PCNN_DIRS + PCNN_DIR_BWD_WEIGHTS], 0) << l.name;
    if (l.src == PCNN_SLOT_IMAGE) {
      // the first layer's data gradient is never computed; its epilogue's is
      EXPECT_GE(prof[(size_t)i * PCNN_DIRS + PCNN_DIR_BWD_DATA], 0) << l.name;
    } else {
      EXPECT_GT(prof[(size_t)i * PCNN_DIRS + PCNN_DIR_BWD_DATA], 0) << l.name;
    }
  }
  for (double t : prof) sum += t;
  EXPECT_GT(prof[prof.size() - 2], 0) << "loss";
  EXPECT_GT(prof[prof.size() - 1], 0) << "step";
  EXPECT_LE(sum, whole);
  // a stopped profile adds nothing
  const std::vector<double> kept = prof;
  pcnn_model_train_step(&b, in.data(), 2);
  EXPECT_EQ(prof, kept);
  pcnn_model_free(&a);
  pcnn_model_free(&b);
}

// The caching sampler books each layer's per-position work to its FWD entry:
// every layer gets time, the parts stay within the whole, and the samples are
// the same bits with the profile on.
TEST(ModelProfile, CachingSamplerBooksEveryLayer) {
  const pcnn_config_t cfg = {1, 12, 2, PCNN_HEAD_BERNOULLI, 6, 5};
  pcnn_model_t m;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_model_init(&m, &cfg, 3, 4, err), 0) << err;
  std::vector<float> a((size_t)4 * 6 * 5, 0.f), b = a;
  ASSERT_EQ(pcnn_sample_cached(&m, a.data(), 4, 0, 1.f, 7, nullptr, nullptr, nullptr), 0);
  std::vector<double> prof(pcnn_model_prof_len(&m), 0.0);
  pcnn_model_profile(&m, prof.data());
  const double t0 = omp_get_wtime();
  ASSERT_EQ(pcnn_sample_cached(&m, b.data(), 4, 0, 1.f, 7, nullptr, nullptr, nullptr), 0);
  const double whole = omp_get_wtime() - t0;
  pcnn_model_profile(&m, nullptr);
  EXPECT_EQ(0, memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  double sum = 0;
  for (int i = 0; i < m.nlayers; i++) {
    EXPECT_GT(prof[(size_t)i * PCNN_DIRS + PCNN_DIR_FWD], 0) << m.layers[i].name;
    EXPECT_EQ(prof[(size_t)i * PCNN_DIRS + PCNN_DIR_BWD_DATA], 0) << m.layers[i].name;
    sum += prof[(size_t)i * PCNN_DIRS + PCNN_DIR_FWD];
  }
  EXPECT_LE(sum, whole);
  pcnn_model_free(&m);
}

}  // namespace
