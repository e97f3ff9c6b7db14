// test_hostile.cc: hostile input (issue 11). One regression test per defect
// found by mutating checkpoints, data files, plan files and flags: each bad
// input gets one clear line and a non-zero exit, never a crash, a hang, a
// silent wrong result or a lost checkpoint. Also the fault injection: a save
// that runs out of file space, and kill -9 at random points of training.
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cli_util.h"
#include "test_util.h"

extern "C" {
#include "checkpoint.h"
#include "data.h"
#include "model.h"
#include "plan.h"
#include "safetensors.h"
#include "values.h"
}

extern char **environ;

namespace {

using namespace pt::cli;
using pt::TmpDir;

void write_bytes(const std::string &p, const std::string &b) {
  FILE *f = fopen(p.c_str(), "wb");
  ASSERT_TRUE(f) << p;
  ASSERT_EQ(fwrite(b.data(), 1, b.size(), f), b.size());
  fclose(f);
}

// a safetensors file split into its JSON header and the rest
struct StFile {
  std::string json, data;
  explicit StFile(const std::string &bytes) {
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++) hl |= (uint64_t)(uint8_t)bytes[k] << (8 * k);
    json = bytes.substr(8, hl);
    while (!json.empty() && json.back() == ' ') json.pop_back();
    data = bytes.substr(8 + hl);
  }
  std::string bytes() const {
    std::string j = json;
    while (j.size() % 8) j += ' ';
    std::string out(8, '\0');
    for (int k = 0; k < 8; k++) out[k] = (char)((uint64_t)j.size() >> (8 * k));
    return out + j + data;
  }
  // "key":"value" in __metadata__ (the writer prints without spaces)
  void set_meta(const std::string &key, const std::string &value) {
    const std::string k = "\"" + key + "\":\"";
    const size_t p = json.find(k);
    ASSERT_NE(p, std::string::npos) << key;
    const size_t e = json.find('"', p + k.size());
    json.replace(p + k.size(), e - p - k.size(), value);
  }
  void add_meta_first(const std::string &kv) {  // inserted before every other key
    const size_t p = json.find("\"__metadata__\":{");
    ASSERT_NE(p, std::string::npos);
    json.insert(p + 16, kv + ",");
  }
};

// a tiny trained checkpoint (F=8, D=1, two steps, with optimizer state)
std::string tiny_ckpt(const TmpDir &d, const std::string &name = "m.st") {
  Proc r = run(std::string("train ") + kTiny + " --steps 2 --out " + (d / name) + " --log " + (d / "l.csv"));
  EXPECT_EQ(r.code, 0) << r.out;
  return d / name;
}

std::string meta_of(const std::string &ckpt, const std::string &key) {
  pcnn_model_t m;
  static pcnn_ckpt_extra_t x;
  char err[PCNN_ERR_LEN];
  if (pcnn_ckpt_load(ckpt.c_str(), &m, 0, nullptr, &x, err)) return std::string("load failed: ") + err;
  pcnn_model_free(&m);
  const char *v = pcnn_ckpt_extra_get(&x, key.c_str());
  return v ? v : "(missing)";
}

// writes a copy of src with f applied to its header
std::string edited(const TmpDir &d, const std::string &src, const std::string &name,
                   const std::function<void(StFile &)> &f) {
  StFile s(slurp(src));
  f(s);
  write_bytes(d / name, s.bytes());
  return d / name;
}

// writes a copy of src with elements of tensors set: {tensor, first, count, value}
struct Poke {
  std::string tensor;
  size_t first, count;
  float value;
};
std::string poked(const TmpDir &d, const std::string &src, const std::string &name, const std::vector<Poke> &pokes) {
  std::string b = slurp(src);
  pcnn_st_t *st;
  char err[PCNN_ERR_LEN];
  EXPECT_EQ(pcnn_st_open(&st, src.c_str(), err), 0) << err;
  uint64_t hl = 0;
  for (int k = 0; k < 8; k++) hl |= (uint64_t)(uint8_t)b[k] << (8 * k);
  for (const auto &p : pokes) {
    const pcnn_st_view_t *t = pcnn_st_find(st, p.tensor.c_str());
    EXPECT_TRUE(t) << p.tensor;
    if (!t) continue;
    const size_t off = (const char *)t->data - (const char *)pcnn_st_at(st, 0)->data;
    for (size_t i = p.first; i < p.first + p.count && 4 * i < t->nbytes; i++)
      memcpy(&b[8 + hl + off + 4 * i], &p.value, 4);
  }
  pcnn_st_close(st);
  write_bytes(d / name, b);
  return d / name;
}
std::string poked(const TmpDir &d, const std::string &src, const std::string &name, const std::string &tensor,
                  size_t i, float v) {
  return poked(d, src, name, {{tensor, i, 1, v}});
}

