// test_image_io.cc: PNG grids (read back with libpng) and .npy round trips
// (model/image_io.h); numpy interop when /usr/bin/python3 has numpy.
#include <dirent.h>
#include <gtest/gtest.h>

#include "test_util.h"
#include <png.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "image_io.h"
}

namespace {

using pt::TmpDir;

struct Png {
  int w = 0, h = 0, c = 0;
  std::vector<uint8_t> px;
};

// Reads a PNG with libpng as 8-bit grey or RGB (as stored).
bool read_png(const std::string &p, Png *out) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, p.c_str())) return false;
  out->c = (img.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
  img.format = out->c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  out->w = (int)img.width;
  out->h = (int)img.height;
  out->px.resize((size_t)out->w * out->h * out->c);
  return png_image_finish_read(&img, nullptr, out->px.data(), 0, nullptr) != 0;
}

using pt::Names;

bool have_numpy() {
  return access("/usr/bin/python3", X_OK) == 0 &&
         system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

std::string run(const std::string &cmd) {
  std::string out;
  FILE *p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char b[256];
  while (fgets(b, sizeof b, p)) out += b;
  pclose(p);
  return out;
}

}  // namespace

TEST(ImageIo, PngGridGreyPixelsAndBorders) {
  TmpDir d;
  const int n = 5, h = 3, w = 2, cols = 3, border = 1, scale = 2;
  std::vector<uint8_t> img((size_t)n * h * w);
  for (size_t i = 0; i < img.size(); i++) img[i] = (uint8_t)(7 * i + 1);
  const std::string p = d / "grid.png";
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_png_write_grid_u8(p.c_str(), img.data(), n, h, w, 1, cols, border, scale, err), 0)
      << err;
  EXPECT_EQ(d.list(), std::vector<std::string>{"grid.png"}) << "temp file left behind";
  Png g;
  ASSERT_TRUE(read_png(p, &g));
  ASSERT_EQ(g.c, 1);
  ASSERT_EQ(g.w, cols * (w * scale + border) + border);  // 16
  ASSERT_EQ(g.h, 2 * (h * scale + border) + border);     // 15
  size_t bad = 0;
  for (int y = 0; y < g.h; y++)
    for (int x = 0; x < g.w; x++) {
      // which tile, and where in it
      const int tx = (x - border) / (w * scale + border), ix = (x - border) % (w * scale + border);
      const int ty = (y - border) / (h * scale + border), iy = (y - border) % (h * scale + border);
      const int i = ty * cols + tx;
      uint8_t want = 128;
      if (x >= border && y >= border && ix < w * scale && iy < h * scale && i < n)
        want = img[((size_t)i * h + iy / scale) * w + ix / scale];
      bad += g.px[(size_t)y * g.w + x] != want;
    }
  EXPECT_EQ(bad, 0u);
}

TEST(ImageIo, PngGridRgbFloatClampsAndRounds) {
  TmpDir d;
  // 2 images 1x2x3; auto cols = 2; no border, scale 1 -> a 4x1 RGB image
  const float img[12] = {0.f, 1.f, 0.5f, -0.5f, 1.5f, NAN, 0.2f, 0.8f, 1 / 255.f, 254.4f / 255.f,
                         0.499f / 255, 0.501f / 255};
  const std::string p = d / "rgb.png";
  char err[PCNN_ERR_LEN];
  ASSERT_EQ(pcnn_png_write_grid_f32(p.c_str(), img, 2, 1, 2, 3, 0, 0, 1, err), 0) << err;
  Png g;
  ASSERT_TRUE(read_png(p, &g));
  ASSERT_EQ(g.c, 3);
  ASSERT_EQ(g.w, 4);
  ASSERT_EQ(g.h, 1);
  const uint8_t want[12] = {0, 255, 128, 0, 255, 0, 51, 204, 1, 254, 0, 1};
  for (int i = 0; i < 12; i++) EXPECT_EQ(g.px[i], want[i]) << i;

  // auto layout: 10 images -> 4 columns, 3 rows
  std::vector<float> ten(10 * 2 * 2, 0.25f);
  ASSERT_EQ(pcnn_png_write_grid_f32(p.c_str(), ten.data(), 10, 2, 2, 1, 0, 2, 3, err), 0) << err;
  ASSERT_TRUE(read_png(p, &g));
  EXPECT_EQ(g.w, 4 * (2 * 3 + 2) + 2);
  EXPECT_EQ(g.h, 3 * (2 * 3 + 2) + 2);
}

