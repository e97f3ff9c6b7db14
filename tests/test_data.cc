// test_data.cc: IDX / CIFAR-10 readers, data set names and splits, batches,
// and the rng (model/data.h, model/rng.h).
#include <gtest/gtest.h>

#include "test_util.h"
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" {
#include "data.h"
#include "rng.h"
}

namespace {

using pt::TmpDir;

void write_bytes(const std::string &p, const std::vector<uint8_t> &b) {
  FILE *f = fopen(p.c_str(), "wb");
  ASSERT_TRUE(f);
  if (!b.empty()) fwrite(b.data(), 1, b.size(), f);
  fclose(f);
}

void write_gz(const std::string &p, const std::vector<uint8_t> &b) {
  gzFile g = gzopen(p.c_str(), "wb");
  ASSERT_TRUE(g);
  if (!b.empty()) gzwrite(g, b.data(), (unsigned)b.size());
  gzclose(g);
}

std::vector<uint8_t> idx_header(uint32_t magic, std::vector<uint32_t> dims) {
  std::vector<uint8_t> h;
  dims.insert(dims.begin(), magic);
  for (uint32_t v : dims)
    for (int k = 3; k >= 0; k--) h.push_back((uint8_t)(v >> (8 * k)));
  return h;
}

std::vector<uint8_t> rand_bytes(size_t n, uint64_t seed) {
  pcnn_rng_t r;
  pcnn_rng_seed(&r, seed);
  std::vector<uint8_t> v(n);
  for (auto &x : v) x = (uint8_t)pcnn_rng_u64(&r);
  return v;
}

using pt::Names;

std::vector<uint8_t> pixels(const pcnn_dataset_t &ds) {
  return std::vector<uint8_t>(ds.pixels, ds.pixels + (size_t)ds.n * ds.h * ds.w * ds.c);
}

std::vector<uint8_t> slice(const std::vector<uint8_t> &v, size_t img, size_t first, size_t n) {
  return std::vector<uint8_t>(v.begin() + first * img, v.begin() + (first + n) * img);
}

}  // namespace

TEST(Data, IdxRoundTripPlainAndGz) {
  TmpDir d;
  const int n = 25, h = 5, w = 4;
  const auto px = rand_bytes((size_t)n * h * w, 1);
  char err[PCNN_ERR_LEN];
  for (int gz = 0; gz < 2; gz++) {
    const std::string p = d / (gz ? "x.idx.gz" : "x.idx");
    ASSERT_EQ(pcnn_idx_write(p.c_str(), px.data(), n, h, w, 1, gz, err), 0) << err;
    FILE *f = fopen(p.c_str(), "rb");
    uint8_t m[2];
    ASSERT_EQ(fread(m, 1, 2, f), 2u);
    fclose(f);
    EXPECT_EQ(m[0] == 0x1f && m[1] == 0x8b, gz == 1) << "gzip magic";

    pcnn_dataset_t ds;
    ASSERT_EQ(pcnn_idx_read(&ds, p.c_str(), 0, -1, err), 0) << err;
    EXPECT_EQ(ds.n, n);
    EXPECT_EQ(ds.h, h);
    EXPECT_EQ(ds.w, w);
    EXPECT_EQ(ds.c, 1);
    EXPECT_EQ(pixels(ds), px);
    pcnn_dataset_free(&ds);
    EXPECT_EQ(ds.pixels, nullptr);

    ASSERT_EQ(pcnn_idx_read(&ds, p.c_str(), 3, 4, err), 0) << err;
    EXPECT_EQ(ds.n, 4);
    EXPECT_EQ(pixels(ds), slice(px, h * w, 3, 4));
    pcnn_dataset_free(&ds);

    // single-file splits: test = last n/6 = 4, train = first 21
    ASSERT_EQ(pcnn_data_open(&ds, p.c_str(), PCNN_SPLIT_TRAIN, 0, err), 0) << err;
    EXPECT_EQ(ds.n, 21);
    EXPECT_EQ(pixels(ds), slice(px, h * w, 0, 21));
    EXPECT_EQ(ds.split, PCNN_SPLIT_TRAIN);
    EXPECT_EQ(std::string(ds.name), p);
    pcnn_dataset_free(&ds);
    ASSERT_EQ(pcnn_data_open(&ds, p.c_str(), PCNN_SPLIT_TEST, 0, err), 0) << err;
    EXPECT_EQ(ds.n, 4);
    EXPECT_EQ(pixels(ds), slice(px, h * w, 21, 4));
    pcnn_dataset_free(&ds);
    ASSERT_EQ(pcnn_data_open(&ds, p.c_str(), PCNN_SPLIT_ALL, 5, err), 0) << err;
    EXPECT_EQ(ds.n, 5);
    EXPECT_EQ(pixels(ds), slice(px, h * w, 0, 5));
    pcnn_dataset_free(&ds);
    ASSERT_EQ(pcnn_data_open(&ds, p.c_str(), PCNN_SPLIT_TEST, 1, err), 0) << err;
    EXPECT_EQ(pixels(ds), slice(px, h * w, 21, 1));
    pcnn_dataset_free(&ds);
  }
}

