// config_name.h: the GoogleTest parameter name of a model configuration,
// e.g. C1_F8_D1_bernoulli_5x4 (test_model.cc, test_sample_cached.cc), and
// a batch of input images for a configuration.
#ifndef PCNN_TESTS_CONFIG_NAME_H
#define PCNN_TESTS_CONFIG_NAME_H
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"

extern "C" {
#include "model.h"
}

inline std::string config_name(const ::testing::TestParamInfo<pcnn_config_t> &i) {
  const pcnn_config_t &c = i.param;
  return "C" + std::to_string(c.channels) + "_F" + std::to_string(c.filters) + "_D" +
         std::to_string(c.depth) + "_" + pcnn_head_name(c.head) + "_" + std::to_string(c.height) +
         "x" + std::to_string(c.width);
}

// n images (n,H,W,C) of levels k/255 from seed: inputs, and for softmax256
// their own targets
inline std::vector<float> model_batch(int n, const pcnn_config_t &cfg, uint64_t seed) {
  pt::Rng r(seed);
  std::vector<float> v((size_t)n * cfg.height * cfg.width * cfg.channels);
  for (auto &x : v) x = (float)(r.next() % 256) / 255.f;
  return v;
}
#endif