TEST(ImageIo, PngErrors) {
  TmpDir d;
  uint8_t img[8] = {0};
  char err[PCNN_ERR_LEN];
  const std::string p = d / "x.png";
  EXPECT_EQ(pcnn_png_write_grid_u8(p.c_str(), img, 2, 2, 2, 2, 0, 1, 1, err), -1);
  EXPECT_TRUE(Names(err, p, "c must be 1 or 3"));
  EXPECT_EQ(pcnn_png_write_grid_u8(p.c_str(), img, 2, 2, 2, 1, 0, 1, 0, err), -1);
  EXPECT_TRUE(Names(err, p, "scale 0"));
  const std::string nowhere = "/nonexistent_dir_pcnn/x.png";
  EXPECT_EQ(pcnn_png_write_grid_u8(nowhere.c_str(), img, 2, 2, 2, 1, 0, 1, 1, err), -1);
  EXPECT_TRUE(Names(err, nowhere, "cannot create"));
  EXPECT_TRUE(d.list().empty());
}

TEST(ImageIo, NpyRoundTrip) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {2, 3}, {2, 1, 4, 3}, {0, 3}};
  for (const auto &sh : shapes) {
    size_t count = 1;
    for (auto s : sh) count *= (size_t)s;
    std::vector<float> f(count);
    std::vector<uint8_t> u(count);
    for (size_t i = 0; i < count; i++) {
      f[i] = (float)i * 0.37f - 1.f;
      u[i] = (uint8_t)(i * 13);
    }
    for (int dt = 0; dt < 2; dt++) {
      const std::string p = d / ("a" + std::to_string(sh.size()) + (dt ? ".u8.npy" : ".npy"));
      const void *src = dt ? (const void *)u.data() : (const void *)f.data();
      ASSERT_EQ(pcnn_npy_write(p.c_str(), dt ? PCNN_NPY_U8 : PCNN_NPY_F32, src, (int)sh.size(),
                               sh.data(), err), 0) << err;
      // v1.0 header: data starts at a multiple of 64
      FILE *fp = fopen(p.c_str(), "rb");
      uint8_t h[10];
      ASSERT_EQ(fread(h, 1, 10, fp), 10u);
      fclose(fp);
      EXPECT_EQ(h[6], 1);
      EXPECT_EQ((10 + (h[8] | h[9] << 8)) % 64, 0);
      pcnn_npy_t a;
      ASSERT_EQ(pcnn_npy_read(&a, p.c_str(), err), 0) << err;
      EXPECT_EQ(a.dtype, dt ? PCNN_NPY_U8 : PCNN_NPY_F32);
      ASSERT_EQ(a.ndim, (int)sh.size());
      for (size_t k = 0; k < sh.size(); k++) EXPECT_EQ(a.shape[k], sh[k]);
      ASSERT_EQ(a.count, count);
      if (count) {
        EXPECT_EQ(memcmp(a.data, src, count * (dt ? 1 : 4)), 0);
      }
      pcnn_npy_free(&a);
    }
  }
}

