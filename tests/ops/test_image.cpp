// ops::image_to_input against the host preprocessing it replaced in
// InferenceSession: normalise each u8 value in double, round to float32,
// then resize with upsample_bilinear2d (or pad with zeros), then cast. The
// kernel shares no code with that path, only its arithmetic, so the
// comparison is bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "ops/image.h"
#include "ops/resize.h"
#include "ops/unary.h"
#include "runtime/rng.h"

namespace cudaseg::ops {
namespace {

Tensor random_image(int64_t h, int64_t w, uint64_t seed) {
  Tensor image = Tensor::empty({h, w, 3}, DType::u8);
  Generator gen(seed, 0);
  uint8_t* p = image.data<uint8_t>();
  // Every level from 0 to 255 appears in a large enough image; the
  // generator's uniforms keep it deterministic.
  const Tensor u = gen.uniform({h * w * 3}, 0.0, 256.0);
  const float* v = u.data<float>();
  for (int64_t i = 0; i < h * w * 3; ++i) p[i] = static_cast<uint8_t>(std::min(255.0f, v[i]));
  return image;
}

// The host path as InferenceSession::preprocess wrote it before this op.
Tensor reference(const Tensor& image, const ImageInputSpec& s) {
  const int64_t h = image.size(0), w = image.size(1);
  const int64_t ph = s.pad ? s.size[0] : h, pw = s.pad ? s.size[1] : w;
  Tensor x = s.pad && (ph != h || pw != w) ? Tensor::zeros({1, 3, ph, pw}) : Tensor::empty({1, 3, h, w});
  const uint8_t* in = image.data<uint8_t>();
  float* out = x.data<float>();
  for (int64_t c = 0; c < 3; ++c) {
    const int64_t from = s.bgr ? 2 - c : c;
    const double mul = s.scale / s.std[c], add = -s.mean[c] / s.std[c];
    for (int64_t y = 0; y < h; ++y)
      for (int64_t i = 0; i < w; ++i)
        out[(c * ph + y) * pw + i] = static_cast<float>(in[(y * w + i) * 3 + from] * mul + add);
  }
  if (!s.pad && (s.size[0] != h || s.size[1] != w)) x = upsample_bilinear2d(x, s.size, false);
  return s.dtype == DType::f32 ? x : to_dtype(x, s.dtype);
}

ImageInputSpec imagenet(std::array<int64_t, 2> size, bool pad, bool bgr = false, DType dtype = DType::f32) {
  ImageInputSpec s;
  s.size = size;
  s.pad = pad;
  s.mean = {0.485, 0.456, 0.406};
  s.std = {0.229, 0.224, 0.225};
  s.scale = 1.0 / 255.0;
  s.bgr = bgr;
  s.dtype = dtype;
  return s;
}

void expect_same_bits(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_TRUE(got.is_contiguous() && want.is_contiguous()) << what;
  const size_t bytes = static_cast<size_t>(got.numel()) * dtype_size(got.dtype());
  if (std::memcmp(got.raw_data(), want.raw_data(), bytes) == 0) return;
  const Tensor g = to_dtype(got, DType::f64), w = to_dtype(want, DType::f64);
  for (int64_t i = 0; i < g.numel(); ++i)
    if (std::memcmp(static_cast<const char*>(got.raw_data()) + i * dtype_size(got.dtype()),
                    static_cast<const char*>(want.raw_data()) + i * dtype_size(got.dtype()),
                    dtype_size(got.dtype())) != 0) {
      ADD_FAILURE() << what << ": element " << i << " is " << g.data<double>()[i] << ", the host path gives "
                    << w.data<double>()[i];
      return;
    }
}

struct Case {
  int64_t h, w;
  std::array<int64_t, 2> size;
  bool pad;
};

// Sizes the sessions meet: unchanged (fit none), padded to a divisor, padded
// on one axis only, resized down by non-integer ratios, resized up, resized
// along one axis only, a single row and column.
const Case kCases[] = {
    {37, 53, {37, 53}, false}, {37, 53, {64, 64}, true},   {37, 53, {37, 64}, true},  {32, 32, {32, 32}, true},
    {37, 53, {16, 24}, false}, {13, 17, {32, 40}, false},  {40, 30, {40, 17}, false}, {1, 1, {5, 7}, false},
    {1, 9, {3, 9}, false},     {96, 160, {48, 80}, false}, {5, 3, {8, 8}, true},
};

TEST(ImageToInput, MatchesTheHostPathBitForBit) {
  uint64_t seed = 1;
  for (const Case& c : kCases)
    for (bool bgr : {false, true}) {
      const Tensor image = random_image(c.h, c.w, seed++);
      const ImageInputSpec spec = imagenet(c.size, c.pad, bgr);
      const std::string what = std::to_string(c.h) + "x" + std::to_string(c.w) + " -> " + std::to_string(c.size[0]) +
                               "x" + std::to_string(c.size[1]) + (c.pad ? " pad" : " resize") + (bgr ? " BGR" : "");
      expect_same_bits(image_to_input(image, spec), reference(image, spec), what);
    }
}

// The cast happens after the resize, as the host path's tensor.to(dtype) did.
TEST(ImageToInput, OtherDtypesAreTheFloat32ResultCast) {
  uint64_t seed = 100;
  for (DType dtype : {DType::f16, DType::bf16, DType::f64})
    for (const Case& c : {kCases[1], kCases[4], kCases[5]}) {
      const Tensor image = random_image(c.h, c.w, seed++);
      const ImageInputSpec spec = imagenet(c.size, c.pad, false, dtype);
      expect_same_bits(image_to_input(image, spec), reference(image, spec), dtype_name(dtype));
    }
}

// Another normalisation (a checkpoint trained on [0, 255] inputs), and a
// non-contiguous image (a crop of a larger one).
TEST(ImageToInput, FollowsTheSpecsNormalisationAndTakesStridedImages) {
  ImageInputSpec spec = imagenet({24, 20}, false);
  spec.mean = {123.675, 116.28, 103.53};
  spec.std = {58.395, 57.12, 57.375};
  spec.scale = 1.0;
  const Tensor big = random_image(30, 40, 7);
  const Tensor crop = big.narrow(0, 3, 20).narrow(1, 5, 30);
  ASSERT_FALSE(crop.is_contiguous());
  expect_same_bits(image_to_input(crop, spec), reference(crop.contiguous(), spec), "crop");
}

TEST(ImageToInput, RejectsWhatIsNotAnImageOrCannotFit) {
  const Tensor image = random_image(8, 8, 3);
  auto message = [](const Tensor& img, const ImageInputSpec& spec) {
    try {
      image_to_input(img, spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(Tensor::zeros({8, 8, 3}), imagenet({8, 8}, false)).find("must be u8 [H, W, 3]"),
            std::string::npos);
  EXPECT_NE(message(Tensor::empty({8, 8, 4}, DType::u8), imagenet({8, 8}, false)).find("must be u8 [H, W, 3]"),
            std::string::npos);
  EXPECT_NE(message(image, imagenet({4, 8}, true)).find("cannot pad"), std::string::npos);
  EXPECT_NE(message(image, imagenet({0, 8}, false)).find("must be positive"), std::string::npos);
  EXPECT_NE(message(image, imagenet({8, 8}, false, false, DType::i32)).find("must be floating"), std::string::npos);
  ImageInputSpec zero_std = imagenet({8, 8}, false);
  zero_std.std[1] = 0.0;
  EXPECT_NE(message(image, zero_std).find("std of plane 1 is 0"), std::string::npos);
}

}  // namespace
}  // namespace cudaseg::ops