TEST(Data, IdxColourRoundTrip) {
  TmpDir d;
  const auto px = rand_bytes(3 * 2 * 5 * 3, 2);
  char err[PCNN_ERR_LEN];
  const std::string p = d / "rgb.idx";
  ASSERT_EQ(pcnn_idx_write(p.c_str(), px.data(), 3, 2, 5, 3, 0, err), 0) << err;
  pcnn_dataset_t ds;
  ASSERT_EQ(pcnn_idx_read(&ds, p.c_str(), 0, -1, err), 0) << err;
  EXPECT_EQ(ds.c, 3);
  EXPECT_EQ(pixels(ds), px);
  pcnn_dataset_free(&ds);
}

TEST(Data, IdxErrorsNameFileAndReason) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  pcnn_dataset_t ds;
  std::vector<uint8_t> body(2 * 3 * 3, 7);
  auto cat = [](std::vector<uint8_t> a, const std::vector<uint8_t> &b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  struct Case {
    std::string file, reason;
    std::vector<uint8_t> bytes;
    bool gz;
  };
  std::vector<uint8_t> big_gz_body(1000, 0);
  const std::vector<Case> cases = {
      {"magic.idx", "wrong IDX magic 0x00000000 (expected 0x00000803)",
       cat(idx_header(0, {2, 3, 3}), body), false},
      {"magic801.idx", "wrong IDX magic 0x00000801", cat(idx_header(0x801, {2, 3, 3}), body), false},
      {"zero_n.idx", "bad IDX dims 0 x 3 x 3", idx_header(0x803, {0, 3, 3}), false},
      {"zero_h.idx", "bad IDX dims 2 x 0 x 3", idx_header(0x803, {2, 0, 3}), false},
      {"absurd_w.idx", "bad IDX dims 2 x 3 x 100000", cat(idx_header(0x803, {2, 3, 100000}), body),
       false},
      {"bad_c.idx", "bad IDX dims 2 x 3 x 3 x 2", cat(idx_header(0x804, {2, 3, 3, 2}), body), false},
      {"trunc.idx", "truncated: header says 2 images of 3x3x1 (34 bytes), file has 33",
       cat(idx_header(0x803, {2, 3, 3}), std::vector<uint8_t>(17, 1)), false},
      {"trunc_hdr.idx", "truncated IDX header", {0, 0, 8, 3, 0, 0}, false},
      {"short.idx", "too short for an IDX file", {0, 0}, true},
      {"trailing.idx", "1 trailing bytes", cat(idx_header(0x803, {2, 3, 3}), cat(body, {9})),
       false},
      {"trunc.idx.gz", "truncated: data end after 1 images (header says 2)",
       cat(idx_header(0x803, {2, 3, 3}), std::vector<uint8_t>(10, 1)), true},
      {"lying.idx.gz", "more than a",
       cat(idx_header(0x803, {2000000000u, 4000, 4000}), big_gz_body), true},
  };
  for (const auto &c : cases) {
    const std::string p = d / c.file;
    if (c.gz)
      write_gz(p, c.bytes);
    else
      write_bytes(p, c.bytes);
    err[0] = 0;
    EXPECT_EQ(pcnn_idx_read(&ds, p.c_str(), 0, -1, err), -1) << c.file;
    EXPECT_TRUE(Names(err, p, c.reason)) << c.file;
    EXPECT_EQ(ds.pixels, nullptr);
    // the name resolver reports the same files
    if (c.file != "short.idx" && c.file != "trunc_hdr.idx") {
      err[0] = 0;
      EXPECT_EQ(pcnn_data_open(&ds, p.c_str(), PCNN_SPLIT_ALL, 0, err), -1) << c.file;
      EXPECT_TRUE(Names(err, p, c.file == "magic.idx" || c.file == "magic801.idx"
                                    ? "neither an IDX file"
                                    : c.reason))
          << c.file;
    }
  }
  const std::string missing = d / "missing.idx";
  EXPECT_EQ(pcnn_idx_read(&ds, missing.c_str(), 0, -1, err), -1);
  EXPECT_TRUE(Names(err, missing, "cannot open: No such file"));
  EXPECT_EQ(pcnn_data_open(&ds, missing.c_str(), PCNN_SPLIT_ALL, 0, err), -1);
  EXPECT_TRUE(Names(err, missing, "no such file, directory or data set name"));

  // a valid file, bad requests
  const std::string ok = d / "ok.idx";
  ASSERT_EQ(pcnn_idx_write(ok.c_str(), body.data(), 2, 3, 3, 1, 0, err), 0) << err;
  EXPECT_EQ(pcnn_idx_read(&ds, ok.c_str(), 2, 1, err), -1);
  EXPECT_TRUE(Names(err, ok, "range starts at 2 but the file has 2 images"));
  EXPECT_EQ(pcnn_data_open(&ds, ok.c_str(), PCNN_SPLIT_TEST, 0, err), -1);
  EXPECT_TRUE(Names(err, ok, "the test split is empty (2 images"));
  EXPECT_EQ(pcnn_idx_write(ok.c_str(), body.data(), 0, 3, 3, 1, 0, err), -1);
  EXPECT_TRUE(Names(err, ok, "bad dims"));
  const std::string nowhere = "/nonexistent_dir_pcnn/x.idx";
  EXPECT_EQ(pcnn_idx_write(nowhere.c_str(), body.data(), 2, 3, 3, 1, 0, err), -1);
  EXPECT_TRUE(Names(err, nowhere, "cannot create"));

  const std::string empty = d / "empty.bin";
  write_bytes(empty, {});
  EXPECT_EQ(pcnn_data_open(&ds, empty.c_str(), PCNN_SPLIT_ALL, 0, err), -1);
  EXPECT_TRUE(Names(err, empty, "empty file"));
}

