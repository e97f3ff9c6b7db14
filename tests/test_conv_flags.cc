// test_conv_flags.cc: the flags of pcnn_conv_t (pcnn_kernels.h).
// PCNN_CONV_OVERWRITE on every row of the
// two data-gradient ops, conv_bwd_data and conv1x1_prelu_bwd_data, FP32 and
// bf16, the reference rows included: with the flag, din = the gradient, bit
// for bit what zeroing din and accumulating gives, and din's old contents
// are never read (they are NaN here, so a path that still starts from din
// fails). The shapes reach each path of a kernel: the 3x3 direct engine,
// the 1x1 GEMM tile, the narrow head, every tap masked (1x1 A, one group),
// a cout too wide for the pack (the reference fallback), and more input
// channels than the zero bias covers (PCNN_ZEROS: din zeroed first).
// PCNN_CONV_STREAM_PRE on every row of the forwards with a PReLU epilogue
// (conv_prelu_fwd, conv1x1_prelu_fwd): pre and out bit for bit as without
// the hint, on shapes whose pre the kernels stream (cout a multiple of 16)
// and shapes they do not.
// Rows of an ISA this CPU lacks are skipped with a message.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"

namespace {

pcnn_conv_t C(int n, int h, int w, int cin, int cout, int k, int mask, int groups) {
  return pt::conv(n, h, w, cin, cout, k, mask, groups);
}

// every row of op this CPU runs, FP32 then bf16, the reference rows
// included (the others skipped with a message); returns how many ran
template <typename F>
int for_each_row(pcnn_op_t op, F f) {
  int rows = 0;
  for (int prec = 0; prec < 2; prec++) {
    const pcnn_kernel_row_t *r = prec ? pcnn_kernel_rows_bf16 : pcnn_kernel_rows;
    const int nr = prec ? pcnn_kernel_row_count_bf16 : pcnn_kernel_row_count;
    for (int i = 0; i < nr; i++) {
      if (r[i].op != op) continue;
      if (!pcnn_isa_supported(r[i].isa)) {
        std::printf("[ SKIPPED  ] %s: this CPU has no %s\n", r[i].fn_name, pcnn_isa_name(r[i].isa));
        continue;
      }
      rows++;
      f(r[i]);
    }
  }
  return rows;
}
const int A = PCNN_MASK_A, B = PCNN_MASK_B;

std::vector<pcnn_conv_t> shapes(bool pointwise) {
  if (pointwise)  // conv1x1_prelu_bwd_data: k = 1 only
    return {C(2, 28, 28, 128, 64, 1, B, 1), C(1, 5, 7, 13, 33, 1, A, 3), C(2, 3, 9, 31, 17, 1, A, 1),
            C(1, 7, 5, 17, 9, 1, B, 3),     C(1, 2, 3, 5, 4100, 1, B, 3), C(1, 2, 3, 4100, 5, 1, B, 1)};
  return {C(2, 28, 28, 64, 64, 3, B, 1),  C(1, 28, 28, 64, 128, 1, B, 1), C(2, 28, 28, 128, 1, 1, B, 1),
          C(1, 5, 7, 13, 33, 1, A, 3),    C(2, 3, 9, 31, 17, 1, A, 1),    C(2, 6, 29, 20, 70, 5, A, 1),
          C(1, 3, 5, 1100, 20, 3, B, 1),  C(1, 2, 3, 4100, 7, 3, B, 1),   C(1, 2, 3, 4100, 5, 1, B, 1),
          C(2, 1, 1, 17, 13, 7, A, 1),    C(1, 4, 5, 3, 5, 17, A, 1),     C(1, 2, 3, 5, 4100, 1, B, 3)};
}

// din after one call: pre-filled with fill, flags as given
std::vector<float> call(const pcnn_kernel_row_t &row, pcnn_conv_t c, unsigned flags, float fill,
                        const std::vector<float> &dout, const std::vector<float> &pre,
                        const std::vector<float> &w, const std::vector<float> &alpha) {
  c.flags = flags;
  std::vector<float> din(pt::conv_in_size(c), fill);
  if (row.op == PCNN_OP_conv_bwd_data)
    ((pcnn_conv_bwd_data_fn *)row.fn)(din.data(), dout.data(), w.data(), &c);
  else
    ((pcnn_conv1x1_prelu_bwd_data_fn *)row.fn)(din.data(), dout.data(), pre.data(), w.data(),
                                               alpha.data(), &c);
  return din;
}

void check_rows(pcnn_op_t op) {
  const int rows = for_each_row(op, [&](const pcnn_kernel_row_t &row) {
    uint64_t seed = 5;
    for (const pcnn_conv_t &c : shapes(op == PCNN_OP_conv1x1_prelu_bwd_data)) {
      ASSERT_EQ(pcnn_conv_check(&c), nullptr) << pt::conv_str(c);
      const std::vector<float> dout = pt::rand_vec(pt::conv_out_size(c), seed++);
      const std::vector<float> pre = pt::rand_vec(pt::conv_out_size(c), seed++);
      const std::vector<float> w = pt::rand_vec(pt::conv_w_size(c), seed++, -0.2f, 0.2f);
      const std::vector<float> alpha = pt::rand_vec(c.cout, seed++, -0.5f, 0.5f);
      const std::vector<float> acc = call(row, c, 0, 0.f, dout, pre, w, alpha);
      const std::vector<float> set = call(row, c, PCNN_CONV_OVERWRITE, NAN, dout, pre, w, alpha);
      size_t diff = 0, first = 0;
      for (size_t j = 0; j < acc.size(); j++)
        if (std::memcmp(&acc[j], &set[j], sizeof(float)) != 0 && !diff++) first = j;
      EXPECT_EQ(diff, 0u) << row.fn_name << " " << pt::conv_str(c) << ": first at " << first << ", "
                          << set[first] << " with the flag, " << acc[first] << " zeroed + accumulated";
    }
  });
  EXPECT_GE(rows, 2) << "the reference rows at least";
}

TEST(Overwrite, ConvBwdDataEqualsZeroThenAccumulate) { check_rows(PCNN_OP_conv_bwd_data); }
TEST(Overwrite, Conv1x1PreluBwdDataEqualsZeroThenAccumulate) { check_rows(PCNN_OP_conv1x1_prelu_bwd_data); }

// pre, out of one forward call with the given flags (pre, out pre-filled NaN)
std::pair<std::vector<float>, std::vector<float>> fwd(const pcnn_kernel_row_t &row, pcnn_conv_t c,
                                                      unsigned flags, const std::vector<float> &in,
                                                      const std::vector<float> &w, const std::vector<float> &b,
                                                      const std::vector<float> &res,
                                                      const std::vector<float> &alpha) {
  c.flags = flags;
  // pre and out on 64-byte boundaries, as the model's are (the kernels
  // stream only whole aligned vectors)
  const size_t n = pt::conv_out_size(c);
  std::vector<float> buf(2 * n + 32, NAN);
  float *pre = buf.data() + (16 - ((uintptr_t)buf.data() / sizeof(float)) % 16) % 16;
  float *out = pre + (n + 15) / 16 * 16;
  if (row.op == PCNN_OP_conv_prelu_fwd)
    ((pcnn_conv_prelu_fwd_fn *)row.fn)(pre, out, in.data(), w.data(), b.data(), res.data(), alpha.data(), &c);
  else
    ((pcnn_conv1x1_prelu_fwd_fn *)row.fn)(pre, out, in.data(), w.data(), b.data(), alpha.data(), &c);
  return {std::vector<float>(pre, pre + n), std::vector<float>(out, out + n)};
}

void check_stream(pcnn_op_t op) {
  const std::vector<pcnn_conv_t> shp =
      op == PCNN_OP_conv1x1_prelu_fwd
          ? std::vector<pcnn_conv_t>{C(1, 28, 28, 128, 64, 1, B, 1), C(2, 5, 7, 13, 32, 1, B, 3),
                                     C(1, 7, 5, 17, 9, 1, B, 3)}
          : std::vector<pcnn_conv_t>{C(1, 28, 28, 64, 64, 3, B, 1), C(2, 6, 29, 20, 48, 5, A, 1),
                                     C(1, 28, 28, 64, 128, 1, B, 1), C(1, 7, 11, 16, 40, 3, B, 1)};
  const int rows = for_each_row(op, [&](const pcnn_kernel_row_t &row) {
    uint64_t seed = 50;
    for (const pcnn_conv_t &c : shp) {
      const std::vector<float> in = pt::rand_vec(pt::conv_in_size(c), seed++);
      const std::vector<float> w = pt::rand_vec(pt::conv_w_size(c), seed++, -0.2f, 0.2f);
      const std::vector<float> b = pt::rand_vec(c.cout, seed++);
      const std::vector<float> res = pt::rand_vec(pt::conv_out_size(c), seed++);
      const std::vector<float> alpha = pt::rand_vec(c.cout, seed++, -0.5f, 0.5f);
      const auto plain = fwd(row, c, 0, in, w, b, res, alpha);
      const auto hint = fwd(row, c, PCNN_CONV_STREAM_PRE, in, w, b, res, alpha);
      EXPECT_EQ(std::memcmp(plain.first.data(), hint.first.data(), plain.first.size() * sizeof(float)), 0)
          << row.fn_name << " " << pt::conv_str(c) << ": pre";
      EXPECT_EQ(std::memcmp(plain.second.data(), hint.second.data(), plain.second.size() * sizeof(float)), 0)
          << row.fn_name << " " << pt::conv_str(c) << ": out";
    }
  });
  EXPECT_GE(rows, 2) << "the reference rows at least";
}

TEST(StreamPre, ConvPreluFwdSameBits) { check_stream(PCNN_OP_conv_prelu_fwd); }
TEST(StreamPre, Conv1x1PreluFwdSameBits) { check_stream(PCNN_OP_conv1x1_prelu_fwd); }

TEST(Overwrite, ConvCheckRejectsUnknownFlags) {
  pcnn_conv_t c = C(1, 4, 4, 3, 3, 3, B, 1);
  EXPECT_EQ(pcnn_conv_check(&c), nullptr);
  c.flags = PCNN_CONV_OVERWRITE;
  EXPECT_EQ(pcnn_conv_check(&c), nullptr);
  c.flags = PCNN_CONV_OVERWRITE | PCNN_CONV_STREAM_PRE;
  EXPECT_EQ(pcnn_conv_check(&c), nullptr);
  c.flags = 4;
  EXPECT_NE(pcnn_conv_check(&c), nullptr);
}

}  // namespace
