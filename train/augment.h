// Augmentation of training samples and the validation transform, on the CPU:
// images u8 [H, W, 3] (RGB), labels i64 [H, W].
//
// Every random choice comes from a Philox stream keyed by (seed, epoch,
// sample index), so a sample's augmentation is the same whichever worker
// thread builds it and in whatever order: the loader can resume exactly.
//
// The training pipeline, in order:
//   1. random scale s ~ U(scale_min, scale_max): image bilinear, label nearest;
//   2. random crop of crop_height x crop_width, padding where the scaled image
//      is smaller (image with the mean colour or 0, label with ignore_index);
//   3. colour jitter (brightness, contrast, saturation, hue), with probability p;
//   4. horizontal flip with probability 0.5;
//   (the geometric draws come first, so jitter settings never change a crop or flip)
//   5. for distillation, the crop resized to the student and the teacher sizes;
//   6. normalisation (x / 255 - mean) / std into f32 [3, H, W].
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/rng.h"
#include "runtime/tensor.h"
#include "train/dataset.h"

namespace cudaseg::train {

// What a stream of draws is for; part of its key, so streams never collide.
enum class RandomDomain : uint32_t { synthetic = 1, augment = 2, shuffle = 3 };

// Scalar draws from a Generator whose seed is derived from (seed, domain, a, b)
// by one Philox block: independent streams for each sample, epoch and purpose.
class RandomStream {
 public:
  RandomStream(uint64_t seed, RandomDomain domain, uint64_t a, uint64_t b = 0);
  uint32_t bits();
  double uniform(double low = 0.0, double high = 1.0);  // [low, high), 24 random bits
  int64_t integer(int64_t low, int64_t high);           // uniform in [low, high]
  bool bernoulli(double p);
  // Reserves `count` 32-bit words for bulk use: word i is philox::bits(key(), start + i).
  uint64_t reserve(uint64_t count) { return gen_.advance(count); }
  uint64_t key() const { return gen_.seed(); }

 private:
  Generator gen_;
};

struct Size2 {
  int64_t height = 0;
  int64_t width = 0;
  bool empty() const { return height == 0 && width == 0; }
};

// ---- image operations (u8 HWC images, i64 HW labels; contiguous CPU tensors) ----

// Bilinear with half-pixel centres (OpenCV INTER_LINEAR, align_corners=False), rounded.
Tensor resize_image(const Tensor& image, Size2 size);
// Nearest: source pixel floor(dst * src_size / dst_size), as OpenCV INTER_NEAREST.
Tensor resize_label(const Tensor& label, Size2 size);
// The window [top, top + size.height) x [left, left + size.width), which may
// reach outside the input; outside pixels take `fill`.
Tensor crop_image(const Tensor& image, int64_t top, int64_t left, Size2 size, const std::array<uint8_t, 3>& fill);
Tensor crop_label(const Tensor& label, int64_t top, int64_t left, Size2 size, int64_t fill);
Tensor flip_image(const Tensor& image);  // horizontal
Tensor flip_label(const Tensor& label);

// Factors of one colour jitter: brightness, contrast and saturation multiply
// (1 = unchanged), hue is a shift in turns (0 = unchanged, 0.5 = opposite).
struct JitterFactors {
  double brightness = 1.0;
  double contrast = 1.0;
  double saturation = 1.0;
  double hue = 0.0;
};
// torchvision's definitions, applied in this fixed order, clamped to [0, 255]
// after each step and rounded once at the end: brightness scales, contrast
// blends with the mean grey level of the image, saturation blends with each
// pixel's grey (0.299 R + 0.587 G + 0.114 B), hue rotates in HSV.
Tensor color_jitter(const Tensor& image, const JitterFactors& factors);
// f32 [3, H, W]: (x / 255 - mean[c]) / std[c].
Tensor normalize_image(const Tensor& image, const std::array<float, 3>& mean, const std::array<float, 3>& std);

// ---- transforms ----

// Jitter strengths as in torchvision's ColorJitter: brightness, contrast and
// saturation factors ~ U(max(0, 1 - v), 1 + v), hue shift ~ U(-v, v) with v
// <= 0.5; the whole jitter is applied with probability p.
struct JitterOptions {
  double brightness = 0.0;
  double contrast = 0.0;
  double saturation = 0.0;
  double hue = 0.0;
  double p = 1.0;
};

struct AugmentOptions {
  double scale_min = 1.0;
  double scale_max = 1.0;
  Size2 crop;  // empty: no crop (then every sample must already have one size)
  bool flip = false;
  JitterOptions jitter;
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
  bool pad_with_mean = true;  // pad images with round(255 * mean), else with 0
  int64_t ignore_index = 255;
  // Multi-resolution pair for distillation (both set or both empty): the same
  // crop resized to the student size (image, label) and the teacher size
  // (teacher_image, teacher_label).
  Size2 student;
  Size2 teacher;
  uint64_t seed = 0;
};

struct AugmentedSample {
  Tensor image;  // f32 [3, H, W], normalised
  Tensor label;  // i64 [H, W]
  Tensor teacher_image;  // defined only with a multi-resolution pair
  Tensor teacher_label;
  std::string id;
};

class Transform {
 public:
  virtual ~Transform() = default;
  // Deterministic in (the transform's options and seed, epoch, index).
  virtual AugmentedSample apply(const Sample& sample, int64_t epoch, int64_t index) const = 0;
};
using TransformPtr = std::shared_ptr<const Transform>;

class TrainTransform : public Transform {
 public:
  explicit TrainTransform(AugmentOptions options);  // validates; throws naming the bad option
  AugmentedSample apply(const Sample& sample, int64_t epoch, int64_t index) const override;
  const AugmentOptions& options() const { return options_; }

 private:
  AugmentOptions options_;
};

// Validation: optionally resize (image bilinear, label nearest) to `resize`,
// then normalise. No randomness.
class ValTransform : public Transform {
 public:
  ValTransform(std::array<float, 3> mean, std::array<float, 3> std, Size2 resize = {});
  AugmentedSample apply(const Sample& sample, int64_t epoch, int64_t index) const override;

 private:
  std::array<float, 3> mean_;
  std::array<float, 3> std_;
  Size2 resize_;
};

}  // namespace cudaseg::train