namespace {
// n CIFAR records: label i, then R, G, B planes with distinct values
std::vector<uint8_t> cifar_bytes(int n, uint64_t seed) {
  auto v = rand_bytes((size_t)n * 3073, seed);
  for (int i = 0; i < n; i++) v[(size_t)i * 3073] = (uint8_t)(i % 10);
  return v;
}
}  // namespace

TEST(Data, CifarRecordsToNhwc) {
  TmpDir d;
  const int n = 4;
  const auto raw = cifar_bytes(n, 3);
  const std::string p = d / "data_batch_1.bin";
  write_bytes(p, raw);
  char err[PCNN_ERR_LEN];
  pcnn_dataset_t ds;
  ASSERT_EQ(pcnn_cifar_read(&ds, p.c_str(), 0, -1, err), 0) << err;
  ASSERT_EQ(ds.n, n);
  EXPECT_EQ(ds.h, 32);
  EXPECT_EQ(ds.w, 32);
  EXPECT_EQ(ds.c, 3);
  size_t bad = 0;
  for (int i = 0; i < n; i++)
    for (int y = 0; y < 32; y++)
      for (int x = 0; x < 32; x++)
        for (int ch = 0; ch < 3; ch++) {
          const uint8_t want = raw[(size_t)i * 3073 + 1 + ch * 1024 + y * 32 + x];
          bad += ds.pixels[(((size_t)i * 32 + y) * 32 + x) * 3 + ch] != want;
        }
  EXPECT_EQ(bad, 0u);
  const auto all = pixels(ds);
  pcnn_dataset_free(&ds);

  // detected by size through the resolver; split last n/6 (= 0 here: 4/6)
  ASSERT_EQ(pcnn_data_open(&ds, p.c_str(), PCNN_SPLIT_ALL, 3, err), 0) << err;
  EXPECT_EQ(ds.n, 3);
  EXPECT_EQ(pixels(ds), slice(all, 3072, 0, 3));
  pcnn_dataset_free(&ds);
  ASSERT_EQ(pcnn_cifar_read(&ds, p.c_str(), 1, 2, err), 0) << err;
  EXPECT_EQ(pixels(ds), slice(all, 3072, 1, 2));
  pcnn_dataset_free(&ds);

  auto odd = raw;
  odd.push_back(0);
  const std::string po = d / "odd.bin";
  write_bytes(po, odd);
  EXPECT_EQ(pcnn_cifar_read(&ds, po.c_str(), 0, -1, err), -1);
  EXPECT_TRUE(Names(err, po, "size 12293 is not a multiple of 3073"));
  EXPECT_EQ(pcnn_data_open(&ds, po.c_str(), PCNN_SPLIT_ALL, 0, err), -1);
  EXPECT_TRUE(Names(err, po, "size 12293 is not a multiple of 3073"));
  const std::string pe = d / "empty.bin";
  write_bytes(pe, {});
  EXPECT_EQ(pcnn_cifar_read(&ds, pe.c_str(), 0, -1, err), -1);
  EXPECT_TRUE(Names(err, pe, "empty file"));
  const std::string pm = d / "test_batch.bin";
  EXPECT_EQ(pcnn_cifar_read(&ds, pm.c_str(), 0, -1, err), -1);
  EXPECT_TRUE(Names(err, pm, "cannot open"));
}

