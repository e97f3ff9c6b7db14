// fd_util.h: central finite differences for the gradient tests (test_grad.cc).
//
// fd_grad perturbs one float, evaluates a double-valued objective at v + eps and
// v - eps and divides by the step actually taken (the float difference of the
// two perturbed values, in double), so float rounding of v +- eps does not bias
// the quotient. Objectives accumulate in double.
#pragma once
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "test_util.h"

namespace pt {

// FD tolerances: |analytic - fd| <= kFdAtol + kFdRtol |fd|. The ops are linear
// (or piecewise linear away from the kink) in each perturbed variable, so the
// only FD error is float rounding in the forward; a missing or extra tap term
// is O(0.1..1) and far above this (observed FD error: up to ~1e-5).
constexpr double kFdAtol = 1e-4;
constexpr double kFdRtol = 1e-4;

// L = sum out * r, accumulated in double
inline double dot(const float *out, const float *r, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)out[i] * r[i];
  return s;
}

template <class F>
double fd_grad(float *v, size_t i, float eps, F &&objective) {
  const float x0 = v[i];
  v[i] = x0 + eps;
  const double xp = v[i], fp = objective();
  v[i] = x0 - eps;
  const double xm = v[i], fm = objective();
  v[i] = x0;
  return (fp - fm) / (xp - xm);
}

// every index if n <= max, else max distinct seeded-random ones (always
// including the first and the last), sorted
inline std::vector<size_t> sample_indices(size_t n, size_t max, uint64_t seed) {
  std::vector<size_t> idx;
  if (n <= max) {
    for (size_t i = 0; i < n; i++) idx.push_back(i);
    return idx;
  }
  Rng r(seed);
  std::vector<char> taken(n, 0);
  idx.push_back(0);
  idx.push_back(n - 1);
  taken[0] = taken[n - 1] = 1;
  while (idx.size() < max) {
    const size_t i = (size_t)(r.next() % n);
    if (!taken[i]) { taken[i] = 1; idx.push_back(i); }
  }
  std::sort(idx.begin(), idx.end());
  return idx;
}

// Compares the analytic gradient got[i] (already minus any pre-fill, in double)
// with fd[i] at the listed indices.
inline ::testing::AssertionResult FdClose(const std::vector<double> &got,
                                          const std::vector<double> &fd,
                                          const std::vector<size_t> &idx, const std::string &what,
                                          double atol = kFdAtol, double rtol = kFdRtol) {
  size_t bad = 0;
  std::string msg;
  for (size_t j = 0; j < idx.size(); j++) {
    const double d = std::fabs(got[j] - fd[j]), lim = atol + rtol * std::fabs(fd[j]);
    if (!(d <= lim)) {
      if (bad < 5) {
        char b[200];
        snprintf(b, sizeof b, "\n  [%zu] analytic %.9g fd %.9g (|d| %.3g > %.3g)", idx[j], got[j],
                 fd[j], d, lim);
        msg += b;
      }
      bad++;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << bad << " of " << idx.size()
                                       << " checked elements differ from finite differences" << msg;
}

}  // namespace pt
