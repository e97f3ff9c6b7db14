// test_safetensors.cc: safetensors writer/reader (model/safetensors.h):
// round trip, header layout, a Python-stdlib reader on our file, and every
// kind of corruption giving an error (not a crash; run under SANITIZE=1 too).
#include <gtest/gtest.h>

#include "test_util.h"
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "rng.h"
#include "safetensors.h"
}

namespace {

using pt::TmpDir;

std::vector<uint8_t> slurp(const std::string &p) {
  std::vector<uint8_t> b;
  FILE *f = fopen(p.c_str(), "rb");
  if (!f) return b;
  uint8_t buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, f)) > 0) b.insert(b.end(), buf, buf + k);
  fclose(f);
  return b;
}

void spit(const std::string &p, const std::vector<uint8_t> &b) {
  FILE *f = fopen(p.c_str(), "wb");
  ASSERT_TRUE(f);
  if (!b.empty()) fwrite(b.data(), 1, b.size(), f);
  fclose(f);
}

// 8-byte little-endian length + header text + data bytes
std::vector<uint8_t> st_bytes(const std::string &json, size_t data_len, uint64_t len_override = 0) {
  std::vector<uint8_t> b(8);
  const uint64_t n = len_override ? len_override : json.size();
  for (int k = 0; k < 8; k++) b[k] = (uint8_t)(n >> (8 * k));
  b.insert(b.end(), json.begin(), json.end());
  for (size_t i = 0; i < data_len; i++) b.push_back((uint8_t)i);
  return b;
}

using pt::Names;

// Opening must fail with a message naming the file (and the reason, if given).
::testing::AssertionResult OpenFails(const std::string &p, const std::string &reason = "") {
  pcnn_st_t *st = nullptr;
  char err[PCNN_ERR_LEN] = "";
  if (pcnn_st_open(&st, p.c_str(), err) == 0) {
    pcnn_st_close(st);
    return ::testing::AssertionFailure() << p << " opened but should not have";
  }
  if (st) return ::testing::AssertionFailure() << "failed open left *out set";
  return Names(err, p, reason);
}

struct Fixture {
  std::vector<float> a, b, s;
  std::vector<pcnn_st_tensor_t> t;
  Fixture() : a(2 * 3), b(2 * 1 * 3 * 4), s(1) {
    pcnn_rng_t r;
    pcnn_rng_seed(&r, 9);
    for (auto &x : a) x = pcnn_rng_float(&r) - 0.5f;
    for (auto &x : b) x = pcnn_rng_float(&r) * 100.f;
    s[0] = 3.25f;
    t.push_back({"layer0.weight", 2, {2, 3}, a.data()});
    t.push_back({"layer1.conv", 4, {2, 1, 3, 4}, b.data()});
    t.push_back({"scale", 0, {}, s.data()});
    t.push_back({"empty", 2, {0, 3}, nullptr});
  }
};

const char *const kMeta[] = {"format", "pixelcnn", "step", "1200", "note", "quote \" and \\ ok"};

}  // namespace

