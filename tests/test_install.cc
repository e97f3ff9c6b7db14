// test_install.cc: the library face. The public API (model/pixelcnn.h): its
// error contract (a status and a message, never a crash, for every bad
// argument), that it computes what the internal model computes, and a
// save/load round trip. Then `make install` into a temporary prefix, and the
// library as a program that embeds it sees it: the installed layout, the header alone
// (C11 -Wpedantic and C++), examples/embed.c built with pkg-config and run,
// linked shared and static (pkg-config --static), the checkpoint it wrote read
// back by the example and by the installed pixelcnn, the .so exporting only
// pixelcnn_*, and `make uninstall`. `make test` sets PCNN_MAKE (make -C the
// source tree with this build's BUILD and SANITIZE), PCNN_SRC_DIR, PCNN_CC and
// PCNN_CXX. The prefix (under TMPDIR) is removed when every check passed,
// kept and named in the failure otherwise. Under `make test SANITIZE=1` the
// installed library is the sanitized one and its pixelcnn.pc carries the
// -fsanitize flags, so the example is built and run with ASan + UBSan too.
#include <gtest/gtest.h>
#include <omp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli_util.h"
#include "pixelcnn.h"
#include "test_util.h"

extern "C" {
#include "model.h"
#include "sample.h"
}