TEST(Data, DirectoriesOfIdxAndCifar) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  pcnn_dataset_t ds;
  // IDX: gz train + plain t10k
  const auto tr = rand_bytes(5 * 4 * 4, 4), te = rand_bytes(3 * 4 * 4, 5);
  ASSERT_EQ(pcnn_idx_write((d / "train-images-idx3-ubyte.gz").c_str(), tr.data(), 5, 4, 4, 1, 1,
                           err), 0) << err;
  ASSERT_EQ(pcnn_idx_write((d / "t10k-images-idx3-ubyte").c_str(), te.data(), 3, 4, 4, 1, 0, err),
            0) << err;
  ASSERT_EQ(pcnn_data_open(&ds, d.path.c_str(), PCNN_SPLIT_TRAIN, 0, err), 0) << err;
  EXPECT_EQ(pixels(ds), tr);
  pcnn_dataset_free(&ds);
  ASSERT_EQ(pcnn_data_open(&ds, d.path.c_str(), PCNN_SPLIT_TEST, 0, err), 0) << err;
  EXPECT_EQ(pixels(ds), te);
  pcnn_dataset_free(&ds);
  ASSERT_EQ(pcnn_data_open(&ds, d.path.c_str(), PCNN_SPLIT_ALL, 7, err), 0) << err;
  auto want = tr;
  want.insert(want.end(), te.begin(), te.begin() + 2 * 16);
  EXPECT_EQ(ds.n, 7);
  EXPECT_EQ(pixels(ds), want);
  pcnn_dataset_free(&ds);
  // test file with other dims: ALL fails naming it
  const auto te2 = rand_bytes(3 * 4 * 5, 6);
  const std::string t2 = d / "t10k-images-idx3-ubyte";
  ASSERT_EQ(pcnn_idx_write(t2.c_str(), te2.data(), 3, 4, 5, 1, 0, err), 0) << err;
  EXPECT_EQ(pcnn_data_open(&ds, d.path.c_str(), PCNN_SPLIT_ALL, 0, err), -1);
  EXPECT_TRUE(Names(err, t2, "images are 4x5x1 but earlier files have 4x4x1"));

  // CIFAR directory: data_batch_1..5 (2 records each) + test_batch (3)
  TmpDir c;
  std::vector<uint8_t> all_train;
  for (int b = 1; b <= 5; b++) {
    const auto raw = cifar_bytes(2, 10 + b);
    write_bytes(c / ("data_batch_" + std::to_string(b) + ".bin"), raw);
    pcnn_dataset_t one;
    ASSERT_EQ(pcnn_cifar_read(&one, (c / ("data_batch_" + std::to_string(b) + ".bin")).c_str(), 0,
                              -1, err), 0) << err;
    const auto p = pixels(one);
    all_train.insert(all_train.end(), p.begin(), p.end());
    pcnn_dataset_free(&one);
  }
  write_bytes(c / "test_batch.bin", cifar_bytes(3, 20));
  ASSERT_EQ(pcnn_data_open(&ds, c.path.c_str(), PCNN_SPLIT_TRAIN, 0, err), 0) << err;
  EXPECT_EQ(ds.n, 10);
  EXPECT_EQ(pixels(ds), all_train);
  pcnn_dataset_free(&ds);
  ASSERT_EQ(pcnn_data_open(&ds, c.path.c_str(), PCNN_SPLIT_TRAIN, 5, err), 0) << err;
  EXPECT_EQ(pixels(ds), slice(all_train, 3072, 0, 5));
  pcnn_dataset_free(&ds);
  ASSERT_EQ(pcnn_data_open(&ds, c.path.c_str(), PCNN_SPLIT_TEST, 0, err), 0) << err;
  EXPECT_EQ(ds.n, 3);
  pcnn_dataset_free(&ds);
  ASSERT_EQ(pcnn_data_open(&ds, c.path.c_str(), PCNN_SPLIT_ALL, 0, err), 0) << err;
  EXPECT_EQ(ds.n, 13);
  pcnn_dataset_free(&ds);
  unlink((c / "data_batch_4.bin").c_str());
  EXPECT_EQ(pcnn_data_open(&ds, c.path.c_str(), PCNN_SPLIT_TRAIN, 0, err), -1);
  EXPECT_TRUE(Names(err, c / "data_batch_4.bin", "cannot open"));

  TmpDir e;
  EXPECT_EQ(pcnn_data_open(&ds, e.path.c_str(), PCNN_SPLIT_TRAIN, 0, err), -1);
  EXPECT_TRUE(Names(err, e.path, "no IDX image files"));
}