TEST(Safetensors, RoundTrip) {
  TmpDir d;
  Fixture fx;
  const std::string p = d / "ckpt.safetensors";
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_st_write(p.c_str(), fx.t.data(), (int)fx.t.size(), kMeta, 3, err), 0) << err;

  // layout: 8-byte LE header length, multiple of 8, JSON padded with spaces
  const auto bytes = slurp(p);
  uint64_t hl = 0;
  for (int k = 0; k < 8; k++) hl |= (uint64_t)bytes[k] << (8 * k);
  EXPECT_EQ(hl % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + hl + 4 * (6 + 24 + 1));
  EXPECT_EQ(bytes[8], '{');
  EXPECT_TRUE(bytes[8 + hl - 1] == '}' || bytes[8 + hl - 1] == ' ');

  pcnn_st_t *st = nullptr;
  ASSERT_EQ(pcnn_st_open(&st, p.c_str(), err), 0) << err;
  EXPECT_STREQ(pcnn_st_path(st), p.c_str());
  ASSERT_EQ(pcnn_st_count(st), 4);
  // data order: by offset, as written (the empty tensor sorts at its offset)
  EXPECT_STREQ(pcnn_st_at(st, 0)->name, "layer0.weight");
  EXPECT_STREQ(pcnn_st_at(st, 1)->name, "layer1.conv");
  EXPECT_EQ(pcnn_st_at(st, 4), nullptr);
  const pcnn_st_view_t *v = pcnn_st_find(st, "layer1.conv");
  ASSERT_NE(v, nullptr);
  EXPECT_STREQ(v->dtype, "F32");
  EXPECT_EQ(v->ndim, 4);
  EXPECT_EQ(v->shape[3], 4);
  EXPECT_EQ(v->nbytes, 24u * 4);
  EXPECT_EQ(memcmp(v->data, fx.b.data(), v->nbytes), 0);
  EXPECT_EQ(pcnn_st_find(st, "nope"), nullptr);

  std::vector<float> out(24, -1.f);
  const int64_t sa[2] = {2, 3}, sb[4] = {2, 1, 3, 4}, se[2] = {0, 3};
  ASSERT_EQ(pcnn_st_get_f32(st, "layer0.weight", 2, sa, out.data(), err), 0) << err;
  EXPECT_EQ(memcmp(out.data(), fx.a.data(), 6 * 4), 0);
  ASSERT_EQ(pcnn_st_get_f32(st, "layer1.conv", 4, sb, out.data(), err), 0) << err;
  EXPECT_EQ(out, fx.b);
  ASSERT_EQ(pcnn_st_get_f32(st, "scale", 0, nullptr, out.data(), err), 0) << err;
  EXPECT_EQ(out[0], 3.25f);
  ASSERT_EQ(pcnn_st_get_f32(st, "empty", 2, se, out.data(), err), 0) << err;

  EXPECT_STREQ(pcnn_st_meta(st, "format"), "pixelcnn");
  EXPECT_STREQ(pcnn_st_meta(st, "step"), "1200");
  EXPECT_STREQ(pcnn_st_meta(st, "note"), "quote \" and \\ ok");
  EXPECT_EQ(pcnn_st_meta(st, "missing"), nullptr);
  ASSERT_EQ(pcnn_st_meta_count(st), 3);
  const char *k, *val;
  pcnn_st_meta_at(st, 1, &k, &val);
  EXPECT_STREQ(k, "step");
  EXPECT_STREQ(val, "1200");

  // shape / name / dtype errors name the file, the tensor and the shapes
  const int64_t wrong[2] = {3, 2};
  EXPECT_EQ(pcnn_st_get_f32(st, "layer0.weight", 2, wrong, out.data(), err), -1);
  EXPECT_TRUE(Names(err, p, "tensor 'layer0.weight' has shape [2, 3], expected [3, 2]"));
  EXPECT_EQ(pcnn_st_get_f32(st, "layer1.conv", 2, sa, out.data(), err), -1);
  EXPECT_TRUE(Names(err, p, "tensor 'layer1.conv' has shape [2, 1, 3, 4], expected [2, 3]"));
  EXPECT_EQ(pcnn_st_get_f32(st, "layer9", 2, sa, out.data(), err), -1);
  EXPECT_TRUE(Names(err, p, "missing tensor 'layer9'"));
  pcnn_st_close(st);
  pcnn_st_close(nullptr);
}

TEST(Safetensors, WriterErrors) {
  TmpDir d;
  Fixture fx;
  char err[PCNN_ERR_LEN];
  const std::string p = d / "w.safetensors";
  std::vector<pcnn_st_tensor_t> t = {fx.t[0], fx.t[0]};
  EXPECT_EQ(pcnn_st_write(p.c_str(), t.data(), 2, nullptr, 0, err), -1);
  EXPECT_TRUE(Names(err, p, "duplicate tensor name 'layer0.weight'"));
  t[1].name = "__metadata__";
  EXPECT_EQ(pcnn_st_write(p.c_str(), t.data(), 2, nullptr, 0, err), -1);
  EXPECT_TRUE(Names(err, p, "reserved name"));
  t[1] = fx.t[0];
  t[1].name = "neg";
  t[1].shape[0] = -1;
  EXPECT_EQ(pcnn_st_write(p.c_str(), t.data(), 2, nullptr, 0, err), -1);
  EXPECT_TRUE(Names(err, p, "tensor 'neg' has a bad shape [-1, 3]"));
  EXPECT_NE(access(p.c_str(), F_OK), 0) << "a failed write left a file";
  const std::string nowhere = "/nonexistent_dir_pcnn/w.safetensors";
  EXPECT_EQ(pcnn_st_write(nowhere.c_str(), fx.t.data(), 1, nullptr, 0, err), -1);
  EXPECT_TRUE(Names(err, nowhere, "cannot create"));
}