namespace {

// ---- the API in-process ----

pixelcnn_config_t small_cfg() {
  pixelcnn_config_t c = pixelcnn_config_default();
  c.filters = 8, c.depth = 1, c.height = 6, c.width = 5;
  return c;
}

std::vector<float> images(int n, const pixelcnn_config_t &c, uint64_t seed) {
  pt::Rng r(seed);
  std::vector<float> v((size_t)n * c.height * c.width * c.channels);
  for (float &x : v) x = (float)(r.next() % 2);
  return v;
}

struct Handle {  // frees the model at the end of a test
  pixelcnn_t *m = nullptr;
  ~Handle() { pixelcnn_free(m); }
};

// the call failed with status want and a message containing what
#define EXPECT_FAILS(call, want, what)                                                  \
  do {                                                                                \
    std::strcpy(err, "(untouched)");                                                  \
    EXPECT_EQ((call), (want)) << #call;                                               \
    EXPECT_NE(std::string(err).find(what), std::string::npos) << #call << ": " << err; \
  } while (0)

TEST(InstallApi, EveryBadArgumentIsAStatusAndAMessage) {
  char err[PIXELCNN_ERR_LEN];
  pixelcnn_config_t c = small_cfg();
  Handle h;
  EXPECT_FAILS(pixelcnn_create(nullptr, &c, 1, err), PIXELCNN_EINVAL, "out is NULL");
  EXPECT_FAILS(pixelcnn_create(&h.m, nullptr, 1, err), PIXELCNN_EINVAL, "cfg is NULL");
  c.filters = 7;
  EXPECT_FAILS(pixelcnn_create(&h.m, &c, 1, err), PIXELCNN_EINVAL, "pixelcnn_create: cfg.filters: must be even");
  EXPECT_EQ(h.m, nullptr);
  c = small_cfg(), c.height = 0;
  EXPECT_FAILS(pixelcnn_create(&h.m, &c, 1, err), PIXELCNN_EINVAL, "image size 0x5");
  c = small_cfg(), c.head = 2;
  EXPECT_FAILS(pixelcnn_create(&h.m, &c, 1, err), PIXELCNN_EINVAL, "cfg.head");
  EXPECT_EQ(pixelcnn_create(&h.m, &c, 1, nullptr), PIXELCNN_EINVAL);  // err may be NULL
  EXPECT_FAILS(pixelcnn_load(&h.m, "/nonexistent/m.safetensors", err), PIXELCNN_EFILE, "/nonexistent/m.safetensors");
  EXPECT_EQ(pixelcnn_load(&h.m, "/nonexistent/m.safetensors", nullptr), PIXELCNN_EFILE);
  EXPECT_EQ(h.m, nullptr);

  c = small_cfg();
  ASSERT_EQ(pixelcnn_create(&h.m, &c, 1, err), PIXELCNN_OK) << err;
  std::vector<float> img = images(2, c, 3), lg(pixelcnn_logits_len(h.m, 2));
  double nll;
  EXPECT_FAILS(pixelcnn_logits(nullptr, lg.data(), img.data(), 2, err), PIXELCNN_EINVAL, "m is NULL");
  EXPECT_FAILS(pixelcnn_logits(h.m, nullptr, img.data(), 2, err), PIXELCNN_EINVAL, "logits is NULL");
  EXPECT_FAILS(pixelcnn_logits(h.m, lg.data(), nullptr, 2, err), PIXELCNN_EINVAL, "images is NULL");
  EXPECT_FAILS(pixelcnn_nll(h.m, &nll, img.data(), 0, err), PIXELCNN_EINVAL, "pixelcnn_nll: n = 0 is not in 1..4096");
  EXPECT_FAILS(pixelcnn_nll(h.m, &nll, img.data(), 4097, err), PIXELCNN_EINVAL, "n = 4097");
  EXPECT_FAILS(pixelcnn_nll(h.m, nullptr, img.data(), 2, err), PIXELCNN_EINVAL, "nll is NULL");
  img[37] = 1.5f;
  EXPECT_FAILS(pixelcnn_train_step(h.m, &nll, img.data(), 2, err), PIXELCNN_EINVAL, "images[37] = 1.5 is not in [0, 1]");
  img[37] = NAN;
  EXPECT_FAILS(pixelcnn_nll(h.m, &nll, img.data(), 2, err), PIXELCNN_EINVAL, "images[37] = nan");
  img[37] = -0.f;
  EXPECT_EQ(pixelcnn_nll(h.m, &nll, img.data(), 2, err), PIXELCNN_OK) << err;

  // sampling: only the primed rows are read
  std::vector<float> out(img.size(), NAN);
  EXPECT_FAILS(pixelcnn_sample(h.m, out.data(), 2, 7, 1.f, 1, PIXELCNN_SAMPLER_CACHED, err), PIXELCNN_EINVAL,
               "prime_rows = 7 is not in 0..6");
  EXPECT_FAILS(pixelcnn_sample(h.m, out.data(), 2, 1, 1.f, 1, PIXELCNN_SAMPLER_CACHED, err), PIXELCNN_EINVAL,
               "images[0] = nan");
  EXPECT_FAILS(pixelcnn_sample(h.m, out.data(), 2, 0, 0.f, 1, PIXELCNN_SAMPLER_NAIVE, err), PIXELCNN_EINVAL,
               "temperature");
  EXPECT_FAILS(pixelcnn_sample(h.m, out.data(), 2, 0, 1.f, 1, (pixelcnn_sampler_t)7, err), PIXELCNN_EINVAL,
               "sampler = 7");
  EXPECT_EQ(pixelcnn_sample(h.m, out.data(), 2, 0, 1.f, 1, PIXELCNN_SAMPLER_CACHED, err), PIXELCNN_OK) << err;

  EXPECT_FAILS(pixelcnn_save(h.m, "/proc/no/such/dir/m.safetensors", 1, err), PIXELCNN_EFILE, "/proc/no/such/dir");
  EXPECT_FAILS(pixelcnn_use_plan(h.m, "/nonexistent.plan", err), PIXELCNN_EFILE, "/nonexistent.plan");
  EXPECT_FAILS(pixelcnn_set_precision(h.m, "fp16", err), PIXELCNN_EINVAL, "'fp16' is not fp32 or bf16");
  EXPECT_FAILS(pixelcnn_set_precision(h.m, nullptr, err), PIXELCNN_EINVAL, "precision is NULL");
  for (int s = 0; s <= 5; s++) EXPECT_NE(pixelcnn_status_str((pixelcnn_status_t)s), nullptr);
  EXPECT_STREQ(pixelcnn_version(), PIXELCNN_VERSION);
  pixelcnn_free(nullptr);
}

// the wrapper computes what the internal model does, and a checkpoint round-trips
TEST(InstallApi, MatchesTheModelAndRoundTripsACheckpoint) {
  char err[PIXELCNN_ERR_LEN];
  pixelcnn_config_t c = small_cfg();
  c.channels = 3, c.head = PIXELCNN_HEAD_SOFTMAX256;
  Handle h;
  ASSERT_EQ(pixelcnn_create(&h.m, &c, 5, err), PIXELCNN_OK) << err;
  const pixelcnn_config_t g = pixelcnn_get_config(h.m);
  EXPECT_EQ(std::memcmp(&g, &c, sizeof c), 0);
  const pcnn_config_t k = {3, 8, 1, PCNN_HEAD_SOFTMAX256, 6, 5};
  EXPECT_EQ(pixelcnn_num_params(h.m), pcnn_config_nparams(&k));
  ASSERT_EQ(pixelcnn_logits_len(h.m, 3), (size_t)3 * 6 * 5 * 3 * 256);

  pcnn_model_t m;
  ASSERT_EQ(pcnn_model_init(&m, &k, 5, 3, err), 0) << err;
  std::vector<float> img = images(3, c, 9), lg(pixelcnn_logits_len(h.m, 3));
  ASSERT_EQ(pixelcnn_logits(h.m, lg.data(), img.data(), 3, err), PIXELCNN_OK) << err;
  pcnn_model_forward(&m, img.data(), 3);
  EXPECT_EQ(std::memcmp(lg.data(), m.logits, lg.size() * sizeof(float)), 0) << "logits differ from the model's";
  const double ref = pcnn_model_loss(&m, img.data(), 3, 0.f) / 3;
  double nll = 0, step_nll = 0;
  ASSERT_EQ(pixelcnn_nll(h.m, &nll, img.data(), 3, err), PIXELCNN_OK) << err;
  EXPECT_EQ(nll, ref);
  ASSERT_EQ(pixelcnn_train_step(h.m, &step_nll, img.data(), 3, err), PIXELCNN_OK) << err;
  EXPECT_EQ(step_nll, ref);
  EXPECT_EQ(pcnn_model_train_step(&m, img.data(), 3) / 3, ref);
  ASSERT_EQ(pixelcnn_nll(h.m, &nll, img.data(), 3, err), PIXELCNN_OK) << err;
  pcnn_model_forward(&m, img.data(), 3);
  EXPECT_EQ(nll, pcnn_model_loss(&m, img.data(), 3, 0.f) / 3) << "the step differs from the model's";

  // both samplers, primed with 2 rows: the same images as the internal samplers
  std::vector<float> a = img, b = img, r = img;
  ASSERT_EQ(pixelcnn_sample(h.m, a.data(), 3, 2, 1.f, 11, PIXELCNN_SAMPLER_NAIVE, err), PIXELCNN_OK) << err;
  ASSERT_EQ(pixelcnn_sample(h.m, b.data(), 3, 2, 1.f, 11, PIXELCNN_SAMPLER_CACHED, err), PIXELCNN_OK) << err;
  pcnn_sample_naive(&m, r.data(), 3, 2, 1.f, 11, nullptr, nullptr);
  EXPECT_EQ(a, r);
  EXPECT_EQ(std::memcmp(a.data(), img.data(), 2 * 5 * 3 * sizeof(float)), 0) << "primed rows changed";
  int differ = 0;
  for (size_t i = 0; i < a.size(); i++) differ += a[i] != b[i];
  EXPECT_LE(differ, 1) << "naive and cached samplers drew different images";
  pcnn_model_free(&m);

  // save with the optimizer, load: same config, logits and next step
  char tmpl[] = "/tmp/pcnn-api-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/m.safetensors";
  ASSERT_EQ(pixelcnn_save(h.m, path.c_str(), 1, err), PIXELCNN_OK) << err;
  Handle l;
  ASSERT_EQ(pixelcnn_load(&l.m, path.c_str(), err), PIXELCNN_OK) << err;
  const pixelcnn_config_t lc = pixelcnn_get_config(l.m);
  EXPECT_EQ(std::memcmp(&lc, &c, sizeof c), 0);
  std::vector<float> ll(lg.size());
  ASSERT_EQ(pixelcnn_logits(h.m, lg.data(), img.data(), 3, err), PIXELCNN_OK) << err;
  ASSERT_EQ(pixelcnn_logits(l.m, ll.data(), img.data(), 3, err), PIXELCNN_OK) << err;
  EXPECT_EQ(lg, ll);
  double s1 = 0, s2 = 0;
  ASSERT_EQ(pixelcnn_train_step(h.m, &s1, img.data(), 3, err), PIXELCNN_OK) << err;
  ASSERT_EQ(pixelcnn_train_step(l.m, &s2, img.data(), 3, err), PIXELCNN_OK) << err;
  ASSERT_EQ(pixelcnn_logits(h.m, lg.data(), img.data(), 3, err), PIXELCNN_OK) << err;
  ASSERT_EQ(pixelcnn_logits(l.m, ll.data(), img.data(), 3, err), PIXELCNN_OK) << err;
  EXPECT_EQ(lg, ll) << "the loaded optimizer state steps differently";
  std::remove(path.c_str());
  rmdir(tmpl);
}

// the header's thread contract: different handles on different threads at
// once. The two threads are an OpenMP team (the library's own parallel
// regions inside it then run on one thread each).
// bf16: the wrapper runs the internal model's bf16 plan (the same bits), whose
// logits differ from fp32's; back to fp32 gives fp32's bits again
TEST(InstallApi, PrecisionBf16IsTheModelsBf16Plan) {
  if (pcnn_bf16_level(pcnn_kernels_isa()) == PCNN_ISA_REF)
    GTEST_SKIP() << "no bf16 SIMD kernel level runs here (avx512bf16 needs AVX512_BF16)";
  char err[PIXELCNN_ERR_LEN];
  pixelcnn_config_t c = small_cfg();
  Handle h;
  ASSERT_EQ(pixelcnn_create(&h.m, &c, 5, err), PIXELCNN_OK) << err;
  const pcnn_config_t k = {1, 8, 1, PCNN_HEAD_BERNOULLI, 6, 5};
  pcnn_model_t m;
  ASSERT_EQ(pcnn_model_init(&m, &k, 5, 3, err), 0) << err;
  std::vector<float> img = images(3, c, 9), f32(pixelcnn_logits_len(h.m, 3)), b16(f32.size()), again(f32.size());
  ASSERT_EQ(pixelcnn_logits(h.m, f32.data(), img.data(), 3, err), PIXELCNN_OK) << err;
  ASSERT_EQ(pixelcnn_set_precision(h.m, "bf16", err), PIXELCNN_OK) << err;
  ASSERT_EQ(pixelcnn_logits(h.m, b16.data(), img.data(), 3, err), PIXELCNN_OK) << err;
  pcnn_plan_t p;
  pcnn_plan_default_prec(&p, PCNN_PREC_BF16);
  pcnn_model_set_plan(&m, &p);
  pcnn_model_forward(&m, img.data(), 3);
  EXPECT_EQ(std::memcmp(b16.data(), m.logits, b16.size() * sizeof(float)), 0) << "bf16 logits differ from the model's";
  EXPECT_NE(std::memcmp(b16.data(), f32.data(), b16.size() * sizeof(float)), 0) << "bf16 changed nothing";
  ASSERT_EQ(pixelcnn_set_precision(h.m, "fp32", err), PIXELCNN_OK) << err;
  ASSERT_EQ(pixelcnn_logits(h.m, again.data(), img.data(), 3, err), PIXELCNN_OK) << err;
  EXPECT_EQ(std::memcmp(again.data(), f32.data(), f32.size() * sizeof(float)), 0);
  pcnn_model_free(&m);
}

TEST(InstallApi, TwoHandlesOnTwoThreads) {
  const pixelcnn_config_t c = small_cfg();
  const std::vector<float> img = images(4, c, 21);
  // seed s: create, 3 train steps, sample 2 images with the cached sampler -> out
  auto work = [&](uint64_t s, std::vector<float> *out, std::string *why) {
    char err[PIXELCNN_ERR_LEN] = "";
    Handle h;
    out->assign(2 * 6 * 5, 0.f);
    if (pixelcnn_create(&h.m, &c, s, err) == PIXELCNN_OK)
      for (int i = 0; i < 3 && !err[0]; i++) pixelcnn_train_step(h.m, nullptr, img.data(), 4, err);
    if (!err[0]) pixelcnn_sample(h.m, out->data(), 2, 0, 1.f, s, PIXELCNN_SAMPLER_CACHED, err);
    *why = err;
  };
  std::vector<float> ref[2], got[2];
  std::string eref[2], egot[2];
  for (int i = 0; i < 2; i++) work(i + 1, &ref[i], &eref[i]);  // one at a time
  int team = 0;
#pragma omp parallel num_threads(2)
  {
    const int i = omp_get_thread_num();
    if (i == 0) team = omp_get_num_threads();
    if (i < 2) work(i + 1, &got[i], &egot[i]);
  }
  if (team < 2) GTEST_SKIP() << "OpenMP gave a team of " << team << " thread(s)";
  for (int i = 0; i < 2; i++) {
    EXPECT_EQ(eref[i], "");
    EXPECT_EQ(egot[i], "");
    EXPECT_EQ(ref[i], got[i]) << "handle " << i << " differs when the other runs at the same time";
  }
  EXPECT_NE(ref[0], ref[1]);
}

// ---- make install ----

std::string env(const char *name, const char *dflt = "") {
  const char *v = std::getenv(name);
  return v && *v ? v : dflt;
}

struct Sh {
  int code;
  std::string out;
};

// runs a shell command (with a timeout, so a hang fails instead of stalling the suite)
Sh sh(const std::string &cmd, int timeout_s = 600) {
  Sh r{-1, ""};
  if (cmd.find('\'') != std::string::npos) return Sh{-1, "single quote in the test's command: " + cmd};
  r.code = pt::cli::run_shell("timeout -k 5 " + std::to_string(timeout_s) + " sh -c '" + cmd + "'", &r.out);
  return r;
}

bool exists(const std::string &p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

// the number after `key` in out, or -1
double number_after(const std::string &out, const std::string &key) {
  const size_t at = out.find(key);
  return at == std::string::npos ? -1 : std::atof(out.c_str() + at + key.size());
}

TEST(Install, EmbedExampleBuildsAndRunsAgainstTheInstalledLibrary) {
  // make, outside the make that runs this test (its jobserver is not ours)
  const std::string make = "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL " + env("PCNN_MAKE") + " ";
  const std::string src = env("PCNN_SRC_DIR");
  if (env("PCNN_MAKE").empty() || src.empty()) GTEST_SKIP() << "PCNN_MAKE / PCNN_SRC_DIR not set (make test sets them)";
  const std::string cc = env("PCNN_CC", "cc"), cxx = env("PCNN_CXX", "c++");
  ASSERT_EQ(sh("command -v pkg-config").code, 0) << "pkg-config is missing (scripts/install-deps.sh installs it)";

  std::string tmpl = env("TMPDIR", "/tmp") + "/pcnn-install-XXXXXX";
  ASSERT_NE(mkdtemp(&tmpl[0]), nullptr) << tmpl;
  const std::string pre = tmpl, lib = pre + "/lib";
  // the prefix's pkg-config file only; the run finds libpixelcnn.so by LD_LIBRARY_PATH
  const std::string pc = "PKG_CONFIG_PATH=" + lib + "/pkgconfig ", ld = "LD_LIBRARY_PATH=" + lib + " ";
#define CHECK_SH(r, what) \
  ASSERT_EQ((r).code, 0) << what << " (prefix kept: " << pre << "):\n" << (r).out

  const Sh inst = sh(make + "install PREFIX=" + pre);
  CHECK_SH(inst, "make install");
  const char *const files[] = {"bin/pixelcnn", "include/pixelcnn.h", "lib/libpixelcnn.a", "lib/libpixelcnn.so",
                               "lib/libpixelcnn.so.0", "lib/pkgconfig/pixelcnn.pc"};
  for (const char *f : files) EXPECT_TRUE(exists(pre + "/" + f)) << "make install did not install " << f;

  // the header alone: strict C11 and C++, nothing but the prefix on the include path
  const std::string hdr_c = pre + "/hdr.c";
  const Sh hdr = sh("printf \"#include <pixelcnn.h>\\nint main(void) { return pixelcnn_version()[0] == 0; }\\n\" > " +
              hdr_c + " && " + cc + " -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I" + pre +
              "/include " + hdr_c + " && " + cxx + " -std=c++17 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -x c++ -I" +
              pre + "/include " + hdr_c);
  CHECK_SH(hdr, "pixelcnn.h does not compile on its own");

  // the example, linked shared (what cc picks when both libraries are there)
  const std::string flags = " -std=c11 -Wall -Wextra -Wpedantic -Werror ";
  const Sh build = sh("cd " + src + " && " + pc + cc + flags + "examples/embed.c $(" + pc +
                      "pkg-config --cflags --libs pixelcnn) -o " + pre + "/embed");
  CHECK_SH(build, "cc examples/embed.c $(pkg-config --cflags --libs pixelcnn)");
  const Sh ldd = sh(ld + "ldd " + pre + "/embed");
  EXPECT_NE(ldd.out.find(lib + "/libpixelcnn.so.0"), std::string::npos) << "not linked to the installed .so:\n" << ldd.out;

  const std::string ckpt = pre + "/m.safetensors";
  const Sh first = sh(ld + pre + "/embed " + ckpt, 300);
  CHECK_SH(first, "embed (new model)");
  EXPECT_NE(first.out.find("new model"), std::string::npos) << first.out;
  const double before = number_after(first.out, "nll before: ");
  const double after = number_after(first.out, "steps: ");
  EXPECT_GT(before, 0) << first.out;
  EXPECT_LT(after, 0.5 * before) << "training did not lower the NLL:\n" << first.out;
  EXPECT_NE(first.out.find("saved " + ckpt), std::string::npos) << first.out;

  // the checkpoint it saved: loaded by the example (same NLL), and by the installed program
  const Sh second = sh(ld + pre + "/embed " + ckpt, 300);
  CHECK_SH(second, "embed (loaded model)");
  EXPECT_NE(second.out.find("loaded model"), std::string::npos) << second.out;
  EXPECT_EQ(number_after(second.out, "nll before: "), after) << first.out << second.out;
  const Sh info = sh(pre + "/bin/pixelcnn info --ckpt " + ckpt);
  CHECK_SH(info, "the installed pixelcnn reading the example's checkpoint");
  EXPECT_NE(info.out.find("filters 16, depth 1"), std::string::npos) << info.out;

  // linked static: libpixelcnn.a and pkg-config --static's private libraries
  const Sh sbuild = sh("cd " + src + " && L=$(" + pc + "pkg-config --static --libs pixelcnn) && " + pc + cc +
                       flags + "examples/embed.c $(" + pc + "pkg-config --cflags pixelcnn) " +
                       "$(echo \"$L\" | sed \"s/-lpixelcnn/-Wl,-Bstatic -lpixelcnn -Wl,-Bdynamic/\") -o " +
                       pre + "/embed_static");
  CHECK_SH(sbuild, "static link with pkg-config --static");
  const Sh needed = sh("readelf -d " + pre + "/embed_static");
  EXPECT_EQ(needed.out.find("libpixelcnn"), std::string::npos) << "embed_static needs the .so:\n" << needed.out;
  const Sh stat_run = sh(pre + "/embed_static", 300);
  CHECK_SH(stat_run, "embed_static");
  EXPECT_EQ(number_after(stat_run.out, "steps: "), after) << "static and shared builds differ:\n"
                                                          << first.out << stat_run.out;

  // the .so exports the public API and nothing else
  const Sh syms = sh("nm -D --defined-only " + lib + "/libpixelcnn.so | awk \"{print \\$3}\"");
  CHECK_SH(syms, "nm -D");
  for (const char *f : {"pixelcnn_create", "pixelcnn_load", "pixelcnn_save", "pixelcnn_sample"})
    EXPECT_NE(syms.out.find(f), std::string::npos) << syms.out;
  const Sh other = sh("nm -D --defined-only " + lib + "/libpixelcnn.so | awk \"{print \\$3}\" | grep -v \"^pixelcnn_\"");
  EXPECT_NE(other.code, 0) << "libpixelcnn.so exports more than pixelcnn_*:\n" << other.out;

  // make uninstall removes every file it installed
  const Sh uninst = sh(make + "uninstall PREFIX=" + pre);
  CHECK_SH(uninst, "make uninstall");
  for (const char *f : files) EXPECT_FALSE(exists(pre + "/" + f)) << "make uninstall left " << f;
#undef CHECK_SH
  if (!HasFailure()) sh("rm -rf " + pre);
}

}  // namespace
