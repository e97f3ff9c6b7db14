// cli_util.h: running the pixelcnn program from a test (PIXELCNN_BIN, set by
// `make test`) and the error contract every bad input must keep.
#ifndef PCNN_TESTS_CLI_UTIL_H
#define PCNN_TESTS_CLI_UTIL_H

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace pt {
namespace cli {

inline std::string bin() {
  const char *b = getenv("PIXELCNN_BIN");
  return b ? b : "build/pixelcnn";
}

struct Proc {
  int code;         // exit status; 124 if it was killed for running too long, -1 on a signal
  std::string out;  // stdout + stderr
};

// runs a shell command line; returns its exit status and stdout + stderr
inline int run_shell(const std::string &cmd, std::string *out) {
  FILE *p = popen((cmd + " 2>&1").c_str(), "r");
  out->clear();
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// runs `pixelcnn ARGS` under `timeout`, so a hang is a failure and not a stuck suite
inline Proc run(const std::string &args, int timeout_s = 300) {
  Proc r{-1, ""};
  r.code = run_shell("timeout -k 5 " + std::to_string(timeout_s) + " " + bin() + " " + args, &r.out);
  return r;
}

inline bool have_bin() { return access(bin().c_str(), X_OK) == 0; }
#define NEED_BIN() \
  if (!pt::cli::have_bin()) GTEST_SKIP() << pt::cli::bin() << " not built (make test builds it)"

// the error contract: non-zero exit (not a crash or a hang), naming `what`
inline ::testing::AssertionResult FailsNaming(const Proc &r, const std::string &what) {
  if (r.code == 0) return ::testing::AssertionFailure() << "exit 0, output:\n" << r.out;
  if (r.code == 124) return ::testing::AssertionFailure() << "hung (killed by timeout):\n" << r.out;
  if (r.code < 0 || r.code > 128) return ::testing::AssertionFailure() << "killed by a signal:\n" << r.out;
  if (r.out.find(what) == std::string::npos)
    return ::testing::AssertionFailure() << "error does not name '" << what << "':\n" << r.out;
  if (r.out.find("Segmentation") != std::string::npos || r.out.find("Sanitizer") != std::string::npos ||
      r.out.find("runtime error") != std::string::npos)
    return ::testing::AssertionFailure() << "crashed:\n" << r.out;
  return ::testing::AssertionSuccess();
}

// ... and the whole output is that one line
inline ::testing::AssertionResult FailsWithOneLine(const Proc &r, const std::string &what) {
  ::testing::AssertionResult a = FailsNaming(r, what);
  if (!a) return a;
  size_t lines = 0;
  for (char c : r.out) lines += c == '\n';
  if (lines != 1 || r.out.back() != '\n')
    return ::testing::AssertionFailure() << "not one line:\n" << r.out;
  return ::testing::AssertionSuccess();
}

inline const char *kTiny = "--filters 8 --depth 1 --batch 8 --limit 256 --test-limit 64 --threads 1 --quiet";

inline std::string slurp(const std::string &p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace cli
}  // namespace pt

#endif  // PCNN_TESTS_CLI_UTIL_H