// a directory data set: train (n images h x w x c) and test files
std::string idx_dir(const TmpDir &d, const std::string &name, int h, int w, int c, int th, int tw,
                    int tc) {
  const std::string dir = d / name;
  mkdir(dir.c_str(), 0755);
  std::vector<uint8_t> a(64 * h * w * c), b(16 * th * tw * tc);
  for (size_t i = 0; i < a.size(); i++) a[i] = (uint8_t)(i * 37);
  for (size_t i = 0; i < b.size(); i++) b[i] = (uint8_t)(i * 11);
  char err[PCNN_ERR_LEN];
  EXPECT_EQ(pcnn_idx_write((dir + "/train-images-idx3-ubyte").c_str(), a.data(), 64, h, w, c, 0, err), 0) << err;
  EXPECT_EQ(pcnn_idx_write((dir + "/t10k-images-idx3-ubyte").c_str(), b.data(), 16, th, tw, tc, 0, err), 0) << err;
  return dir;
}

// 1. the gzip error path formatted its message from freed memory
TEST(Hostile, GzipWithBadCrcOrTruncatedIsOneClearLine) {
  TmpDir d;
  std::vector<uint8_t> px(40 * 8 * 8);
  for (size_t i = 0; i < px.size(); i++) px[i] = (uint8_t)(i * 7 + i / 13);
  char err[PCNN_ERR_LEN];
  const std::string gz = d / "x.gz";
  ASSERT_EQ(pcnn_idx_write(gz.c_str(), px.data(), 40, 8, 8, 1, 1, err), 0) << err;
  std::string b = slurp(gz);
  std::string crc = b;
  memset(&crc[crc.size() - 8], 0, 4);  // the CRC32: the 4 bytes before the length
  write_bytes(d / "crc.gz", crc);
  write_bytes(d / "trunc.gz", b.substr(0, b.size() / 2));
  pcnn_dataset_t ds;
  ASSERT_NE(pcnn_idx_read(&ds, (d / "crc.gz").c_str(), 0, -1, err), 0);
  EXPECT_TRUE(pt::Names(err, d / "crc.gz", "corrupt gzip stream")) << err;
  EXPECT_NE(strstr(err, "incorrect data check"), nullptr) << err;
  ASSERT_NE(pcnn_idx_read(&ds, (d / "trunc.gz").c_str(), 0, -1, err), 0);
  EXPECT_TRUE(pt::Names(err, d / "trunc.gz", "truncated")) << err;
  EXPECT_EQ(strstr(err, "<fd"), nullptr) << err;  // zlib's name for the descriptor is not shown
  // the reproducer of the issue: eval of a real data file with its CRC zeroed
  NEED_BIN();
  const std::string m = tiny_ckpt(d);
  std::string real = slurp(PCNN_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz");
  ASSERT_GT(real.size(), 8u);
  memset(&real[real.size() - 8], 0, 4);
  write_bytes(d / "t10k.gz", real);
  EXPECT_TRUE(FailsWithOneLine(run("eval --ckpt " + m + " --data " + (d / "t10k.gz")), "corrupt gzip stream"));
}

// 2. a test split of another image size overflowed the batch buffer
TEST(Hostile, TrainRefusesATestSplitOfAnotherSize) {
  NEED_BIN();
  TmpDir d;
  const std::string args = " --filters 8 --depth 1 --batch 8 --steps 1 --threads 1 --quiet --out " +
                           (d / "o.st") + " --log " + (d / "o.csv");
  for (auto dir : {idx_dir(d, "bigger", 28, 28, 1, 32, 32, 1), idx_dir(d, "rgb", 28, 28, 1, 28, 28, 3)}) {
    Proc r = run("train --data " + dir + args);
    EXPECT_TRUE(FailsWithOneLine(r, "the test images are")) << dir;
    EXPECT_NE(access((d / "o.st").c_str(), F_OK), 0);
  }
  pcnn_dataset_t tr, te;
  char err[PCNN_ERR_LEN];
  EXPECT_NE(pcnn_data_open_train_test(&tr, &te, (d / "rgb").c_str(), 0, 0, err), 0);
  EXPECT_EQ(tr.pixels, nullptr);
  EXPECT_EQ(te.pixels, nullptr);
}

// 3. resume read batch, steps_per_epoch, ... with atoi and trusted them
TEST(Hostile, ResumeChecksEveryRunValueOfTheCheckpoint) {
  NEED_BIN();
  TmpDir d;
  const std::string m = tiny_ckpt(d);
  struct Case { std::string key, value; };
  const std::vector<Case> cases = {
      {"batch", "0"}, {"batch", "abc"}, {"batch", ""}, {"batch", "-5"}, {"batch", "4097"},
      {"batch", " 8"}, {"steps_per_epoch", "0"}, {"steps_per_epoch", "-1"}, {"limit", "-3"},
      {"binarize", "2"}, {"seed", "-1"}, {"seed", "12x"}, {"data", ""}};
  for (const auto &c : cases) {
    const std::string p = edited(d, m, "bad.st", [&](StFile &s) { s.set_meta(c.key, c.value); });
    Proc r = run("train --resume " + p + " --epochs 3 --test-limit 8 --quiet --threads 1 --out " + (d / "o.st") +
                     " --log " + (d / "o.csv"), 60);
    EXPECT_TRUE(FailsWithOneLine(r, "metadata " + c.key)) << c.key << "='" << c.value << "'";
    EXPECT_EQ(r.out.find("--batch"), std::string::npos) << "blames a flag the user never passed: " << r.out;
  }
  // batch 0 together with steps_per_epoch 0 divided by zero
  const std::string p = edited(d, m, "bad2.st", [&](StFile &s) {
    s.set_meta("batch", "0");
    s.set_meta("steps_per_epoch", "0");
  });
  EXPECT_TRUE(FailsWithOneLine(run("train --resume " + p + " --epochs 3 --quiet --out " + (d / "o.st"), 60),
                               "metadata"));
}

// 4. the second resume trained on fashion-mnist: `data` was snprintf'ed onto itself
TEST(Hostile, EveryResumeKeepsTheDataSetEvenALongPath) {
  NEED_BIN();
  TmpDir d;
  // a directory path of more than 255 bytes (it was stored truncated)
  std::string dir = d.path;
  for (int i = 0; i < 6; i++) {
    dir += "/" + std::string(50, (char)('a' + i));
    mkdir(dir.c_str(), 0755);
  }
  ASSERT_GT(dir.size(), 300u);
  TmpDir d2;
  const std::string src = idx_dir(d2, "set", 28, 28, 1, 28, 28, 1);
  ASSERT_EQ(system(("cp " + src + "/* " + dir + "/").c_str()), 0);
  const std::string common = " --threads 1 --quiet --test-limit 8 --log " + (d / "l.csv");
  Proc r = run("train --data " + dir + " --filters 8 --depth 1 --batch 8 --steps 1 --epochs 1 --out " +
               (d / "a.st") + common);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(meta_of(d / "a.st", "data"), dir);
  ASSERT_EQ(run("train --resume " + (d / "a.st") + " --epochs 2 --out " + (d / "b.st") + common).code, 0);
  EXPECT_EQ(meta_of(d / "b.st", "data"), dir);
  ASSERT_EQ(run("train --resume " + (d / "b.st") + " --epochs 3 --out " + (d / "c.st") + common).code, 0);
  EXPECT_EQ(meta_of(d / "c.st", "data"), dir);
  // a path the checkpoint cannot record is refused before training, not cut
  EXPECT_TRUE(FailsWithOneLine(run("train --data " + std::string(5000, 'x') + common), "--data"));
}

// 5. --temperature 1e-46 became 0 as a float: 0/0 in the softmax, exit 0
TEST(Hostile, TemperatureTooSmallForAFloatIsRefused) {
  NEED_BIN();
  for (const char *t : {"1e-46", "1e-40", "1e-7", "nan", "inf", "1e999", "0x1p-200", "1e-3junk"})
    EXPECT_TRUE(FailsWithOneLine(run(std::string("sample --ckpt x --temperature ") + t), "--temperature")) << t;
  char why[PCNN_ERR_LEN];
  double v;
  EXPECT_EQ(pcnn_value_real(&PCNN_V_TEMPERATURE, "1e-6", &v, why), 0) << why;
  EXPECT_TRUE((float)v > 0 && std::isfinite(60.f / (float)v));  // a logit of 60 over T stays finite
}

// 6. a FIFO as --data, --plan, --ckpt, --resume or --prime hung in fopen
TEST(Hostile, FifosAreRefusedNotWaitedOn) {
  NEED_BIN();
  TmpDir d;
  const std::string m = tiny_ckpt(d);
  const std::string f = d / "fifo";
  ASSERT_EQ(mkfifo(f.c_str(), 0600), 0);
  const std::vector<std::string> cmds = {
      "eval --ckpt " + f, "eval --ckpt " + m + " --data " + f, "eval --ckpt " + m + " --plan " + f,
      "info --plan " + f, "train --resume " + f, "train --data " + f,
      "sample --ckpt " + m + " --n 1 --prime " + f};
  for (const auto &c : cmds) EXPECT_TRUE(FailsNaming(run(c, 20), "not a regular file (it is a FIFO)")) << c;
  // a FIFO in a data directory, under a data file's name
  mkdir((d / "dir").c_str(), 0755);
  ASSERT_EQ(mkfifo((d / "dir/train-images-idx3-ubyte").c_str(), 0600), 0);
  EXPECT_TRUE(FailsNaming(run("train --data " + (d / "dir"), 20), "not a regular file"));
  // a directory as --plan said "no line for in fwd"
  EXPECT_TRUE(FailsWithOneLine(run("eval --ckpt " + m + " --plan " + d.path, 20), "it is a directory"));
}

// 7. checkpoints with unusable numbers loaded and trained into NaN, exit 0
TEST(Hostile, CheckpointsWithUnusableNumbersAreRefused) {
  NEED_BIN();
  TmpDir d;
  const std::string m = tiny_ckpt(d);
  struct Case { std::string file, names; };
  std::vector<Case> cases = {
      {poked(d, m, "nan.st", "blocks.0.conv2.bias", 1, NAN), "'blocks.0.conv2.bias' holds nan at element 1"},
      {poked(d, m, "inf.st", "in.weight", 0, INFINITY), "'in.weight' holds inf"},
      {poked(d, m, "m.st2", "nadam.m.head.weight", 3, -INFINITY), "'nadam.m.head.weight' holds -inf"},
      {poked(d, m, "v.st", "nadam.v.out_prelu", 2, -1.f), "'nadam.v.out_prelu' holds -1"},
  };
  const std::vector<std::pair<std::string, std::string>> meta = {
      {"nadam.lr", "inf"}, {"nadam.lr", "0"}, {"nadam.beta1", "2"}, {"nadam.beta2", "-0.1"},
      {"nadam.eps", "-1e-8"}, {"nadam.eps", "nan"}, {"nadam.momentum_decay", "-1"},
      {"nadam.mu_product", "0"}, {"nadam.mu_product", "-0.5"}, {"nadam.mu_product", "inf"},
      {"nadam.mu_product", "0.9"}, {"nadam.step", "-1"}, {"filters", "7"}, {"channels", "2"}};
  for (size_t i = 0; i < meta.size(); i++)
    cases.push_back({edited(d, m, "meta" + std::to_string(i) + ".st",
                            [&](StFile &s) { s.set_meta(meta[i].first, meta[i].second); }),
                     "metadata " + meta[i].first});
  cases[cases.size() - 2].names = "metadata";  // filters 7: the config check names --filters' rule
  cases.back().names = "metadata";
  // a key given twice (the first one won)
  cases.push_back({edited(d, m, "dup.st", [](StFile &s) { s.add_meta_first("\"batch\":\"64\""); }),
                   "key 'batch' appears twice"});
  // a tensor name with an escaped NUL was cut short and matched "head.bias"
  cases.push_back({edited(d, m, "nul.st",
                          [](StFile &s) {
                            const size_t p = s.json.find("\"head.bias\"");
                            ASSERT_NE(p, std::string::npos);
                            s.json.replace(p, 11, "\"head.bias\\u0000evil\"");
                          }),
                   "\\u0000"});
  // a few bytes of metadata asking for a 14 GB model
  cases.push_back({edited(d, m, "huge.st",
                          [](StFile &s) {
                            s.set_meta("filters", "4096");
                            s.set_meta("depth", "256");
                          }),
                   "expected 6945"});
  // more metadata keys than the table holds
  cases.push_back({edited(d, m, "keys.st",
                          [](StFile &s) {
                            for (int i = 0; i < 40; i++) s.add_meta_first("\"junk" + std::to_string(i) + "\":\"x\"");
                          }),
                   "more than 32 metadata keys"});
  for (const auto &c : cases) {
    EXPECT_TRUE(FailsWithOneLine(run("eval --ckpt " + c.file + " --limit 8", 60), c.names)) << c.file;
    EXPECT_TRUE(FailsWithOneLine(run("train --resume " + c.file + " --epochs 5 --quiet --out " + (d / "o.st") +
                                         " --log " + (d / "o.csv"), 60), c.names)) << c.file;
  }
}

// 7b. resuming past the end exited 0 without a word
TEST(Hostile, ResumingPastTheLastEpochSaysSo) {
  NEED_BIN();
  TmpDir d;
  const std::string m = tiny_ckpt(d);  // 1 epoch of 2 steps
  Proc r = run("train --resume " + m + " --epochs 1 --quiet --out " + (d / "o.st"));
  EXPECT_TRUE(FailsWithOneLine(r, "nothing to train")) << r.out;
  EXPECT_EQ(r.code, 2);
  const std::string p = edited(d, m, "step.st", [](StFile &s) {
    s.set_meta("nadam.step", "8000");  // mu_product underflows to 0 by then
    s.set_meta("nadam.mu_product", "0");
  });
  EXPECT_TRUE(FailsWithOneLine(run("train --resume " + p + " --epochs 3 --quiet --out " + (d / "o.st")),
                               "nothing to train"));
}

// 8. the duplicate-name check was quadratic: 80,000 empty tensors took 32 s
TEST(Hostile, HugeTensorCountsAreCheckedInNLogN) {
  TmpDir d;
  std::string j = "{";
  const int n = 200000;
  for (int i = 0; i < n; i++) j += "\"t" + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},";
  j += "\"t17\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}";
  StFile s(std::string(8, '\0'));
  s.json = j;
  write_bytes(d / "many.st", s.bytes());
  pcnn_st_t *st;
  char err[PCNN_ERR_LEN];
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(pcnn_st_open(&st, (d / "many.st").c_str(), err), 0);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(pt::Names(err, d / "many.st", "'t17' appears twice")) << err;
  // not a speed claim: a complexity bound (the quadratic check needs minutes here, this ~0.5 s)
  EXPECT_LT(sec, 20.0);
  // and the distinct ones load, and every name is found
  s.json = j.substr(0, j.rfind(",\"t17\"")) + "}";
  write_bytes(d / "ok.st", s.bytes());
  ASSERT_EQ(pcnn_st_open(&st, (d / "ok.st").c_str(), err), 0) << err;
  EXPECT_EQ(pcnn_st_count(st), n);
  for (int i = 0; i < n; i += 997) EXPECT_TRUE(pcnn_st_find(st, ("t" + std::to_string(i)).c_str())) << i;
  EXPECT_FALSE(pcnn_st_find(st, "t"));
  EXPECT_FALSE(pcnn_st_find(st, ("t" + std::to_string(n)).c_str()));
  pcnn_st_close(st);
}

