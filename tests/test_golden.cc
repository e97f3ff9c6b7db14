// test_golden.cc: our model against PyTorch (scripts/make_golden.py writes
// tests/data/golden.bin): forward logits, loss, every gradient, and three
// NAdam steps, for both heads and both channel counts, on every kernel level
// this CPU supports. Relative error <= 1e-4.
#include <cstring>
#include <fstream>
#include <map>
#include <string>

#include "test_util.h"

extern "C" {
#include "model.h"
}

namespace {

struct Tensor {
  std::vector<int> shape;
  std::vector<float> data;
};
struct Case {
  int cfg[7];  // channels, filters, depth, head, height, width, batch
  std::map<std::string, Tensor> t;
};

std::string golden_path() {
  std::string f = __FILE__;
  return f.substr(0, f.find_last_of('/') + 1) + "data/golden.bin";
}

bool load(std::vector<Case> &cases, std::string &why) {
  std::ifstream in(golden_path(), std::ios::binary);
  if (!in) return why = golden_path() + ": cannot open", false;
  char magic[8];
  uint32_t ver, n;
  in.read(magic, 8).read((char *)&ver, 4).read((char *)&n, 4);
  if (!in || memcmp(magic, "PCNNGOLD", 8) || ver != 1) return why = "bad magic/version", false;
  for (uint32_t c = 0; c < n; c++) {
    Case k;
    uint32_t nt;
    in.read((char *)k.cfg, sizeof k.cfg).read((char *)&nt, 4);
    for (uint32_t i = 0; i < nt && in; i++) {
      uint32_t len, nd;
      in.read((char *)&len, 4);
      std::string name(len, 0);
      in.read(&name[0], len).read((char *)&nd, 4);
      Tensor t;
      t.shape.resize(nd);
      size_t cnt = 1;
      for (uint32_t d = 0; d < nd; d++) in.read((char *)&t.shape[d], 4), cnt *= t.shape[d];
      t.data.resize(cnt);
      in.read((char *)t.data.data(), cnt * 4);
      k.t[name] = std::move(t);
    }
    if (!in) return why = "truncated", false;
    cases.push_back(std::move(k));
  }
  return true;
}

std::string cfg_str(const Case &k) {
  char b[120];
  snprintf(b, sizeof b, "C%d F%d D%d %s %dx%d N%d", k.cfg[0], k.cfg[1], k.cfg[2],
           pcnn_head_name(k.cfg[3]), k.cfg[4], k.cfg[5], k.cfg[6]);
  return b;
}

TEST(Golden, MatchesPyTorch) {
  std::vector<Case> cases;
  std::string why;
  ASSERT_TRUE(load(cases, why)) << why;
  ASSERT_EQ(cases.size(), 4u);
  int levels = 0;
  for (int isa = 0; isa < PCNN_ISA_FP32_COUNT; isa++) {
    if (!pcnn_isa_supported((pcnn_isa_t)isa)) continue;
    ASSERT_EQ(pcnn_kernels_set_isa((pcnn_isa_t)isa), 0);
    levels++;
    for (const Case &k : cases) {
      const std::string where = cfg_str(k) + " on " + pcnn_isa_name((pcnn_isa_t)isa);
      SCOPED_TRACE(where);
      pcnn_config_t cfg = {k.cfg[0], k.cfg[1], k.cfg[2], k.cfg[3], k.cfg[4], k.cfg[5]};
      const int n = k.cfg[6];
      pcnn_model_t m;
      char err[PCNN_ERR_LEN];
      ASSERT_EQ(pcnn_model_init(&m, &cfg, 0, n, err), 0) << err;
      for (int i = 0; i < m.ntensors; i++) {
        const pcnn_tensor_t &T = m.tensors[i];
        auto it = k.t.find(std::string("param.") + T.name);
        ASSERT_NE(it, k.t.end()) << T.name;
        ASSERT_EQ(it->second.data.size(), T.size) << T.name;
        memcpy(m.params + T.off, it->second.data.data(), T.size * 4);
      }
      const std::vector<float> &x = k.t.at("input").data;
      pcnn_model_forward(&m, x.data(), n);
      const double loss = pcnn_model_loss(&m, x.data(), n, 1.f / n);
      const Tensor &lg = k.t.at("logits");
      EXPECT_LE(pt::rel_err(m.logits, lg.data.data(), lg.data.size()), 1e-4) << "logits";
      EXPECT_LE(std::fabs(loss - k.t.at("loss").data[0]) / std::fabs(k.t.at("loss").data[0]), 1e-4)
          << "loss " << loss << " vs " << k.t.at("loss").data[0];
      pcnn_model_zero_grad(&m);
      pcnn_model_backward(&m, x.data(), n);
      for (int i = 0; i < m.ntensors; i++) {
        const pcnn_tensor_t &T = m.tensors[i];
        const Tensor &g = k.t.at(std::string("grad.") + T.name);
        EXPECT_LE(pt::rel_err(m.grads + T.off, g.data.data(), T.size), 1e-4) << "grad " << T.name;
      }
      // three NAdam steps from the same start
      const std::vector<float> &nl = k.t.at("nadam_losses").data;
      for (int s = 0; s < 3; s++) {
        const double l = pcnn_model_train_step(&m, x.data(), n);
        EXPECT_LE(std::fabs(l - nl[s]) / std::fabs(nl[s]), 1e-4) << "step " << s + 1 << ": " << l
                                                                  << " vs " << nl[s];
      }
      for (int i = 0; i < m.ntensors; i++) {
        const pcnn_tensor_t &T = m.tensors[i];
        const Tensor &a = k.t.at(std::string("after.") + T.name);
        EXPECT_LE(pt::rel_err(m.params + T.off, a.data.data(), T.size), 1e-4) << "after " << T.name;
      }
      pcnn_model_free(&m);
    }
  }
  pcnn_kernels_set_isa(pcnn_kernels_isa());
  EXPECT_GE(levels, 1);
}

}  // namespace
