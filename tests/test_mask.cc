// test_mask.cc: the PixelCNN mask.
//  (i)  pcnn_mask_keep for k = 3 against hand-written tables; co_begin, fill and
//       the MAC count agree with keep for every k, mask, group count.
//  (ii) causality of a whole masked stack built from the reference conv: an
//       output depends only on inputs before it in raster order, and at its
//       own pixel only on lower colour groups (type A first layer), and it
//       does depend on its left and upper neighbours and the lower groups of
//       its own pixel (no over-masking).
// The checkers take the function under test as a pointer, and are also run
// on deliberately loosened (or tightened) masks that must be reported, so
// these tests show, on every run, that they can fail.
#include <string>
#include <vector>

#include "test_util.h"

namespace {

pcnn_conv_t conv(int n, int h, int w, int cin, int cout, int k, int mask, int groups) {
  pcnn_conv_t c{};
  c.n = n; c.h = h; c.w = w; c.cin = cin; c.cout = cout; c.k = k; c.mask = mask; c.groups = groups;
  return c;
}

// ================================================================ (i) tables

typedef int keep_fn(const pcnn_conv_t *c, int ky, int kx, int ci, int co);

// k = 3, every (ci, co): rows above the centre kept, left of the centre kept,
// right of it and the row below dropped; -1 marks the centre (per channel pair)
const int kTap3[3][3] = {{1, 1, 1},
                         {1, -1, 0},
                         {0, 0, 0}};

// centre tap, [ci][co]
const int kG1A_1x1[1] = {0};
const int kG1B_1x1[1] = {1};
const int kG1A_2x3[2 * 3] = {0, 0, 0,
                             0, 0, 0};
const int kG1B_2x3[2 * 3] = {1, 1, 1,
                             1, 1, 1};
// groups 3, one channel per group: A strictly upper-triangular (gi < go),
// B upper-triangular with the diagonal (gi <= go)
const int kG3A_3x3[3 * 3] = {0, 1, 1,
                             0, 0, 1,
                             0, 0, 0};
const int kG3B_3x3[3 * 3] = {1, 1, 1,
                             0, 1, 1,
                             0, 0, 1};
// cin 6 = {0,1} {2,3} {4,5}; cout 9 = {0,1,2} {3,4,5} {6,7,8}
const int kG3A_6x9[6 * 9] = {0, 0, 0, 1, 1, 1, 1, 1, 1,
                             0, 0, 0, 1, 1, 1, 1, 1, 1,
                             0, 0, 0, 0, 0, 0, 1, 1, 1,
                             0, 0, 0, 0, 0, 0, 1, 1, 1,
                             0, 0, 0, 0, 0, 0, 0, 0, 0,
                             0, 0, 0, 0, 0, 0, 0, 0, 0};
const int kG3B_6x9[6 * 9] = {1, 1, 1, 1, 1, 1, 1, 1, 1,
                             1, 1, 1, 1, 1, 1, 1, 1, 1,
                             0, 0, 0, 1, 1, 1, 1, 1, 1,
                             0, 0, 0, 1, 1, 1, 1, 1, 1,
                             0, 0, 0, 0, 0, 0, 1, 1, 1,
                             0, 0, 0, 0, 0, 0, 1, 1, 1};
// uneven split, group g of C is [g*C/3, (g+1)*C/3):
// cin 5 = {0} {1,2} {3,4}; cout 7 = {0,1} {2,3} {4,5,6}
const int kG3A_5x7[5 * 7] = {0, 0, 1, 1, 1, 1, 1,
                             0, 0, 0, 0, 1, 1, 1,
                             0, 0, 0, 0, 1, 1, 1,
                             0, 0, 0, 0, 0, 0, 0,
                             0, 0, 0, 0, 0, 0, 0};
const int kG3B_5x7[5 * 7] = {1, 1, 1, 1, 1, 1, 1,
                             0, 0, 1, 1, 1, 1, 1,
                             0, 0, 1, 1, 1, 1, 1,
                             0, 0, 0, 0, 1, 1, 1,
                             0, 0, 0, 0, 1, 1, 1};

struct Table {
  pcnn_conv_t c{};
  const int *centre;
};
const Table kTables[] = {
    {conv(1, 1, 1, 1, 1, 3, PCNN_MASK_A, 1), kG1A_1x1}, {conv(1, 1, 1, 1, 1, 3, PCNN_MASK_B, 1), kG1B_1x1},
    {conv(1, 1, 1, 2, 3, 3, PCNN_MASK_A, 1), kG1A_2x3}, {conv(1, 1, 1, 2, 3, 3, PCNN_MASK_B, 1), kG1B_2x3},
    {conv(1, 1, 1, 3, 3, 3, PCNN_MASK_A, 3), kG3A_3x3}, {conv(1, 1, 1, 3, 3, 3, PCNN_MASK_B, 3), kG3B_3x3},
    {conv(1, 1, 1, 6, 9, 3, PCNN_MASK_A, 3), kG3A_6x9}, {conv(1, 1, 1, 6, 9, 3, PCNN_MASK_B, 3), kG3B_6x9},
    {conv(1, 1, 1, 5, 7, 3, PCNN_MASK_A, 3), kG3A_5x7}, {conv(1, 1, 1, 5, 7, 3, PCNN_MASK_B, 3), kG3B_5x7},
};

::testing::AssertionResult MatchesTable(keep_fn *keep, const Table &t) {
  const pcnn_conv_t &c = t.c;
  int bad = 0;
  std::string msg;
  for (int ky = 0; ky < 3; ky++)
    for (int kx = 0; kx < 3; kx++)
      for (int ci = 0; ci < c.cin; ci++)
        for (int co = 0; co < c.cout; co++) {
          const int want = kTap3[ky][kx] >= 0 ? kTap3[ky][kx] : t.centre[ci * c.cout + co];
          const int got = keep(&c, ky, kx, ci, co);
          if (got != want && bad++ < 5) {
            char b[120];
            snprintf(b, sizeof b, "\n  tap (%d,%d) ci %d co %d: keep %d, table %d", ky, kx, ci, co,
                     got, want);
            msg += b;
          }
        }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << pt::conv_str(c) << ": " << bad << " entries differ" << msg;
}

TEST(MaskTable, K3MatchesHandTables) {
  for (const Table &t : kTables) EXPECT_TRUE(MatchesTable(pcnn_mask_keep, t));
}

// loosened keeps: each admits one thing the mask forbids
int keep_right_of_centre(const pcnn_conv_t *c, int ky, int kx, int ci, int co) {
  const int r = c->k / 2;
  if (ky == r && kx == r + 1 && ci == 0 && co == 0) return 1;
  return pcnn_mask_keep(c, ky, kx, ci, co);
}
int keep_last_ci_to_first_co(const pcnn_conv_t *c, int ky, int kx, int ci, int co) {
  const int r = c->k / 2;  // centre: highest input channel feeds the lowest output
  if (ky == r && kx == r && ci == c->cin - 1 && co == 0) return 1;
  return pcnn_mask_keep(c, ky, kx, ci, co);
}
int keep_a_as_b(const pcnn_conv_t *c, int ky, int kx, int ci, int co) {
  pcnn_conv_t b = *c;
  b.mask = PCNN_MASK_B;
  return pcnn_mask_keep(&b, ky, kx, ci, co);
}
int keep_groups_ignored(const pcnn_conv_t *c, int ky, int kx, int ci, int co) {
  pcnn_conv_t g = *c;  // treats the colour groups as one
  g.groups = 1;
  return pcnn_mask_keep(&g, ky, kx, ci, co);
}

TEST(MaskTable, LoosenedKeepIsReported) {
  for (const Table &t : kTables) {
    EXPECT_FALSE(MatchesTable(keep_right_of_centre, t)) << pt::conv_str(t.c);
    if (t.c.mask == PCNN_MASK_A) {
      EXPECT_FALSE(MatchesTable(keep_a_as_b, t)) << pt::conv_str(t.c);
    }
    if (t.c.groups == 3) {
      EXPECT_FALSE(MatchesTable(keep_last_ci_to_first_co, t)) << pt::conv_str(t.c);
      EXPECT_FALSE(MatchesTable(keep_groups_ignored, t)) << pt::conv_str(t.c);
    }
  }
}

// every k, mask, group count, odd channel counts
std::vector<pcnn_conv_t> all_convs() {
  std::vector<pcnn_conv_t> v;
  for (int k : {1, 3, 5, 7})
    for (int mask : {PCNN_MASK_A, PCNN_MASK_B})
      for (int groups : {1, 3})
        for (int cin : {1, 3, 5, 7, 13})
          for (int cout : {1, 3, 5, 7, 13}) {
            const pcnn_conv_t c = conv(2, 3, 5, cin, cout, k, mask, groups);
            if (pcnn_conv_check(&c) == nullptr) v.push_back(c);
          }
  return v;
}

TEST(MaskHelpers, CoBeginFillAndMacsAgreeWithKeep) {
  const auto convs = all_convs();
  ASSERT_GT(convs.size(), 100u);
  for (const pcnn_conv_t &c : convs) {
    std::vector<float> fill(pt::conv_w_size(c), -1.f);
    pcnn_mask_fill(fill.data(), &c);
    long kept = 0, bad_begin = 0, bad_fill = 0;
    for (int ky = 0; ky < c.k; ky++)
      for (int kx = 0; kx < c.k; kx++)
        for (int ci = 0; ci < c.cin; ci++) {
          const int b = pcnn_mask_co_begin(&c, ky, kx, ci);
          if (b < 0 || b > c.cout) bad_begin++;
          for (int co = 0; co < c.cout; co++) {
            const int keep = pcnn_mask_keep(&c, ky, kx, ci, co);
            kept += keep;
            if (keep != (co >= b)) bad_begin++;
            if (fill[(((size_t)ky * c.k + kx) * c.cin + ci) * c.cout + co] != (float)keep) bad_fill++;
          }
        }
    EXPECT_EQ(bad_begin, 0) << pt::conv_str(c);
    EXPECT_EQ(bad_fill, 0) << pt::conv_str(c);
    EXPECT_EQ(pcnn_conv_useful_macs(&c), (double)kept * c.n * c.h * c.w) << pt::conv_str(c);
    EXPECT_EQ(pcnn_conv_dense_macs(&c), (double)pt::conv_w_size(c) * c.n * c.h * c.w);
  }
}

TEST(MaskHelpers, KnownTapCounts) {
  // 7x7 A grayscale: 3 full rows of 7 + 3 left of the centre = 24 of 49
  pcnn_conv_t c = conv(1, 1, 1, 1, 1, 7, PCNN_MASK_A, 1);
  EXPECT_EQ(pcnn_conv_useful_macs(&c), 24.0);
  // 3x3 B grayscale: 3 + 1 + centre = 5 of 9
  c = conv(1, 1, 1, 1, 1, 3, PCNN_MASK_B, 1);
  EXPECT_EQ(pcnn_conv_useful_macs(&c), 5.0);
  // 3x3 A / B, RGB, 3 -> 3: 4 off-centre taps x 9 pairs + 3 (A) or 6 (B) at the centre
  c = conv(1, 1, 1, 3, 3, 3, PCNN_MASK_A, 3);
  EXPECT_EQ(pcnn_conv_useful_macs(&c), 39.0);
  c.mask = PCNN_MASK_B;
  EXPECT_EQ(pcnn_conv_useful_macs(&c), 42.0);
  // 1x1 A grayscale keeps nothing; the MAC count scales with n*h*w
  c = conv(2, 3, 5, 4, 6, 1, PCNN_MASK_A, 1);
  EXPECT_EQ(pcnn_conv_useful_macs(&c), 0.0);
  c.mask = PCNN_MASK_B;
  EXPECT_EQ(pcnn_conv_useful_macs(&c), 4.0 * 6 * 30);
}

// ================================================================ (ii) causality

struct Layer {
  pcnn_conv_t c{};
  std::vector<float> w, b;
};
struct Stack {
  int h, w, cin, cout, groups;
  std::vector<Layer> layers;
};

// 7x7 A, then 3x3 B, 3x3 B, 1x1 B, 1x1 B down to one channel per colour group
Stack make_stack(int groups, int h, int w) {
  const int hid = groups == 3 ? 12 : 8, cin = groups;
  Stack s{h, w, cin, groups, groups, {}};
  const int spec[][4] = {{7, PCNN_MASK_A, cin, hid}, {3, PCNN_MASK_B, hid, hid},
                         {3, PCNN_MASK_B, hid, hid}, {1, PCNN_MASK_B, hid, hid},
                         {1, PCNN_MASK_B, hid, groups}};
  uint64_t seed = 900 + groups;
  for (const auto &l : spec) {
    Layer L;
    L.c = conv(1, h, w, l[2], l[3], l[0], l[1], groups);
    L.w = pt::rand_vec(pt::conv_w_size(L.c), seed++, -0.5f, 0.5f);
    L.b = pt::rand_vec(L.c.cout, seed++, -0.1f, 0.1f);
    s.layers.push_back(L);
  }
  return s;
}

std::vector<float> run_stack(const Stack &s, pcnn_conv_fwd_fn *conv_fwd, const std::vector<float> &img) {
  std::vector<float> x = img, y;
  for (size_t i = 0; i < s.layers.size(); i++) {
    const Layer &L = s.layers[i];
    y.assign(pt::conv_out_size(L.c), 0.f);
    conv_fwd(y.data(), x.data(), L.w.data(), L.b.data(), &L.c);
    if (i + 1 < s.layers.size()) {  // PReLU, slope 0.25: never a dead unit
      const std::vector<float> alpha(L.c.cout, 0.25f);
      pcnn_prelu_fwd__ref(y.data(), y.data(), alpha.data(), (size_t)s.h * s.w, L.c.cout);
    }
    x.swap(y);
  }
  return x;
}

struct Causality {
  long forbidden = 0;  // an output changed that must not depend on the input
  long missing = 0;    // an output that must depend on the input did not change
  std::string first;
};

// Perturbs every input pixel q and channel ch by +2 (inputs are in [-1, 1])
// and compares every output (p, g) bit for bit with the unperturbed run.
Causality check_causality(const Stack &s, pcnn_conv_fwd_fn *conv_fwd) {
  const auto img = pt::rand_vec((size_t)s.h * s.w * s.cin, 4242);
  const auto base = run_stack(s, conv_fwd, img);
  Causality r;
  auto note = [&](const char *what, int qy, int qx, int ch, int py, int px, int g) {
    if (!r.first.empty()) return;
    char b[160];
    snprintf(b, sizeof b, "%s: input (%d,%d) ch %d -> output (%d,%d) group %d", what, qy, qx, ch,
             py, px, g);
    r.first = b;
  };
  for (int qy = 0; qy < s.h; qy++)
    for (int qx = 0; qx < s.w; qx++)
      for (int ch = 0; ch < s.cin; ch++) {
        auto img2 = img;
        img2[((size_t)qy * s.w + qx) * s.cin + ch] += 2.f;
        const auto out = run_stack(s, conv_fwd, img2);
        const int gq = pcnn_group_of(ch, s.cin, s.groups);
        for (int py = 0; py < s.h; py++)
          for (int px = 0; px < s.w; px++)
            for (int g = 0; g < s.cout; g++) {  // output channel g is colour group g
              const size_t o = ((size_t)py * s.w + px) * s.cout + g;
              const bool changed = out[o] != base[o];
              const bool before = qy < py || (qy == py && qx < px);
              const bool same = qy == py && qx == px;
              const bool allowed = before || (same && gq < g);
              const bool required = (qy == py && qx == px - 1) || (qy == py - 1 && qx == px) ||
                                    (same && gq < g);
              if (changed && !allowed) { r.forbidden++; note("forbidden", qy, qx, ch, py, px, g); }
              if (required && !changed) { r.missing++; note("missing", qy, qx, ch, py, px, g); }
            }
      }
  return r;
}

// ---- deliberately wrong convs: the reference plus one kind of masked tap

typedef bool tap_pred(const pcnn_conv_t *c, int ky, int kx, int gi, int go);

// out += in * w over the taps `extra` names that the mask drops
template <tap_pred extra>
void conv_loosened(float *out, const float *in, const float *w, const float *b, const pcnn_conv_t *c) {
  pcnn_conv_fwd__ref(out, in, w, b, c);
  struct Tap { int ky, kx, ci, co; };
  std::vector<Tap> taps;
  for (int ky = 0; ky < c->k; ky++)
    for (int kx = 0; kx < c->k; kx++)
      for (int ci = 0; ci < c->cin; ci++)
        for (int co = 0; co < c->cout; co++)
          if (!pcnn_mask_keep(c, ky, kx, ci, co) &&
              extra(c, ky, kx, pcnn_group_of(ci, c->cin, c->groups),
                    pcnn_group_of(co, c->cout, c->groups)))
            taps.push_back({ky, kx, ci, co});
  const int r = c->k / 2;
  for (int n = 0; n < c->n; n++)
    for (int y = 0; y < c->h; y++)
      for (int x = 0; x < c->w; x++)
        for (const Tap &t : taps) {
          const int iy = y + t.ky - r, ix = x + t.kx - r;
          if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
          out[(((size_t)n * c->h + y) * c->w + x) * c->cout + t.co] +=
              in[(((size_t)n * c->h + iy) * c->w + ix) * c->cin + t.ci] *
              w[(((size_t)t.ky * c->k + t.kx) * c->cin + t.ci) * c->cout + t.co];
        }
}
bool right_of_centre(const pcnn_conv_t *c, int ky, int kx, int, int) {
  return ky == c->k / 2 && kx == c->k / 2 + 1;
}
bool centre_group2_to_group1(const pcnn_conv_t *c, int ky, int kx, int gi, int go) {
  return ky == c->k / 2 && kx == c->k / 2 && gi == 2 && go == 1;
}
bool centre_a_as_b(const pcnn_conv_t *c, int ky, int kx, int gi, int go) {
  return c->mask == PCNN_MASK_A && ky == c->k / 2 && kx == c->k / 2 && gi == go;
}

// over-masked: the tap left of the centre dropped
void conv_without_left_tap(float *out, const float *in, const float *w, const float *b,
                           const pcnn_conv_t *c) {
  std::vector<float> w2(w, w + pt::conv_w_size(*c));
  const int r = c->k / 2;
  if (c->k > 1)
    for (size_t i = 0; i < (size_t)c->cin * c->cout; i++)
      w2[(((size_t)r * c->k + r - 1) * c->cin) * c->cout + i] = 0.f;
  pcnn_conv_fwd__ref(out, in, w2.data(), b, c);
}

class CausalityTest : public ::testing::TestWithParam<int> {};  // param: colour groups

TEST_P(CausalityTest, ReferenceStackIsCausalAndNotOverMasked) {
  const Stack s = make_stack(GetParam(), 6, 7);
  const Causality r = check_causality(s, pcnn_conv_fwd__ref);
  EXPECT_EQ(r.forbidden, 0) << r.first;
  EXPECT_EQ(r.missing, 0) << r.first;
}

TEST_P(CausalityTest, TapRightOfCentreIsReported) {
  const Causality r = check_causality(make_stack(GetParam(), 6, 7), conv_loosened<right_of_centre>);
  EXPECT_GT(r.forbidden, 0);
}

TEST_P(CausalityTest, TypeACentreKeptIsReported) {
  const Causality r = check_causality(make_stack(GetParam(), 6, 7), conv_loosened<centre_a_as_b>);
  EXPECT_GT(r.forbidden, 0);
}

TEST_P(CausalityTest, LeftTapDroppedIsReported) {
  const Causality r = check_causality(make_stack(GetParam(), 6, 7), conv_without_left_tap);
  EXPECT_GT(r.missing, 0);
  EXPECT_EQ(r.forbidden, 0) << r.first;
}

TEST(Causality, ForbiddenGroupPairIsReported) {
  const Causality r = check_causality(make_stack(3, 6, 7), conv_loosened<centre_group2_to_group1>);
  EXPECT_GT(r.forbidden, 0);
}

INSTANTIATE_TEST_SUITE_P(Ref, CausalityTest, ::testing::Values(1, 3),
                         [](const ::testing::TestParamInfo<int> &i) {
                           return i.param == 1 ? std::string("Gray") : std::string("RGB");
                         });

}  // namespace