TEST(Data, MnistNameUsesDataDir) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  pcnn_dataset_t ds;
  const char *old = getenv("PIXELCNN_DATA_DIR");
  const std::string saved = old ? old : "";
  setenv("PIXELCNN_DATA_DIR", d.path.c_str(), 1);
  EXPECT_EQ(pcnn_data_open(&ds, "mnist", PCNN_SPLIT_TRAIN, 0, err), -1);
  EXPECT_TRUE(Names(err, d / "mnist", "run scripts/get-mnist.sh"));
  mkdir((d / "mnist").c_str(), 0755);
  const auto tr = rand_bytes(6 * 28 * 28, 7), te = rand_bytes(2 * 28 * 28, 8);
  ASSERT_EQ(pcnn_idx_write((d / "mnist/train-images-idx3-ubyte").c_str(), tr.data(), 6, 28, 28, 1,
                           0, err), 0) << err;
  ASSERT_EQ(pcnn_idx_write((d / "mnist/test-images-idx3-ubyte").c_str(), te.data(), 2, 28, 28, 1,
                           0, err), 0) << err;
  ASSERT_EQ(pcnn_data_open(&ds, "mnist", PCNN_SPLIT_TEST, 0, err), 0) << err;
  EXPECT_EQ(pixels(ds), te);
  EXPECT_EQ(std::string(ds.name), "mnist");
  pcnn_dataset_free(&ds);
  if (old)
    setenv("PIXELCNN_DATA_DIR", saved.c_str(), 1);
  else
    unsetenv("PIXELCNN_DATA_DIR");
}