TEST(ImageIo, NpyErrors) {
  TmpDir d;
  char err[PCNN_ERR_LEN];
  pcnn_npy_t a;
  const float v[6] = {1, 2, 3, 4, 5, 6};
  const int64_t sh[2] = {2, 3};
  const std::string good = d / "good.npy";
  ASSERT_EQ(pcnn_npy_write(good.c_str(), PCNN_NPY_F32, v, 2, sh, err), 0) << err;
  FILE *f = fopen(good.c_str(), "rb");
  std::vector<char> bytes(200);
  bytes.resize(fread(bytes.data(), 1, bytes.size(), f));
  fclose(f);
  ASSERT_EQ(bytes.size(), 128u + 24u);  // a 128-byte v1.0 header
  auto put = [&](const std::string &name, std::vector<char> b) {
    const std::string p = d / name;
    FILE *o = fopen(p.c_str(), "wb");
    fwrite(b.data(), 1, b.size(), o);
    fclose(o);
    return p;
  };
  auto with = [&](const char *from, const char *to) {
    std::string s(bytes.begin(), bytes.end());
    s.replace(s.find(from), strlen(from), to);
    return std::vector<char>(s.begin(), s.end());
  };
  std::string p = put("trunc.npy", std::vector<char>(bytes.begin(), bytes.end() - 1));
  EXPECT_EQ(pcnn_npy_read(&a, p.c_str(), err), -1);
  EXPECT_TRUE(Names(err, p, "truncated: shape needs 24 data bytes, file has 23"));
  p = put("magic.npy", with("NUMPY", "NUMPZ"));
  EXPECT_EQ(pcnn_npy_read(&a, p.c_str(), err), -1);
  EXPECT_TRUE(Names(err, p, "not a .npy file"));
  p = put("f8.npy", with("<f4", "<f8"));
  EXPECT_EQ(pcnn_npy_read(&a, p.c_str(), err), -1);
  EXPECT_TRUE(Names(err, p, "unsupported .npy dtype '<f8'"));
  p = put("fortran.npy", with("False", "True "));
  EXPECT_EQ(pcnn_npy_read(&a, p.c_str(), err), -1);
  EXPECT_TRUE(Names(err, p, "fortran_order"));
  p = put("shape.npy", with("(2, 3)", "(2, 4)"));
  EXPECT_EQ(pcnn_npy_read(&a, p.c_str(), err), -1);
  EXPECT_TRUE(Names(err, p, "truncated: shape needs 32 data bytes, file has 24"));
  p = put("hdrlen.npy", [&] { auto b = bytes; b[9] = 0x7f; return b; }());
  EXPECT_EQ(pcnn_npy_read(&a, p.c_str(), err), -1);
  EXPECT_TRUE(Names(err, p, "truncated: .npy header says"));
  p = d / "missing.npy";
  EXPECT_EQ(pcnn_npy_read(&a, p.c_str(), err), -1);
  EXPECT_TRUE(Names(err, p, "cannot open"));
  EXPECT_EQ(a.data, nullptr);
}

TEST(ImageIo, NpyNumpyInterop) {
  if (!have_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  TmpDir d;
  char err[PCNN_ERR_LEN];
  std::vector<float> v(2 * 3 * 4);
  for (size_t i = 0; i < v.size(); i++) v[i] = (float)i / 8 - 1;
  const int64_t sh[3] = {2, 3, 4};
  const std::string ours = d / "ours.npy", theirs = d / "theirs.npy", one = d / "one.npy";
  ASSERT_EQ(pcnn_npy_write(ours.c_str(), PCNN_NPY_F32, v.data(), 3, sh, err), 0) << err;
  const uint8_t u[5] = {1, 2, 3, 4, 250};
  const int64_t sh1[1] = {5};
  ASSERT_EQ(pcnn_npy_write(one.c_str(), PCNN_NPY_U8, u, 1, sh1, err), 0) << err;
  const std::string out = run(
      "/usr/bin/python3 -c \"import numpy as np; a = np.load('" + ours +
      "'); print(a.dtype, a.shape, repr(float(a[1, 2, 3])), repr(float(a.sum()))); "
      "b = np.load('" + one + "'); print(b.dtype, b.shape, list(b)); "
      "np.save('" + theirs + "', (np.arange(6, dtype=np.uint8) * 40).reshape(3, 2))\" 2>&1");
  EXPECT_EQ(out, "float32 (2, 3, 4) 1.875 10.5\nuint8 (5,) [1, 2, 3, 4, 250]\n");
  pcnn_npy_t a;
  ASSERT_EQ(pcnn_npy_read(&a, theirs.c_str(), err), 0) << err;
  EXPECT_EQ(a.dtype, PCNN_NPY_U8);
  ASSERT_EQ(a.ndim, 2);
  EXPECT_EQ(a.shape[0], 3);
  EXPECT_EQ(a.shape[1], 2);
  for (int i = 0; i < 6; i++) EXPECT_EQ(((uint8_t *)a.data)[i], 40 * i);
  pcnn_npy_free(&a);
}