// An independent reader (Python stdlib: struct + json) parses our file.
TEST(Safetensors, PythonStdlibReaderAgrees) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  TmpDir d;
  Fixture fx;
  const std::string p = d / "py.safetensors";
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_st_write(p.c_str(), fx.t.data(), (int)fx.t.size(), kMeta, 3, err), 0) << err;
  const std::string script = d / "check.py";
  FILE *f = fopen(script.c_str(), "w");
  fputs(
      "import json, struct, sys\n"
      "b = open(sys.argv[1], 'rb').read()\n"
      "n, = struct.unpack('<Q', b[:8])\n"
      "h = json.loads(b[8:8 + n])\n"
      "data = b[8 + n:]\n"
      "meta = h.pop('__metadata__')\n"
      "out = [meta['step'], meta['note']]\n"
      "for name in sorted(h):\n"
      "    e = h[name]\n"
      "    lo, hi = e['data_offsets']\n"
      "    cnt = 1\n"
      "    for s in e['shape']: cnt *= s\n"
      "    assert e['dtype'] == 'F32' and hi - lo == 4 * cnt, name\n"
      "    v = struct.unpack('<%df' % cnt, data[lo:hi])\n"
      "    out.append('%s %s %.6f' % (name, e['shape'], sum(v)))\n"
      "print('|'.join(out))\n",
      f);
  fclose(f);
  std::string out;
  FILE *pp = popen(("/usr/bin/python3 " + script + " " + p + " 2>&1").c_str(), "r");
  ASSERT_TRUE(pp);
  char buf[512];
  while (fgets(buf, sizeof buf, pp)) out += buf;
  pclose(pp);
  double sa = 0, sb = 0;
  for (float x : fx.a) sa += x;
  for (float x : fx.b) sb += x;
  char want[512];
  snprintf(want, sizeof want,
           "1200|quote \" and \\ ok|empty [0, 3] 0.000000|layer0.weight [2, 3] %.6f|"
           "layer1.conv [2, 1, 3, 4] %.6f|scale [] 3.250000\n",
           sa, sb);
  EXPECT_EQ(out, want);
}

TEST(Safetensors, TruncationAtEveryRegion) {
  TmpDir d;
  Fixture fx;
  const std::string p = d / "full.safetensors";
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_st_write(p.c_str(), fx.t.data(), (int)fx.t.size(), kMeta, 3, err), 0) << err;
  const auto full = slurp(p);
  uint64_t hl = 0;
  for (int k = 0; k < 8; k++) hl |= (uint64_t)full[k] << (8 * k);
  const size_t cuts[] = {0, 1, 7, 8, 9, 8 + hl / 2, 8 + hl - 1, 8 + hl, 8 + hl + 1, 8 + hl + 24,
                         full.size() - 4, full.size() - 1};
  for (size_t cut : cuts) {
    const std::string q = d / ("cut" + std::to_string(cut) + ".safetensors");
    spit(q, std::vector<uint8_t>(full.begin(), full.begin() + cut));
    const char *why = cut < 8 ? "too short" : cut < 8 + hl ? "truncated: header says" : "truncated";
    EXPECT_TRUE(OpenFails(q, why)) << "cut at " << cut;
  }
  // every single cut point, no message check: never a crash
  for (size_t cut = 0; cut < full.size(); cut++) {
    const std::string q = d / "cut.safetensors";
    spit(q, std::vector<uint8_t>(full.begin(), full.begin() + cut));
    EXPECT_TRUE(OpenFails(q)) << "cut at " << cut;
  }
  const std::string longer = d / "longer.safetensors";
  auto l = full;
  l.push_back(0);
  spit(longer, l);
  EXPECT_TRUE(OpenFails(longer, "1 trailing data bytes after the last tensor"));
  EXPECT_TRUE(OpenFails(d / "missing.safetensors", "cannot open"));
}