// The real digits, when scripts/get-mnist.sh has been run (not in a fresh clone).
TEST(Data, RealMnistIfFetched) {
  struct stat st;
  const char *dd = getenv("PIXELCNN_DATA_DIR");
  const std::string dir = std::string(dd && *dd ? dd : "data") + "/mnist";
  if (stat((dir + "/train-images-idx3-ubyte").c_str(), &st) != 0)
    GTEST_SKIP() << dir << " not present (run scripts/get-mnist.sh)";
  char err[PCNN_ERR_LEN];
  pcnn_dataset_t ds;
  ASSERT_EQ(pcnn_data_open(&ds, "mnist", PCNN_SPLIT_TRAIN, 0, err), 0) << err;
  EXPECT_EQ(ds.n, 7996);
  EXPECT_EQ(ds.h * ds.w * ds.c, 784);
  pcnn_dataset_free(&ds);
  ASSERT_EQ(pcnn_data_open(&ds, "mnist", PCNN_SPLIT_TEST, 0, err), 0) << err;
  EXPECT_EQ(ds.n, 2004);
  pcnn_dataset_free(&ds);
}

namespace {
uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
}  // namespace

// Needs the Debian package dataset-fashion-mnist (scripts/install-deps.sh).
TEST(Data, RealFashionMnist) {
  char err[PCNN_ERR_LEN];
  pcnn_dataset_t ds;
  ASSERT_EQ(pcnn_data_open(&ds, nullptr, PCNN_SPLIT_TRAIN, 0, err), 0) << err;
  EXPECT_EQ(ds.n, 60000);
  EXPECT_EQ(ds.h, 28);
  EXPECT_EQ(ds.w, 28);
  EXPECT_EQ(ds.c, 1);
  EXPECT_EQ(std::string(ds.name), "fashion-mnist");
  // first training image (an ankle boot): checksums computed independently
  // with Python's gzip module
  uint64_t sum = 0;
  for (int i = 0; i < 784; i++) sum += ds.pixels[i];
  EXPECT_EQ(sum, 76247u);
  EXPECT_EQ(fnv1a(ds.pixels, 784), 0x01fdf72590541338ull);
  pcnn_dataset_free(&ds);

  ASSERT_EQ(pcnn_data_open(&ds, "fashion-mnist", PCNN_SPLIT_TEST, 0, err), 0) << err;
  EXPECT_EQ(ds.n, 10000);
  const auto first = std::vector<uint8_t>(ds.pixels, ds.pixels + 784);
  sum = 0;
  for (int i = 0; i < 784; i++) sum += ds.pixels[i];
  EXPECT_EQ(sum, 33456u);
  pcnn_dataset_free(&ds);
  ASSERT_EQ(pcnn_data_open(&ds, "fashion-mnist", PCNN_SPLIT_TEST, 10, err), 0) << err;
  EXPECT_EQ(ds.n, 10);
  EXPECT_EQ(std::vector<uint8_t>(ds.pixels, ds.pixels + 784), first);
  pcnn_dataset_free(&ds);
}

TEST(Data, BatchToFloatAndBinarise) {
  pcnn_dataset_t ds = {};
  std::vector<uint8_t> px = {0, 1, 127, 128, 254, 255, 10, 200};  // 4 images of 1x2x1
  ds.pixels = px.data();
  ds.n = 4;
  ds.h = 1;
  ds.w = 2;
  ds.c = 1;
  snprintf(ds.name, sizeof ds.name, "synthetic");
  const int32_t idx[3] = {3, 0, 1};
  float out[6];
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_data_batch_f32(out, &ds, idx, 3, 0, err), 0) << err;
  const float want[6] = {10 / 255.f, 200 / 255.f, 0.f, 1 / 255.f, 127 / 255.f, 128 / 255.f};
  for (int i = 0; i < 6; i++) EXPECT_FLOAT_EQ(out[i], want[i]) << i;
  ASSERT_EQ(pcnn_data_batch_f32(out, &ds, idx, 3, 1, err), 0) << err;
  const float wantb[6] = {0, 1, 0, 0, 0, 1};  // v/255 > 0.5 <=> v >= 128
  for (int i = 0; i < 6; i++) EXPECT_EQ(out[i], wantb[i]) << i;
  const int32_t bad[2] = {1, 4};
  EXPECT_EQ(pcnn_data_batch_f32(out, &ds, bad, 2, 0, err), -1);
  EXPECT_TRUE(Names(err, "synthetic", "batch index 4 (slot 1) out of range [0, 4)"));
}

