// Augmentation: each image operation against hand-computed values, the
// transforms' determinism, and image/label consistency under scale, crop,
// flip and the multi-resolution pair.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "common/testing.h"
#include "train/augment.h"

namespace cudaseg::train {
namespace {

Tensor u8_image(int64_t h, int64_t w, const std::vector<int>& values) {
  Tensor t = Tensor::empty({h, w, 3}, DType::u8);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(values[i]);
  return t;
}

Tensor i64_label(int64_t h, int64_t w, const std::vector<int64_t>& values) {
  Tensor t = Tensor::empty({h, w}, DType::i64);
  std::memcpy(t.raw_data(), values.data(), t.nbytes());
  return t;
}

int px(const Tensor& image, int64_t y, int64_t x, int c) {
  return image.data<uint8_t>()[(y * image.size(1) + x) * 3 + c];
}

int64_t at(const Tensor& label, int64_t y, int64_t x) { return label.data<int64_t>()[y * label.size(1) + x]; }

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), a.nbytes()) == 0;
}

TEST(AugmentOps, BilinearResizeUsesHalfPixelCentres) {
  // One row 0, 100 (channel 0) upsampled to 4: centres at -0.25, 0.25, 0.75, 1.25.
  const Tensor img = u8_image(1, 2, {0, 10, 20, 100, 110, 120});
  const Tensor up = resize_image(img, {1, 4});
  EXPECT_EQ(px(up, 0, 0, 0), 0);
  EXPECT_EQ(px(up, 0, 1, 0), 25);
  EXPECT_EQ(px(up, 0, 2, 0), 75);
  EXPECT_EQ(px(up, 0, 3, 0), 100);
  EXPECT_EQ(px(up, 0, 1, 2), 45);
  // Halving averages pairs: (0 + 100) / 2.
  const Tensor down = resize_image(u8_image(2, 2, {0, 0, 0, 100, 100, 100, 50, 50, 50, 150, 150, 150}), {1, 1});
  EXPECT_EQ(px(down, 0, 0, 0), 75);
}

TEST(AugmentOps, NearestLabelResizeFloorsTheSourceCoordinate) {
  const Tensor lab = i64_label(2, 3, {1, 2, 3, 4, 5, 6});
  const Tensor up = resize_label(lab, {4, 6});
  EXPECT_EQ(at(up, 0, 0), 1);
  EXPECT_EQ(at(up, 1, 1), 1);
  EXPECT_EQ(at(up, 0, 2), 2);
  EXPECT_EQ(at(up, 3, 5), 6);
  const Tensor down = resize_label(i64_label(1, 4, {7, 8, 9, 10}), {1, 2});
  EXPECT_EQ(at(down, 0, 0), 7);
  EXPECT_EQ(at(down, 0, 1), 9);
}

