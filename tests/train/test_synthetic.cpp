// The synthetic dataset: determinism, splits, geometry, and that its classes
// can be told apart from local colour alone.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <set>
#include <vector>

#include "common/testing.h"
#include "train/synthetic.h"

namespace cudaseg::train {
namespace {

SyntheticOptions options(int64_t classes, int64_t h, int64_t w, uint64_t seed = 3, bool val = false) {
  SyntheticOptions o;
  o.num_classes = classes;
  o.size = 40;
  o.height = h;
  o.width = w;
  o.seed = seed;
  o.validation = val;
  return o;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(Synthetic, SameSeedAndIndexGiveTheSameBytes) {
  SyntheticDataset a(options(7, 33, 47)), b(options(7, 33, 47));
  for (int64_t i : {0, 5, 39}) {
    const Sample x = a.get(i), y = b.get(i), z = a.get(i);
    EXPECT_TRUE(same_bytes(x.image, y.image)) << i;
    EXPECT_TRUE(same_bytes(x.label, y.label)) << i;
    EXPECT_TRUE(same_bytes(x.image, z.image)) << i;
  }
}

TEST(Synthetic, IndexSeedAndSplitChangeTheScene) {
  SyntheticDataset a(options(7, 33, 47)), other_seed(options(7, 33, 47, 4)), val(options(7, 33, 47, 3, true));
  const Sample s0 = a.get(0);
  EXPECT_FALSE(same_bytes(s0.image, a.get(1).image));
  EXPECT_FALSE(same_bytes(s0.label, a.get(1).label));
  EXPECT_FALSE(same_bytes(s0.image, other_seed.get(0).image));
  EXPECT_FALSE(same_bytes(s0.image, val.get(0).image));
  EXPECT_EQ(s0.id, "synthetic_train_0");
  EXPECT_EQ(val.get(0).id, "synthetic_val_0");
}

TEST(Synthetic, ShapesLabelsAndClassCoverage) {
  for (auto [classes, h, w] : {std::array<int64_t, 3>{2, 5, 9}, {19, 64, 96}, {40, 37, 53}}) {
    SyntheticDataset d(options(classes, h, w));
    EXPECT_EQ(d.num_classes(), classes);
    EXPECT_EQ(d.class_names().size(), static_cast<size_t>(classes));
    EXPECT_EQ(d.palette().size(), static_cast<size_t>(classes));
    std::set<int64_t> seen;
    int64_t background = 0, total = 0;
    for (int64_t i = 0; i < d.size(); ++i) {
      const Sample s = d.get(i);
      ASSERT_EQ(s.image.shape(), (Shape{h, w, 3}));
      ASSERT_EQ(s.label.shape(), (Shape{h, w}));
      ASSERT_EQ(s.image.dtype(), DType::u8);
      ASSERT_EQ(s.label.dtype(), DType::i64);
      const int64_t* p = s.label.data<int64_t>();
      for (int64_t k = 0; k < h * w; ++k) {
        ASSERT_TRUE(p[k] >= 0 && p[k] < classes) << p[k];
        seen.insert(p[k]);
        background += p[k] == 0;
        ++total;
      }
    }
    // Every class shows up in 40 scenes, and shapes neither vanish nor cover everything.
    if (classes <= 19) {
      EXPECT_EQ(seen.size(), static_cast<size_t>(classes)) << classes;
    }
    EXPECT_GT(background, total / 10);
    EXPECT_LT(background, total * 9 / 10);
  }
}

TEST(Synthetic, ImagesAreNotFlat) {
  SyntheticDataset d(options(5, 32, 32));
  const Sample s = d.get(2);
  std::set<int> values;
  const uint8_t* p = s.image.data<uint8_t>();
  for (int64_t i = 0; i < s.image.numel(); ++i) values.insert(p[i]);
  EXPECT_GT(values.size(), 50u);
}

// Mean colour of the 5x5 window around each pixel, per channel.
std::vector<std::array<double, 3>> window_means(const Tensor& image) {
  const int64_t H = image.size(0), W = image.size(1);
  const uint8_t* p = image.data<uint8_t>();
  std::vector<std::array<double, 3>> out(static_cast<size_t>(H * W));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      std::array<double, 3> sum{0, 0, 0};
      int n = 0;
      for (int64_t dy = -2; dy <= 2; ++dy)
        for (int64_t dx = -2; dx <= 2; ++dx) {
          const int64_t yy = std::min(H - 1, std::max<int64_t>(0, y + dy));
          const int64_t xx = std::min(W - 1, std::max<int64_t>(0, x + dx));
          for (int c = 0; c < 3; ++c) sum[c] += p[(yy * W + xx) * 3 + c];
          ++n;
        }
      for (int c = 0; c < 3; ++c) out[y * W + x][c] = sum[c] / n;
    }
  return out;
}

TEST(Synthetic, ClassesAreSeparableByLocalColour) {
  // Nearest class centroid of the local mean colour, fitted on train and
  // scored on val: a floor on what any net can learn from these scenes.
  const int64_t C = 19;
  SyntheticDataset train(options(C, 48, 64)), val(options(C, 48, 64, 3, true));
  std::vector<std::array<double, 3>> centroid(C, {0, 0, 0});
  std::vector<double> count(C, 0);
  for (int64_t i = 0; i < 30; ++i) {
    const Sample s = train.get(i);
    const auto means = window_means(s.image);
    const int64_t* lab = s.label.data<int64_t>();
    for (size_t k = 0; k < means.size(); ++k) {
      for (int c = 0; c < 3; ++c) centroid[lab[k]][c] += means[k][c];
      count[lab[k]] += 1;
    }
  }
  for (int64_t c = 0; c < C; ++c)
    for (int k = 0; k < 3; ++k) centroid[c][k] /= std::max(1.0, count[c]);
  std::vector<double> inter(C, 0), uni(C, 0);
  for (int64_t i = 0; i < 20; ++i) {
    const Sample s = val.get(i);
    const auto means = window_means(s.image);
    const int64_t* lab = s.label.data<int64_t>();
    for (size_t k = 0; k < means.size(); ++k) {
      int64_t best = 0;
      double best_d = 1e30;
      for (int64_t c = 0; c < C; ++c) {
        double d = 0;
        for (int j = 0; j < 3; ++j) d += (means[k][j] - centroid[c][j]) * (means[k][j] - centroid[c][j]);
        if (d < best_d) best_d = d, best = c;
      }
      if (best == lab[k]) inter[best] += 1, uni[best] += 1;
      else uni[best] += 1, uni[lab[k]] += 1;
    }
  }
  double miou = 0;
  int present = 0;
  for (int64_t c = 0; c < C; ++c)
    if (uni[c] > 0) miou += inter[c] / uni[c], ++present;
  miou /= present;
  EXPECT_GT(miou, 0.6);
}

TEST(Synthetic, BadOptionsAreErrors) {
  EXPECT_TRUE(testing::throws_mentioning([] { SyntheticDataset d(options(1, 8, 8)); }, {"num_classes", "1"}));
  EXPECT_TRUE(testing::throws_mentioning([] { SyntheticDataset d(options(3, 0, 8)); }, {"image size", "0x8"}));
  SyntheticDataset d(options(3, 8, 8));
  EXPECT_TRUE(testing::throws_mentioning([&] { d.get(40); }, {"index 40", "[0, 40)"}));
}

}  // namespace
}  // namespace cudaseg::train
