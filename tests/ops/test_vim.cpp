// Valid interpolation (ops/vim.h): the labels equal those of the full
// bilinear resize + argmax on random logits where few classes dominate, at
// odd sizes, with align_corners both ways, on single rows and columns, on
// ties, and on a case built so that PaddleSeg's candidate rule (classes of
// the low-resolution argmax) gives wrong labels.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "common/testing.h"
#include "ops/reduce.h"
#include "ops/resize.h"
#include "ops/shape.h"
#include "ops/vim.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;

namespace {

Tensor full_labels(const Tensor& logits, std::array<int64_t, 2> size, bool align_corners) {
  return ops::argmax(ops::upsample_bilinear2d(logits, size, align_corners), 1);
}

int64_t mismatches(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const Tensor x = a.contiguous(), y = b.contiguous();
  int64_t n = 0;
  for (int64_t i = 0; i < x.numel(); ++i) n += x.data<int64_t>()[i] != y.data<int64_t>()[i];
  return n;
}

// Logits like a trained net's: every class low, a few of them raised in
// blobs (a class per region of a coarse random map), plus noise.
Tensor segmentation_like(int64_t n, int64_t c, int64_t h, int64_t w, int64_t present, uint64_t seed, DType dtype) {
  const Tensor noise = ct::uniform({n, c, h, w}, -1.0, 1.0, seed, DType::f64).contiguous();
  const Tensor region =
      ct::uniform({n, 1, (h + 3) / 4, (w + 3) / 4}, 0.0, static_cast<double>(present), seed + 1, DType::f64)
          .contiguous();
  std::vector<double> v(static_cast<size_t>(n * c * h * w));
  const int64_t rh = region.size(2), rw = region.size(3);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const int64_t i = ((b * c + k) * h + y) * w + x;
          const int64_t owner = static_cast<int64_t>(region.data<double>()[(b * rh + y / 4) * rw + x / 4]) * 7 % c;
          v[static_cast<size_t>(i)] = noise.data<double>()[i] + (k == owner ? 6.0 : -4.0);
        }
  return Tensor::from_vector(v, {n, c, h, w}, dtype);
}

}  // namespace

TEST(Vim, EqualsFullResizeArgmaxOnSegmentationLikeLogits) {
  for (DType dtype : {DType::f32, DType::f64})
    for (bool ac : {false, true}) {
      const Tensor logits = segmentation_like(2, 150, 13, 17, 6, 11, dtype);
      std::vector<int64_t> counts;
      const Tensor vim = ops::upsample_bilinear2d_argmax(logits, {101, 131}, ac, &counts);
      EXPECT_EQ(mismatches(vim, full_labels(logits, {101, 131}, ac)), 0) << dtype_name(dtype) << " ac " << ac;
      ASSERT_EQ(counts.size(), 2u);
      for (int64_t k : counts) {
        EXPECT_GE(k, 1);
        EXPECT_LT(k, 20) << "few classes can win where few dominate";
      }
    }
}

TEST(Vim, EqualsFullResizeArgmaxOnNoiseAtOddSizes) {
  struct Case {
    int64_t c, h, w, oh, ow;
  };
  for (const Case& s : {Case{7, 5, 9, 37, 61}, Case{40, 1, 6, 9, 47}, Case{40, 6, 1, 33, 5}, Case{3, 1, 1, 4, 7},
                        Case{12, 11, 8, 7, 5}, Case{19, 16, 12, 128, 96}})
    for (bool ac : {false, true}) {
      const Tensor logits = ct::uniform({2, s.c, s.h, s.w}, -3, 3, static_cast<uint64_t>(s.c * 31 + s.h), DType::f32);
      EXPECT_EQ(
          mismatches(ops::upsample_bilinear2d_argmax(logits, {s.oh, s.ow}, ac), full_labels(logits, {s.oh, s.ow}, ac)),
          0)
          << s.c << " classes " << s.h << "x" << s.w << " -> " << s.oh << "x" << s.ow << " ac " << ac;
    }
}

// Two corners won by classes 0 and 1, class 2 second at both: between them
// class 2 wins, although it wins at no input pixel.
TEST(Vim, ExactWherePaddlesRuleFails) {
  const Tensor logits = Tensor::from_vector({1.0, 0.0,   // class 0 at the left and right pixel
                                             0.0, 1.0,   // class 1
                                             0.8, 0.8},  // class 2
                                            {1, 3, 1, 2}, DType::f32);
  const Tensor full = full_labels(logits, {1, 8}, false).contiguous();
  std::set<int64_t> low_res_argmax, full_res;
  const Tensor low = ops::argmax(logits, 1).contiguous();
  for (int64_t i = 0; i < low.numel(); ++i) low_res_argmax.insert(low.data<int64_t>()[i]);
  for (int64_t i = 0; i < full.numel(); ++i) full_res.insert(full.data<int64_t>()[i]);
  EXPECT_EQ(low_res_argmax, (std::set<int64_t>{0, 1}));
  EXPECT_TRUE(full_res.count(2)) << "Paddle's candidates {0, 1} cannot give the full resize's labels";

  const Tensor mask = ops::vim_candidates(logits).contiguous();
  EXPECT_TRUE(mask.data<bool>()[2]);
  EXPECT_EQ(mismatches(ops::upsample_bilinear2d_argmax(logits, {1, 8}, false), full_labels(logits, {1, 8}, false)), 0);
}

// A class far below the others everywhere is no candidate; ties go to the
// first class as in the full argmax.
TEST(Vim, DropsHopelessClassesAndKeepsTieOrder) {
  const Tensor logits = Tensor::from_vector({2.0, 2.0, 2.0, 2.0,      // class 0
                                             -9.0, -9.0, -9.0, -9.0,  // class 1: never
                                             2.0, 2.0, 2.0, 2.0},     // class 2: ties with 0
                                            {1, 3, 2, 2}, DType::f32);
  const Tensor mask = ops::vim_candidates(logits).contiguous();
  EXPECT_TRUE(mask.data<bool>()[0]);
  EXPECT_FALSE(mask.data<bool>()[1]);
  EXPECT_TRUE(mask.data<bool>()[2]);
  const Tensor labels = ops::upsample_bilinear2d_argmax(logits, {5, 3}, false).contiguous();
  for (int64_t i = 0; i < labels.numel(); ++i) EXPECT_EQ(labels.data<int64_t>()[i], 0);
}

TEST(Vim, ArgumentErrors) {
  EXPECT_TRUE(ct::throws_mentioning(
      [] {
        ops::vim_candidates(Tensor::zeros({3, 4, 5}));
      },
      {"vim_candidates", "[N, C, H, W]"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [] {
        ops::upsample_bilinear2d_argmax(Tensor::zeros({1, 2, 3, 3}, DType::i64), {6, 6}, false);
      },
      {"upsample_bilinear2d_argmax", "floating"}));
}