TEST(AugmentOps, CropPadsOutsideTheImage) {
  const Tensor img = u8_image(2, 2, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  const Tensor lab = i64_label(2, 2, {0, 1, 2, 3});
  const Tensor c = crop_image(img, -1, 1, {3, 2}, {200, 201, 202});
  const Tensor l = crop_label(lab, -1, 1, {3, 2}, 255);
  EXPECT_EQ(px(c, 0, 0, 0), 200);  // above the image
  EXPECT_EQ(px(c, 0, 0, 2), 202);
  EXPECT_EQ(px(c, 1, 0, 0), 4);  // image (0, 1)
  EXPECT_EQ(px(c, 2, 0, 1), 11);  // image (1, 1)
  EXPECT_EQ(px(c, 1, 1, 0), 200);  // right of the image
  EXPECT_EQ(at(l, 0, 0), 255);
  EXPECT_EQ(at(l, 1, 0), 1);
  EXPECT_EQ(at(l, 2, 0), 3);
  EXPECT_EQ(at(l, 2, 1), 255);
}

TEST(AugmentOps, FlipMirrorsColumns) {
  const Tensor img = u8_image(1, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor f = flip_image(img);
  EXPECT_EQ(px(f, 0, 0, 0), 7);
  EXPECT_EQ(px(f, 0, 0, 2), 9);
  EXPECT_EQ(px(f, 0, 2, 1), 2);
  const Tensor l = flip_label(i64_label(2, 2, {1, 2, 3, 4}));
  EXPECT_EQ(at(l, 0, 0), 2);
  EXPECT_EQ(at(l, 1, 1), 3);
}

TEST(AugmentOps, ColorJitterFollowsTorchvision) {
  const Tensor img = u8_image(1, 2, {200, 100, 50, 10, 20, 30});
  EXPECT_TRUE(same_bytes(color_jitter(img, {}), img));
  JitterFactors bright;
  bright.brightness = 1.5;
  const Tensor b = color_jitter(img, bright);
  EXPECT_EQ(px(b, 0, 0, 0), 255);  // clamped
  EXPECT_EQ(px(b, 0, 0, 1), 150);
  EXPECT_EQ(px(b, 0, 1, 2), 45);
  JitterFactors grey;
  grey.saturation = 0.0;
  const Tensor g = color_jitter(img, grey);
  const int expected = static_cast<int>(std::lround(0.299 * 200 + 0.587 * 100 + 0.114 * 50));
  for (int c = 0; c < 3; ++c) EXPECT_EQ(px(g, 0, 0, c), expected);
  JitterFactors flat;
  flat.contrast = 0.0;  // every pixel becomes the mean grey
  const Tensor f = color_jitter(img, flat);
  const double mean = (0.299 * 200 + 0.587 * 100 + 0.114 * 50 + 0.299 * 10 + 0.587 * 20 + 0.114 * 30) / 2;
  EXPECT_EQ(px(f, 0, 1, 0), static_cast<int>(std::lround(mean)));
  JitterFactors half_turn;
  half_turn.hue = 0.5;  // red -> cyan
  const Tensor h = color_jitter(u8_image(1, 1, {200, 0, 0}), half_turn);
  EXPECT_EQ(px(h, 0, 0, 0), 0);
  EXPECT_EQ(px(h, 0, 0, 1), 200);
  EXPECT_EQ(px(h, 0, 0, 2), 200);
}

TEST(AugmentOps, NormalizeGivesChannelsFirstFloats) {
  const Tensor img = u8_image(1, 2, {255, 0, 51, 0, 255, 102});
  const Tensor n = normalize_image(img, {0.5f, 0.25f, 0.1f}, {0.5f, 0.25f, 0.2f});
  ASSERT_EQ(n.shape(), (Shape{3, 1, 2}));
  const std::vector<double> v = n.to_vector();
  EXPECT_NEAR(v[0], 1.0, 1e-6);   // (1 - 0.5) / 0.5
  EXPECT_NEAR(v[1], -1.0, 1e-6);  // (0 - 0.5) / 0.5
  EXPECT_NEAR(v[2], -1.0, 1e-6);  // (0 - 0.25) / 0.25
  EXPECT_NEAR(v[3], 3.0, 1e-6);   // (1 - 0.25) / 0.25
  EXPECT_NEAR(v[4], 0.5, 1e-6);   // (0.2 - 0.1) / 0.2
  EXPECT_NEAR(v[5], 1.5, 1e-6);   // (0.4 - 0.1) / 0.2
}

TEST(RandomStreamTest, KeyedStreamsAreReproducibleAndDistinct) {
  RandomStream a(7, RandomDomain::augment, 1, 2), b(7, RandomDomain::augment, 1, 2);
  RandomStream other_index(7, RandomDomain::augment, 1, 3), other_domain(7, RandomDomain::shuffle, 1, 2);
  const uint32_t first = a.bits();
  EXPECT_EQ(first, b.bits());
  EXPECT_NE(first, other_index.bits());
  EXPECT_NE(first, other_domain.bits());
  for (int i = 0; i < 200; ++i) {
    const int64_t k = a.integer(-3, 4);
    EXPECT_TRUE(k >= -3 && k <= 4);
    const double u = a.uniform(2.0, 5.0);
    EXPECT_TRUE(u >= 2.0 && u < 5.0);
  }
}

// A scene whose pixel colour encodes its label: rectangles of random classes
// tiling the image, class c coloured kColours[c].
const uint8_t kColours[6][3] = {{230, 20, 20}, {20, 230, 20}, {20, 20, 230}, {230, 230, 20}, {20, 230, 230}, {230, 20, 230}};

Sample coded_sample(int64_t h, int64_t w, uint64_t seed) {
  RandomStream rng(seed, RandomDomain::synthetic, 9);
  std::vector<int64_t> cuts_y{0}, cuts_x{0};
  while (cuts_y.back() < h) cuts_y.push_back(std::min(h, cuts_y.back() + rng.integer(6, 14)));
  while (cuts_x.back() < w) cuts_x.push_back(std::min(w, cuts_x.back() + rng.integer(6, 14)));
  Sample s;
  s.id = "coded";
  s.image = Tensor::empty({h, w, 3}, DType::u8);
  s.label = Tensor::empty({h, w}, DType::i64);
  for (size_t by = 0; by + 1 < cuts_y.size(); ++by)
    for (size_t bx = 0; bx + 1 < cuts_x.size(); ++bx) {
      const int64_t cls = rng.integer(0, 5);
      for (int64_t y = cuts_y[by]; y < cuts_y[by + 1]; ++y)
        for (int64_t x = cuts_x[bx]; x < cuts_x[bx + 1]; ++x) {
          s.label.data<int64_t>()[y * w + x] = cls;
          for (int c = 0; c < 3; ++c) s.image.data<uint8_t>()[(y * w + x) * 3 + c] = kColours[cls][c];
        }
    }
  return s;
}

AugmentOptions geometric_options() {
  AugmentOptions o;
  o.scale_min = 0.5;
  o.scale_max = 2.0;
  o.crop = {40, 56};
  o.flip = true;
  o.mean = {0.0f, 0.0f, 0.0f};
  o.std = {1.0f, 1.0f, 1.0f};
  o.seed = 11;
  return o;
}

// Back from normalised f32 [3, H, W] (mean 0, std 1) to u8 levels.
int level(const Tensor& image, int c, int64_t y, int64_t x) {
  return static_cast<int>(std::lround(image.data<float>()[(c * image.size(1) + y) * image.size(2) + x] * 255.0f));
}

// Pixels whose 5x5 label neighbourhood is one class must show that class's
// colour exactly (bilinear over a single colour); padded pixels must be
// ignore-labelled with the padding colour. The 2-pixel frame is skipped: the
// image was interpolated from pixels beyond the crop. Returns the share of
// pixels checked.
double check_colour_code(const Tensor& image, const Tensor& label, int pad) {
  const int64_t H = label.size(0), W = label.size(1);
  int64_t checked = 0;
  for (int64_t y = 2; y + 2 < H; ++y)
    for (int64_t x = 2; x + 2 < W; ++x) {
      const int64_t cls = at(label, y, x);
      bool uniform = true;
      for (int64_t dy = -2; dy <= 2 && uniform; ++dy)
        for (int64_t dx = -2; dx <= 2 && uniform; ++dx) uniform = at(label, y + dy, x + dx) == cls;
      if (!uniform) continue;
      ++checked;
      for (int c = 0; c < 3; ++c) {
        const int expected = cls == 255 ? pad : kColours[cls][c];
        if (level(image, c, y, x) != expected) {
          ADD_FAILURE() << "pixel (" << y << ", " << x << ") class " << cls << " channel " << c << ": "
                        << level(image, c, y, x) << " != " << expected;
          return 0.0;
        }
      }
    }
  return static_cast<double>(checked) / static_cast<double>(H * W);
}

TEST(TrainTransformTest, LabelsFollowTheImageThroughScaleCropAndFlip) {
  const TrainTransform t(geometric_options());
  int flipped_or_scaled = 0;
  double checked = 0.0;
  for (int64_t index = 0; index < 12; ++index) {
    const Sample s = coded_sample(37, 61, static_cast<uint64_t>(index));
    const AugmentedSample a = t.apply(s, 0, index);
    ASSERT_EQ(a.image.shape(), (Shape{3, 40, 56}));
    ASSERT_EQ(a.label.shape(), (Shape{40, 56}));
    checked += check_colour_code(a.image, a.label, 0) / 12;
    flipped_or_scaled += !same_bytes(a.label, crop_label(s.label, 0, 0, {40, 56}, 255));
  }
  EXPECT_GT(checked, 0.3);
  EXPECT_GT(flipped_or_scaled, 8);
}

TEST(TrainTransformTest, SmallImagesArePaddedWithMeanAndIgnore) {
  AugmentOptions o = geometric_options();
  o.scale_min = o.scale_max = 1.0;
  o.mean = {0.2f, 0.4f, 0.6f};
  const TrainTransform t(o);
  const Sample s = coded_sample(20, 30, 5);
  const AugmentedSample a = t.apply(s, 0, 0);
  int64_t ignored = 0;
  for (int64_t i = 0; i < a.label.numel(); ++i) ignored += a.label.data<int64_t>()[i] == 255;
  EXPECT_EQ(ignored, 40 * 56 - 20 * 30);
  // The padding is the mean colour, so it normalises to 0.
  const float* p = a.image.data<float>();
  for (int64_t i = 0; i < a.label.numel(); ++i) {
    if (a.label.data<int64_t>()[i] != 255) continue;
    for (int c = 0; c < 3; ++c) ASSERT_NEAR(p[c * a.label.numel() + i], 0.0f, 0.01f);
  }
}

TEST(TrainTransformTest, DeterministicPerSeedEpochAndIndex) {
  AugmentOptions o = geometric_options();
  o.jitter = {0.4, 0.4, 0.4, 0.1, 0.8};
  const TrainTransform t(o), same(o);
  const Sample s = coded_sample(37, 61, 1);
  const AugmentedSample a = t.apply(s, 2, 7);
  EXPECT_TRUE(same_bytes(a.image, same.apply(s, 2, 7).image));
  EXPECT_TRUE(same_bytes(a.label, same.apply(s, 2, 7).label));
  EXPECT_FALSE(same_bytes(a.image, t.apply(s, 3, 7).image));
  EXPECT_FALSE(same_bytes(a.image, t.apply(s, 2, 8).image));
  o.seed = 12;
  EXPECT_FALSE(same_bytes(a.image, TrainTransform(o).apply(s, 2, 7).image));
}

TEST(TrainTransformTest, JitterChangesColoursNotGeometry) {
  AugmentOptions o = geometric_options();
  const Sample s = coded_sample(37, 61, 2);
  const AugmentedSample plain = TrainTransform(o).apply(s, 0, 3);
  o.jitter = {0.5, 0.5, 0.5, 0.2, 1.0};
  const AugmentedSample jittered = TrainTransform(o).apply(s, 0, 3);
  EXPECT_TRUE(same_bytes(plain.label, jittered.label));
  EXPECT_FALSE(same_bytes(plain.image, jittered.image));
  o.jitter.p = 0.0;
  EXPECT_TRUE(same_bytes(plain.image, TrainTransform(o).apply(s, 0, 3).image));
}

TEST(TrainTransformTest, MultiResolutionPairIsOneCropAtTwoSizes) {
  AugmentOptions o = geometric_options();
  o.scale_min = 1.0;  // keeps the coded blocks wide enough at the student's half size
  o.student = {20, 28};
  o.teacher = {40, 56};  // the crop size, so the teacher view is the crop itself
  const TrainTransform t(o);
  AugmentOptions single = o;
  single.student = single.teacher = {};
  double checked = 0.0;
  for (int64_t index = 0; index < 4; ++index) {
    const Sample s = coded_sample(37, 61, static_cast<uint64_t>(index));
    const AugmentedSample a = t.apply(s, 1, index);
    ASSERT_EQ(a.image.shape(), (Shape{3, 20, 28}));
    ASSERT_EQ(a.label.shape(), (Shape{20, 28}));
    ASSERT_EQ(a.teacher_image.shape(), (Shape{3, 40, 56}));
    ASSERT_EQ(a.teacher_label.shape(), (Shape{40, 56}));
    const AugmentedSample crop = TrainTransform(single).apply(s, 1, index);
    EXPECT_TRUE(same_bytes(a.teacher_label, crop.label));
    EXPECT_TRUE(same_bytes(a.teacher_image, crop.image));
    EXPECT_TRUE(same_bytes(a.label, resize_label(crop.label, {20, 28})));
    checked += check_colour_code(a.image, a.label, 0) / 4;
  }
  EXPECT_GT(checked, 0.08);  // about 250 pixels checked
}

TEST(ValTransformTest, ResizesOrKeepsAndNormalises) {
  const Sample s = coded_sample(10, 14, 3);
  const AugmentedSample kept = ValTransform({0, 0, 0}, {1, 1, 1}).apply(s, 0, 0);
  EXPECT_EQ(kept.image.shape(), (Shape{3, 10, 14}));
  EXPECT_TRUE(same_bytes(kept.label, s.label));
  EXPECT_EQ(level(kept.image, 1, 0, 0), px(s.image, 0, 0, 1));
  const AugmentedSample resized = ValTransform({0, 0, 0}, {1, 1, 1}, {20, 28}).apply(s, 0, 0);
  EXPECT_EQ(resized.image.shape(), (Shape{3, 20, 28}));
  EXPECT_TRUE(same_bytes(resized.label, resize_label(s.label, {20, 28})));
  // Strided views are accepted: the transposed twin of the transposed image.
  Sample strided = s;
  strided.image = s.image.transpose(0, 1).contiguous().transpose(0, 1);
  ASSERT_FALSE(strided.image.is_contiguous());
  EXPECT_TRUE(same_bytes(ValTransform({0, 0, 0}, {1, 1, 1}).apply(strided, 0, 0).image, kept.image));
}

TEST(TrainTransformTest, BadOptionsAndSamplesAreErrors) {
  AugmentOptions o;
  o.scale_min = 2.0;
  o.scale_max = 1.0;
  EXPECT_TRUE(testing::throws_mentioning([&] { TrainTransform t(o); }, {"augment.scale", "[2, 1]"}));
  o = AugmentOptions();
  o.jitter.hue = 0.7;
  EXPECT_TRUE(testing::throws_mentioning([&] { TrainTransform t(o); }, {"augment.jitter.hue", "0.7"}));
  o = AugmentOptions();
  o.student = {10, 10};
  EXPECT_TRUE(testing::throws_mentioning([&] { TrainTransform t(o); }, {"multi_resolution", "teacher"}));
  Sample bad = coded_sample(8, 8, 0);
  bad.label = Tensor::zeros({8, 9}, DType::i64);
  bad.id = "odd";
  EXPECT_TRUE(testing::throws_mentioning([&] { TrainTransform(AugmentOptions()).apply(bad, 0, 0); },
                                         {"'odd'", "[8, 8, 3]", "[8, 9]"}));
}

}  // namespace
}  // namespace cudaseg::train
