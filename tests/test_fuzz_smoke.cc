// test_fuzz_smoke.cc: a short run of every libFuzzer target (tests/fuzz/,
// built by `make fuzz-build` into FUZZ_BIN_DIR, which `make test` sets). Each
// runs on a scratch copy of its committed seed corpus (tests/fuzz/corpus/<t>,
// or FUZZ_CORPUS_DIR/<t>): every seed once, then ~3 s of mutation, and must
// exit 0 with "Done" and no sanitizer, UBSan, libFuzzer or signal report. On a
// finding the crashing input is copied to FUZZ_BIN_DIR/artifacts/smoke-<t>/
// and named in the failure. Longer runs: `make fuzz`.
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "test_util.h"
#include "cli_util.h"

namespace {

using pt::cli::run_shell;

std::string env_or(const char *name, const char *dflt) {
  const char *v = std::getenv(name);
  return v && *v ? v : dflt;
}

bool is_dir(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// files in a directory (libFuzzer's crash-, timeout-, oom-, slow-unit- inputs)
int nfiles(const std::string &p) {
  int n = 0;
  DIR *dd = opendir(p.c_str());
  while (struct dirent *e = dd ? readdir(dd) : nullptr) n += e->d_name[0] != '.';
  if (dd) closedir(dd);
  return n;
}

// the first report line libFuzzer or a sanitizer printed, or ""
std::string finding(const std::string &out) {
  static const char *const pats[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                     "runtime error:", "deadly signal", "ERROR: libFuzzer",
                                     "SUMMARY: "};
  for (const char *p : pats) {
    const size_t at = out.find(p);
    if (at != std::string::npos) {
      const size_t b = out.rfind('\n', at), e = out.find('\n', at);
      return out.substr(b == std::string::npos ? 0 : b + 1,
                        (e == std::string::npos ? out.size() : e) - (b == std::string::npos ? 0 : b + 1));
    }
  }
  return "";
}

void smoke(const std::string &t) {
  const std::string dir = env_or("FUZZ_BIN_DIR", "");
  if (dir.empty()) GTEST_SKIP() << "FUZZ_BIN_DIR is not set (make test sets it to build-fuzz)";
  const std::string bin = dir + "/fuzz_" + t;
  if (access(bin.c_str(), X_OK) != 0)
    GTEST_SKIP() << bin << " is not built (make fuzz-build builds it; make test does too)";
  const std::string seeds = env_or("FUZZ_CORPUS_DIR", "tests/fuzz/corpus") + "/" + t;
  ASSERT_TRUE(is_dir(seeds)) << "no seed corpus " << seeds << " (run from the repo root)";

  pt::TmpDir d;
  ASSERT_FALSE(d.path.empty());
  const std::string corpus = d / "corpus", art = d / "artifacts";
  std::string out;
  ASSERT_EQ(run_shell("mkdir -p '" + art + "' && cp -r '" + seeds + "' '" + corpus + "'", &out), 0) << out;

  const int code = run_shell("'" + bin + "' -max_total_time=3 -rss_limit_mb=2048 -timeout=10 "
                       "-print_final_stats=1 -artifact_prefix='" + art + "/' '" + corpus + "'",
                       &out);
  const std::string what = finding(out);
  const bool done = out.find("\nDone ") != std::string::npos;
  if (code != 0 || !done || !what.empty() || nfiles(art) > 0) {
    // keep the crashing inputs where they outlive this test
    const std::string keep = dir + "/artifacts/smoke-" + t;
    std::string ignored;
    run_shell("mkdir -p '" + keep + "' && cp '" + art + "'/* '" + keep + "'/ 2>/dev/null; ls '" + keep + "'",
        &ignored);
    const std::string tail = out.size() > 6000 ? "...\n" + out.substr(out.size() - 6000) : out;
    ADD_FAILURE() << "fuzz_" << t << ": exit " << code << (done ? "" : ", no 'Done' line")
                  << (what.empty() ? "" : "\n  first report: " + what)
                  << "\n  inputs kept in " << keep << "/: " << ignored
                  << "  reproduce: " << bin << " " << keep << "/<file>\n--- output ---\n" << tail;
  }
}

}  // namespace

TEST(Fuzz, Safetensors) { smoke("safetensors"); }
TEST(Fuzz, Checkpoint) { smoke("checkpoint"); }
TEST(Fuzz, Idx) { smoke("idx"); }
TEST(Fuzz, Cifar) { smoke("cifar"); }
TEST(Fuzz, Plan) { smoke("plan"); }
TEST(Fuzz, Npy) { smoke("npy"); }
TEST(Fuzz, Prime) { smoke("prime"); }