// 9. kill -9 left OUT.tmp.<pid> files that piled up
TEST(Hostile, StaleTempFilesOfDeadWritersAreCleanedOnTheNextSave) {
  NEED_BIN();
  TmpDir d;
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  waitpid(dead, nullptr, 0);
  const std::string out = d / "m.st";
  const std::string stale = out + ".tmp." + std::to_string(dead);
  const std::string live = out + ".tmp." + std::to_string(getpid());  // a running writer's: kept
  const std::string other = out + ".tmp.notapid";                     // not our naming: kept
  for (const auto &p : {stale, live, other}) write_bytes(p, "partial");
  tiny_ckpt(d);
  EXPECT_NE(access(stale.c_str(), F_OK), 0) << "stale temp file left";
  EXPECT_EQ(access(live.c_str(), F_OK), 0);
  EXPECT_EQ(access(other.c_str(), F_OK), 0);
}

// 9. --out naming a directory or an unwritable path failed after a whole epoch
TEST(Hostile, OutputPathsAreCheckedBeforeTraining) {
  NEED_BIN();
  TmpDir d;
  mkdir((d / "dir").c_str(), 0755);
  write_bytes(d / "file", "x");
  const std::string base = std::string("train ") + kTiny + " --steps 1000000 --epochs 1 ";
  struct Case { std::string flags, names; };
  const std::vector<Case> cases = {
      {"--out " + (d / "dir") + " --log " + (d / "l.csv"), "--out"},
      {"--out " + (d / "dir") + "/ --log " + (d / "l.csv"), "--out"},
      {"--out " + (d / "file/x.st") + " --log " + (d / "l.csv"), "is not a directory"},
      {"--out " + (d / "o.st") + " --log " + (d / "dir"), "--log"},
      {"--out /proc/no-such-dir/x.st --log " + (d / "l.csv"), "--out"}};
  for (const auto &c : cases) {
    // a million steps per epoch: only a check before the first step can end it in time
    EXPECT_TRUE(FailsWithOneLine(run(base + c.flags, 60), c.names)) << c.flags;
  }
  // missing parents are created
  Proc r = run(std::string("train ") + kTiny + " --steps 1 --out " + (d / "a/b/c/m.st") + " --log " +
               (d / "x/y/l.csv"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(access((d / "a/b/c/m.st").c_str(), F_OK), 0);
}

// 9. --channels 0 printed two lines; bad values of every flag are one line
TEST(Hostile, BadFlagValuesAreOneLine) {
  NEED_BIN();
  for (const char *a : {"train --channels 0", "train --channels 2", "train --channels 1x", "train --batch 4097",
                        "train --batch ' 8'", "train --lr 1e999", "train --lr nan", "train --seed -1",
                        "train --depth 257", "train --filters 4098", "train --epochs 0", "train --steps -1",
                        "sample --ckpt x --n 0", "eval --ckpt x --batch 0x10", "tune --size 0",
                        "train --threads 99999999999999999999"}) {
    const std::string s = a;
    const size_t f = s.rfind("--");
    const std::string flag = s.substr(f, s.find(' ', f) - f);
    EXPECT_TRUE(FailsWithOneLine(run(s), flag)) << a;
  }
}

// 9. plan files: junk numbers, nan, negative times, extra fields, duplicates,
// huge thread counts and long comments
TEST(Hostile, PlanFilesAreParsedStrictly) {
  TmpDir d;
  pcnn_plan_t p;
  pcnn_plan_default(&p);
  p.threads = 2;
  p.batch = 32;
  char err[PCNN_ERR_LEN];
  const std::string good = d / "good.plan";
  ASSERT_EQ(pcnn_plan_save(good.c_str(), &p, err), 0) << err;
  const std::string text = slurp(good);
  // the line of "in fwd": 4 (comment, threads, batch, then it)
  const size_t at = text.find("in fwd");
  ASSERT_NE(at, std::string::npos);
  const size_t eol = text.find('\n', at);
  struct Case { std::string line, reason; };
  const std::vector<Case> cases = {
      {"in fwd ref 0.01junk", "ms:"}, {"in fwd ref nan", "ms:"}, {"in fwd ref -5", "ms:"},
      {"in fwd ref 1e999", "ms:"}, {"in fwd ref 1 extra", "more than 4"}, {"in fwd ref", "fewer than 4"},
      {"in fwd sse9 1", "unknown level"}, {"inn fwd ref 1", "unknown role"}};
  for (const auto &c : cases) {
    std::string t = text;
    t.replace(at, eol - at, c.line);
    write_bytes(d / "bad.plan", t);
    EXPECT_NE(pcnn_plan_load((d / "bad.plan").c_str(), &p, err), 0) << c.line;
    EXPECT_NE(strstr(err, "bad.plan:4:"), nullptr) << c.line << ": " << err;
    EXPECT_NE(strstr(err, c.reason.c_str()), nullptr) << c.line << ": " << err;
  }
  const std::vector<Case> whole = {
      {text + "in fwd ref 1\n", "a second line for in fwd"},
      {text + "threads 4\n", "a second 'threads' line"},
      {"threads 99999999999999999999\n" + text.substr(text.find("batch")), "threads:"},
      {"threads -2\n" + text.substr(text.find("batch")), "threads:"},
      {"batch 1 2\n" + text, "expected 'batch N'"},
      {text.substr(0, at) + text.substr(eol + 1), "no line for in fwd"}};
  for (const auto &c : whole) {
    write_bytes(d / "bad.plan", c.line);
    EXPECT_NE(pcnn_plan_load((d / "bad.plan").c_str(), &p, err), 0) << c.reason;
    EXPECT_NE(strstr(err, c.reason.c_str()), nullptr) << err;
  }
  // a comment of 300 characters (longer than the old 256-byte line buffer) is fine,
  // and the line numbers after it stay right
  write_bytes(d / "long.plan", "# " + std::string(300, 'c') + "\n" + text + "in fwd ref 1 x\n");
  EXPECT_NE(pcnn_plan_load((d / "long.plan").c_str(), &p, err), 0);
  EXPECT_NE(strstr(err, ("long.plan:" + std::to_string(2 + std::count(text.begin(), text.end(), '\n')) + ":").c_str()),
            nullptr) << err;
  write_bytes(d / "long.plan", "# " + std::string(300, 'c') + "\n" + text);
  EXPECT_EQ(pcnn_plan_load((d / "long.plan").c_str(), &p, err), 0) << err;
  EXPECT_EQ(p.threads, 2);
  EXPECT_EQ(p.batch, 32);
}

// 10. the config is checked against the file before anything is allocated;
// activations larger than the machine are a line, not an OOM kill
TEST(Hostile, ConfigIsCheckedBeforeAllocating) {
  for (pcnn_config_t c : {pcnn_config_default(), pcnn_config_t{3, 12, 2, 1, 8, 6}, pcnn_config_t{1, 2, 0, 0, 3, 3}}) {
    pcnn_model_t m;
    char err[PCNN_ERR_LEN];
    ASSERT_EQ(pcnn_model_init(&m, &c, 1, 0, err), 0) << err;
    EXPECT_EQ(pcnn_config_nparams(&c), m.nparams);
    EXPECT_EQ(pcnn_config_ntensors(&c), m.ntensors);
    pcnn_model_free(&m);
  }
  NEED_BIN();
  TmpDir d;
  const std::string m = tiny_ckpt(d);
  const std::string big = edited(d, m, "big.st", [](StFile &s) {
    s.set_meta("height", "4096");
    s.set_meta("width", "4096");
  });
  EXPECT_TRUE(FailsWithOneLine(run("eval --ckpt " + big + " --batch 64", 60), "exceed this machine"));
}

// 10. more than 16 extra metadata keys dropped batch and seed on resume
TEST(Hostile, ExtraMetadataKeysDoNotPushOutTheRunValues) {
  NEED_BIN();
  TmpDir d;
  const std::string m = tiny_ckpt(d);
  const std::string p = edited(d, m, "keys.st", [](StFile &s) {
    for (int i = 0; i < 20; i++) s.add_meta_first("\"junk" + std::to_string(i) + "\":\"x\"");
  });
  Proc r = run("train --resume " + p + " --epochs 2 --test-limit 8 --quiet --threads 1 --out " + (d / "o.st") +
               " --log " + (d / "o.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(meta_of(d / "o.st", "batch"), "8");
  EXPECT_EQ(meta_of(d / "o.st", "seed"), "1");
  EXPECT_EQ(meta_of(d / "o.st", "limit"), "256");
}

// Numbers that cannot be used, during training: a loss that is not finite
// stops the run and keeps the last good checkpoint
TEST(Hostile, DivergedTrainingKeepsTheLastGoodCheckpoint) {
  NEED_BIN();
  TmpDir d;
  const std::string m = tiny_ckpt(d);
  // finite weights whose logits overflow: out.1's outputs are all ~3e38 and
  // the head sums 8 of them with weight 1, so the first step's loss is inf / nan
  const std::string p = poked(d, m, "hot.st", {{"out.1.bias", 0, 8, 3e38f}, {"head.weight", 0, 8, 1.f}});
  const std::string before = slurp(p);
  Proc r = run("train --resume " + p + " --epochs 3 --test-limit 8 --quiet --threads 1 --out " + p + " --log " +
               (d / "o.csv"));
  EXPECT_TRUE(FailsNaming(r, "diverged")) << r.out;
  EXPECT_NE(r.out.find("at step 3"), std::string::npos) << r.out;
  EXPECT_TRUE(slurp(p) == before) << "the checkpoint was overwritten";
}

// Fault injection: the file system refuses more bytes in the middle of a
// checkpoint save (RLIMIT_FSIZE: write() fails with EFBIG, as a full disk
// fails with ENOSPC). The previous checkpoint stays intact, the error is
// one clear line, and no temp file is left.
TEST(Hostile, WriteFailureDuringSaveKeepsThePreviousCheckpoint) {
  NEED_BIN();
  TmpDir d;
  const std::string m = tiny_ckpt(d);
  const std::string before = slurp(m);
  ASSERT_GT(before.size(), 8192u);
  // ulimit -f counts 1024-byte blocks; SIGXFSZ ignored so write() returns EFBIG
  const std::string cmd = "trap '' XFSZ; ulimit -f 8; exec " + bin() + " train --resume " + m +
                          " --epochs 2 --test-limit 8 --quiet --threads 1 --log " + (d / "o.csv") + " 2>&1";
  FILE *p = popen(("sh -c \"" + cmd + "\"").c_str(), "r");
  ASSERT_TRUE(p);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  ASSERT_TRUE(WIFEXITED(st)) << out;
  EXPECT_EQ(WEXITSTATUS(st), 1) << out;
  EXPECT_NE(out.find("--out"), std::string::npos) << out;
  EXPECT_NE(out.find("File too large"), std::string::npos) << out;
  EXPECT_TRUE(slurp(m) == before) << "the previous checkpoint changed";
  for (const auto &f : d.list()) EXPECT_EQ(f.find(".tmp."), std::string::npos) << "left " << f;
}

// kill -9 at random points of training, 20 times: the checkpoint always
// loads, and after the next save no temp file is left
TEST(Hostile, KillNineAtRandomPointsNeverLosesTheCheckpoint) {
  NEED_BIN();
  TmpDir d;
  const std::string m = tiny_ckpt(d);
  const std::string b = bin(), csv = d / "l.csv";
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_ms(30, 700);
  int killed_running = 0;
  for (int round = 0; round < 20; round++) {
    // a save after every step (steps per epoch 1 from the metadata? no: 2; --steps 1 here)
    const char *argv[] = {b.c_str(), "train", "--resume", m.c_str(), "--steps", "1", "--epochs", "1000000",
                          "--test-limit", "8", "--threads", "1", "--quiet", "--log", csv.c_str(), nullptr};
    pid_t pid;
    ASSERT_EQ(posix_spawn(&pid, b.c_str(), nullptr, nullptr, const_cast<char **>(argv), environ), 0);
    const int ms = delay_ms(rng);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, nullptr);
    killed_running += kill(pid, SIGKILL) == 0;
    int st;
    waitpid(pid, &st, 0);
    pcnn_model_t mm;
    char err[PCNN_ERR_LEN];
    ASSERT_EQ(pcnn_ckpt_load(m.c_str(), &mm, 0, nullptr, nullptr, err), 0) << "round " << round << ": " << err;
    pcnn_model_free(&mm);
  }
  EXPECT_GE(killed_running, 15);
  // the next save cleans what the killed writers left
  pcnn_model_t mm;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_ckpt_load(m.c_str(), &mm, 0, nullptr, nullptr, err), 0) << err;
  const long step = mm.opt.step;
  pcnn_model_free(&mm);
  Proc r = run("train --resume " + m + " --steps 1 --epochs " + std::to_string(step + 1) +
               " --test-limit 8 --threads 1 --quiet --log " + csv);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const auto &f : d.list()) EXPECT_EQ(f.find(".tmp."), std::string::npos) << "left " << f;
}

}  // namespace
