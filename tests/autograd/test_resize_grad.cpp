// Gradchecks of the resampling ops (float64, finite differences).
#include <gtest/gtest.h>

#include <vector>

#include "autograd/resize.h"
#include "common/testing.h"

using namespace cudaseg;
using cudaseg::testing::gradcheck_ok;
using cudaseg::testing::leaf;

TEST(ResizeGrad, BilinearBySizeAndScale) {
  const Tensor x = leaf({2, 2, 5, 7}, 1);
  for (bool ac : {false, true}) {
    for (const std::array<int64_t, 2> s : {std::array<int64_t, 2>{11, 16}, {3, 4}, {5, 9}})
      EXPECT_TRUE(gradcheck_ok(
          [&](const std::vector<Tensor>& in) { return fn::interpolate(in[0], s, std::nullopt, "bilinear", ac); }, {x}))
          << s[0] << "x" << s[1] << " align_corners " << ac;
    const std::array<double, 2> sf{1.7, 0.6};
    EXPECT_TRUE(gradcheck_ok(
        [&](const std::vector<Tensor>& in) { return fn::interpolate(in[0], std::nullopt, sf, "bilinear", ac); }, {x}));
  }
}

TEST(ResizeGrad, NearestBySizeAndScale) {
  const Tensor x = leaf({2, 2, 5, 7}, 2);
  for (const std::array<int64_t, 2> s : {std::array<int64_t, 2>{10, 14}, {3, 4}, {8, 9}})
    EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& in) { return fn::interpolate(in[0], s); }, {x}));
  const std::array<double, 2> sf{1.7, 0.6};
  EXPECT_TRUE(
      gradcheck_ok([&](const std::vector<Tensor>& in) { return fn::interpolate(in[0], std::nullopt, sf); }, {x}));
}

TEST(ResizeGrad, GridSampleInputAndGrid) {
  const Tensor x = leaf({2, 3, 5, 6}, 3);
  Tensor grid = cudaseg::testing::uniform({2, 4, 3, 2}, -1.2, 1.2, 4);
  grid.set_requires_grad(true);
  for (const char* pad : {"zeros", "border"})
    for (bool ac : {false, true})
      EXPECT_TRUE(gradcheck_ok(
          [&](const std::vector<Tensor>& in) { return fn::grid_sample(in[0], in[1], "bilinear", pad, ac); },
          {x, grid}))
          << pad << " align_corners " << ac;
}

TEST(ResizeGrad, PixelShuffleAndUnshuffle) {
  const Tensor x = leaf({2, 8, 3, 2}, 5);
  EXPECT_TRUE(gradcheck_ok([](const std::vector<Tensor>& in) { return fn::pixel_shuffle(in[0], 2); }, {x}));
  const Tensor y = leaf({2, 2, 6, 4}, 6);
  EXPECT_TRUE(gradcheck_ok([](const std::vector<Tensor>& in) { return fn::pixel_unshuffle(in[0], 2); }, {y}));
}