TEST(Rng, SeededStreamIsStable) {
  pcnn_rng_t a, b;
  pcnn_rng_seed(&a, 42);
  pcnn_rng_seed(&b, 42);
  for (int i = 0; i < 100; i++) ASSERT_EQ(pcnn_rng_u64(&a), pcnn_rng_u64(&b));
  pcnn_rng_seed(&b, 43);
  int same = 0;
  for (int i = 0; i < 100; i++) same += pcnn_rng_u64(&a) == pcnn_rng_u64(&b);
  EXPECT_EQ(same, 0);
  // pinned: checkpoints and runs stay reproducible across builds
  pcnn_rng_seed(&a, 0);
  EXPECT_EQ(pcnn_rng_u64(&a), 0x99ec5f36cb75f2b4ull);  // checked against a Python xoshiro256**
  pcnn_rng_seed(&a, 12345);
  EXPECT_EQ(pcnn_rng_u64(&a), 0xbe6a36374160d49bull);
}

TEST(Rng, UniformRanges) {
  pcnn_rng_t r;
  pcnn_rng_seed(&r, 7);
  double lo = 1, hi = 0, mean = 0, m2 = 0;
  int counts[7] = {0};
  const int n = 70000;
  for (int i = 0; i < n; i++) {
    const double d = pcnn_rng_double(&r);
    const float f = pcnn_rng_float(&r);
    ASSERT_TRUE(d >= 0 && d < 1);
    ASSERT_TRUE(f >= 0.f && f < 1.f);
    lo = d < lo ? d : lo;
    hi = d > hi ? d : hi;
    mean += d;
    const uint64_t k = pcnn_rng_below(&r, 7);
    ASSERT_LT(k, 7u);
    counts[k]++;
    const double z = pcnn_rng_normal(&r);
    m2 += z * z;
  }
  mean /= n;
  EXPECT_LT(lo, 1e-3);
  EXPECT_GT(hi, 1 - 1e-3);
  EXPECT_NEAR(mean, 0.5, 0.01);
  EXPECT_NEAR(m2 / n, 1.0, 0.03);  // variance of N(0,1)
  for (int k = 0; k < 7; k++) EXPECT_NEAR(counts[k], n / 7, 400) << k;
  EXPECT_EQ(pcnn_rng_below(&r, 0), 0u);
  EXPECT_EQ(pcnn_rng_below(&r, 1), 0u);
}

TEST(Rng, ShuffleIsDeterministicPermutation) {
  const int n = 1000;
  std::vector<int32_t> a(n), b(n), c(n);
  pcnn_rng_t r;
  pcnn_rng_seed(&r, 5);
  pcnn_rng_permutation(&r, a.data(), n);
  pcnn_rng_seed(&r, 5);
  pcnn_rng_permutation(&r, b.data(), n);
  pcnn_rng_seed(&r, 6);
  pcnn_rng_permutation(&r, c.data(), n);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<int> seen(n, 0);
  int fixed = 0;
  for (int i = 0; i < n; i++) {
    ASSERT_GE(a[i], 0);
    ASSERT_LT(a[i], n);
    seen[a[i]]++;
    fixed += a[i] == i;
  }
  for (int i = 0; i < n; i++) EXPECT_EQ(seen[i], 1) << i;
  EXPECT_LT(fixed, 10);  // a shuffle, not the identity (expected ~1 fixed point)
  // shuffling again continues the stream: a different order of the same set
  std::vector<int32_t> a2 = a;
  pcnn_rng_shuffle(&r, a2.data(), n);
  EXPECT_NE(a2, a);
}
