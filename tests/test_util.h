// test_util.h: shared helpers for the GoogleTest suite.
// Tolerances: kernels/pcnn_tolerance.h (shared with `pixelcnn check`), applied
// here as |y - ref| <= atol + rtol |ref|.
#pragma once
#include <gtest/gtest.h>

#include <dirent.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "pcnn_kernels.h"
#include "pcnn_tolerance.h"

namespace pt {

// deterministic random numbers for tests (splitmix64)
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform(float lo = -1.f, float hi = 1.f) {
    return lo + (hi - lo) * (float)((next() >> 40) * (1.0 / 16777216.0));
  }
};

inline std::vector<float> rand_vec(size_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto &x : v) x = r.uniform(lo, hi);
  return v;
}

inline std::string conv_str(const pcnn_conv_t &c) {
  char b[160];
  snprintf(b, sizeof b, "N%d %dx%d %d->%d k%d %c G%d", c.n, c.h, c.w, c.cin, c.cout, c.k,
           c.mask == PCNN_MASK_A ? 'A' : 'B', c.groups);
  return b;
}

// a descriptor with flags 0
inline pcnn_conv_t conv(int n, int h, int w, int cin, int cout, int k, int mask, int groups) {
  pcnn_conv_t c{};
  c.n = n; c.h = h; c.w = w; c.cin = cin; c.cout = cout; c.k = k; c.mask = mask; c.groups = groups;
  return c;
}
inline size_t conv_in_size(const pcnn_conv_t &c) { return (size_t)c.n * c.h * c.w * c.cin; }
inline size_t conv_out_size(const pcnn_conv_t &c) { return (size_t)c.n * c.h * c.w * c.cout; }
inline size_t conv_w_size(const pcnn_conv_t &c) { return (size_t)c.k * c.k * c.cin * c.cout; }

// Every element within atol + rtol |ref|; on failure, the first few bad
// indices with both values, and the largest error, go in the message.
inline ::testing::AssertionResult AllClose(const float *y, const float *ref, size_t n, double atol,
                                           double rtol, const std::string &what = "") {
  size_t bad = 0;
  double worst = 0;
  size_t worst_i = 0;
  std::string msg;
  for (size_t i = 0; i < n; i++) {
    const double d = std::fabs((double)y[i] - ref[i]);
    const double lim = atol + rtol * std::fabs((double)ref[i]);
    if (!(d <= lim)) {  // also catches NaN
      if (bad < 5) {
        char b[200];
        snprintf(b, sizeof b, "\n  [%zu] got %.9g want %.9g (|d| %.3g > %.3g)", i, y[i], ref[i], d,
                 lim);
        msg += b;
      }
      bad++;
      if (!(d <= worst)) { worst = d; worst_i = i; }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  char b[200];
  snprintf(b, sizeof b, "%s: %zu of %zu elements out of tolerance (worst at %zu, |d| %.3g)",
           what.c_str(), bad, n, worst_i, worst);
  return ::testing::AssertionFailure() << b << msg;
}

// Relative error of a whole tensor: max |y - ref| / max(max |ref|, tiny).
inline double rel_err(const float *y, const float *ref, size_t n) {
  double md = 0, mr = 0;
  for (size_t i = 0; i < n; i++) {
    md = std::fmax(md, std::fabs((double)y[i] - ref[i]));
    mr = std::fmax(mr, std::fabs((double)ref[i]));
  }
  if (std::isnan(md)) return INFINITY;
  return md / std::fmax(mr, 1e-30);
}

// An error message names the file and contains the reason.
inline ::testing::AssertionResult Names(const char *err, const std::string &file,
                                        const std::string &reason) {
  const std::string e(err);
  if (e.find(file) != std::string::npos && e.find(reason) != std::string::npos)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "error \"" << e << "\" should name \"" << file
                                       << "\" and say \"" << reason << "\"";
}

// A fresh directory under /tmp, removed with its contents at scope exit.
struct TmpDir {
  std::string path;
  TmpDir() {
    char t[] = "/tmp/pcnn_test_XXXXXX";
    path = mkdtemp(t) ? t : "";
  }
  ~TmpDir() {
    if (!path.empty()) (void)!system(("rm -rf '" + path + "'").c_str());
  }
  std::string operator/(const std::string &f) const { return path + "/" + f; }
  // the names in it, without . entries
  std::vector<std::string> list() const {
    std::vector<std::string> v;
    DIR *d = opendir(path.c_str());
    while (struct dirent *e = d ? readdir(d) : nullptr)
      if (e->d_name[0] != '.') v.push_back(e->d_name);
    if (d) closedir(d);
    return v;
  }
};

}  // namespace pt