TEST(Safetensors, CorruptHeaders) {
  TmpDir d;
  const std::string ok =
      R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[3],"data_offsets":[16,28]}})";
  struct Case {
    const char *file, *reason;
    std::vector<uint8_t> bytes;
  };
  auto sub = [&](const std::string &from, const std::string &to) {
    std::string s = ok;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const std::vector<Case> cases = {
      {"len_huge", "not a safetensors file: header length 1099511627776 is absurd",
       st_bytes(ok, 28, 1ull << 40)},
      {"len_big", "truncated: header says 1000 bytes of JSON", st_bytes(ok, 28, 1000)},
      {"len_small", "header is not valid JSON", st_bytes(ok, 28, ok.size() - 5)},
      {"len_large", "header has junk after the JSON object", st_bytes(ok, 28, ok.size() + 3)},
      {"not_object", "does not start with '{'", st_bytes("[" + ok.substr(1), 28)},
      {"text", "not a safetensors file", st_bytes("hello world, not json at all", 0, 0)},
      {"bad_json", "header is not valid JSON", st_bytes(sub("\"b\":", "\"b\""), 28)},
      {"dtype_unknown", "tensor 'a' has unknown dtype 'X7'", st_bytes(sub("F32", "X7"), 28)},
      {"dtype_f64_size", "tensor 'a': shape [2, 2] of F64 needs 32 bytes but data_offsets [0, 16] hold 16",
       st_bytes(sub("F32", "F64"), 28)},
      {"dtype_number", "lacks a string dtype", st_bytes(sub("\"F32\"", "32"), 28)},
      {"overlap", "tensor 'b' data_offsets [12, 24] overlap the previous tensor (which ends at 16)",
       st_bytes(sub("\"shape\":[3],\"data_offsets\":[16,28]", "\"shape\":[3],\"data_offsets\":[12,24]"),
                28)},
      {"gap", "gap in the data area: bytes [16, 20)",
       st_bytes(sub("\"shape\":[3],\"data_offsets\":[16,28]", "\"shape\":[2],\"data_offsets\":[20,28]"),
                28)},
      {"past_end", "truncated: tensor 'b' data_offsets [16, 28] run past the 20 data bytes",
       st_bytes(ok, 20)},
      {"offsets_reversed", "bad data_offsets", st_bytes(sub("[16,28]", "[28,16]"), 28)},
      {"offsets_float", "bad data_offsets", st_bytes(sub("[16,28]", "[16.5,28]"), 28)},
      {"shape_negative", "non-integer or absurd dim", st_bytes(sub("[3]", "[-3]"), 28)},
      {"shape_string", "non-integer or absurd dim", st_bytes(sub("[3]", "[\"3\"]"), 28)},
      {"shape_mismatch", "shape [4] of F32 needs 16 bytes", st_bytes(sub("[3]", "[4]"), 28)},
      {"duplicate", "tensor 'a' appears twice", st_bytes(sub("\"b\":", "\"a\":"), 28)},
      {"entry_not_object", "header entry 'b' is not an object",
       st_bytes(sub("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,28]}", "7") +
                    "", 16)},
      {"meta_not_string", "__metadata__ value of 'step' is not a string",
       st_bytes(sub("{\"a\"", "{\"__metadata__\":{\"step\":12},\"a\""), 28)},
      {"meta_not_object", "__metadata__ is not an object",
       st_bytes(sub("{\"a\"", "{\"__metadata__\":[],\"a\""), 28)},
  };
  for (const auto &c : cases) {
    const std::string p = d / (std::string(c.file) + ".safetensors");
    spit(p, c.bytes);
    EXPECT_TRUE(OpenFails(p, c.reason)) << c.file;
  }
  // the uncorrupted one opens; I64 opens but is not fetched as floats
  const std::string good = d / "good.safetensors";
  spit(good, st_bytes(ok, 28));
  pcnn_st_t *st = nullptr;
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_st_open(&st, good.c_str(), err), 0) << err;
  pcnn_st_close(st);
  const std::string i64 = d / "i64.safetensors";
  spit(i64, st_bytes(sub("\"dtype\":\"F32\",\"shape\":[2,2]", "\"dtype\":\"I64\",\"shape\":[2]"),
                     28));
  ASSERT_EQ(pcnn_st_open(&st, i64.c_str(), err), 0) << err;
  float out[4];
  const int64_t s2[1] = {2};
  EXPECT_EQ(pcnn_st_get_f32(st, "a", 1, s2, out, err), -1);
  EXPECT_TRUE(Names(err, i64, "tensor 'a' has dtype I64, expected F32"));
  pcnn_st_close(st);
}

// Seeded random byte flips in the header and the length: open either
// succeeds (a harmless flip, e.g. in padding or a name) or fails with a
// message; never a crash or a sanitizer report.
TEST(Safetensors, RandomHeaderCorruptionNeverCrashes) {
  TmpDir d;
  Fixture fx;
  const std::string p = d / "fuzz.safetensors";
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_st_write(p.c_str(), fx.t.data(), (int)fx.t.size(), kMeta, 3, err), 0) << err;
  const auto full = slurp(p);
  uint64_t hl = 0;
  for (int k = 0; k < 8; k++) hl |= (uint64_t)full[k] << (8 * k);
  pcnn_rng_t r;
  pcnn_rng_seed(&r, 2024);
  int failed = 0;
  const int trials = 400;
  for (int t = 0; t < trials; t++) {
    auto b = full;
    const int flips = 1 + (int)pcnn_rng_below(&r, 3);
    for (int k = 0; k < flips; k++)
      b[pcnn_rng_below(&r, 8 + hl)] ^= (uint8_t)(1u << pcnn_rng_below(&r, 8));
    spit(p, b);
    pcnn_st_t *st = nullptr;
    err[0] = 0;
    if (pcnn_st_open(&st, p.c_str(), err) == 0) {
      // whatever opened must be self-consistent
      for (int i = 0; i < pcnn_st_count(st); i++) {
        const pcnn_st_view_t *v = pcnn_st_at(st, i);
        volatile uint8_t sink = 0;
        for (size_t j = 0; j < v->nbytes; j++) sink ^= ((const uint8_t *)v->data)[j];
        (void)sink;
      }
      pcnn_st_close(st);
    } else {
      failed++;
      EXPECT_NE(std::string(err).find(p), std::string::npos) << err;
    }
  }
  EXPECT_GT(failed, trials / 2);
}
