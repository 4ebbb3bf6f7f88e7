#include "train/augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "runtime/philox.h"

namespace cudaseg::train {
namespace {

void check_image(const Tensor& image, const char* op) {
  CUDASEG_CHECK(image.defined() && image.dtype() == DType::u8 && image.dim() == 3 && image.size(2) == 3 &&
                    image.device().is_cpu() && image.is_contiguous(),
                op, ": needs a contiguous u8 [H, W, 3] CPU image, got ", image.defined() ? image.str() : "undefined");
}

void check_label(const Tensor& label, const char* op) {
  CUDASEG_CHECK(label.defined() && label.dtype() == DType::i64 && label.dim() == 2 && label.device().is_cpu() &&
                    label.is_contiguous(),
                op, ": needs a contiguous i64 [H, W] CPU label, got ", label.defined() ? label.str() : "undefined");
}

void check_size(Size2 size, const char* op) {
  CUDASEG_CHECK(size.height > 0 && size.width > 0, op, ": output size must be positive, got ", size.height, "x",
                size.width);
}

uint8_t to_u8(float v) { return static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v)) + 0.5f); }

float clamp255(float v) { return std::min(255.0f, std::max(0.0f, v)); }

// One output coordinate of a bilinear resize: the two source pixels and the
// weight of the second.
struct Tap {
  int64_t i0, i1;
  float w1;
};

std::vector<Tap> bilinear_taps(int64_t src, int64_t dst) {
  std::vector<Tap> taps(static_cast<size_t>(dst));
  const double ratio = static_cast<double>(src) / static_cast<double>(dst);
  for (int64_t d = 0; d < dst; ++d) {
    const double c = std::max(0.0, (d + 0.5) * ratio - 0.5);
    const int64_t i0 = std::min(static_cast<int64_t>(c), src - 1);
    taps[d] = Tap{i0, std::min(i0 + 1, src - 1), static_cast<float>(c - static_cast<double>(i0))};
  }
  return taps;
}

// HSV with h in turns [0, 1), s and v in [0, 1] scaled by 255 for v.
void rgb_to_hsv(float r, float g, float b, float& h, float& s, float& v) {
  const float mx = std::max(r, std::max(g, b)), mn = std::min(r, std::min(g, b)), d = mx - mn;
  v = mx;
  s = mx > 0.0f ? d / mx : 0.0f;
  if (d <= 0.0f) {
    h = 0.0f;
    return;
  }
  if (mx == r) h = (g - b) / d;
  else if (mx == g) h = 2.0f + (b - r) / d;
  else h = 4.0f + (r - g) / d;
  h /= 6.0f;
  if (h < 0.0f) h += 1.0f;
}

void hsv_to_rgb(float h, float s, float v, float& r, float& g, float& b) {
  const float h6 = h * 6.0f;
  const int sector = static_cast<int>(std::floor(h6)) % 6;
  const float f = h6 - std::floor(h6);
  const float p = v * (1.0f - s), q = v * (1.0f - s * f), t = v * (1.0f - s * (1.0f - f));
  switch (sector) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
}

float grey(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

}  // namespace

// ---------------------------------------------------------------- RandomStream

namespace {
uint64_t derive_seed(uint64_t seed, RandomDomain domain, uint64_t a, uint64_t b) {
  // The counter block holds (domain, a, b); a keeps 32 bits, which is plenty
  // for epochs and split offsets while b carries full 64-bit indices.
  const philox::Block block{{static_cast<uint32_t>(domain), static_cast<uint32_t>(a), static_cast<uint32_t>(b),
                             static_cast<uint32_t>(b >> 32)}};
  const philox::Block out =
      philox::philox4x32_10(block, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return static_cast<uint64_t>(out.v[0]) | static_cast<uint64_t>(out.v[1]) << 32;
}
}  // namespace

RandomStream::RandomStream(uint64_t seed, RandomDomain domain, uint64_t a, uint64_t b)
    : gen_(derive_seed(seed, domain, a, b), 0) {}

uint32_t RandomStream::bits() { return philox::bits(gen_.seed(), gen_.advance(1)); }

double RandomStream::uniform(double low, double high) {
  return low + (high - low) * static_cast<double>(philox::uniform(gen_.seed(), gen_.advance(1)));
}

int64_t RandomStream::integer(int64_t low, int64_t high) {
  CUDASEG_CHECK(low <= high, "RandomStream::integer: empty range [", low, ", ", high, "]");
  const uint64_t span = static_cast<uint64_t>(high - low) + 1;
  const uint64_t high_word = bits();  // two statements: the draw order must not be left to the compiler
  const uint64_t wide = high_word << 32 | bits();
  return low + static_cast<int64_t>(wide % span);
}

bool RandomStream::bernoulli(double p) { return uniform() < p; }

// ---------------------------------------------------------------- image operations

Tensor resize_image(const Tensor& image, Size2 size) {
  check_image(image, "resize_image");
  check_size(size, "resize_image");
  const int64_t H = image.size(0), W = image.size(1);
  if (H == size.height && W == size.width) return image;
  const std::vector<Tap> ty = bilinear_taps(H, size.height), tx = bilinear_taps(W, size.width);
  Tensor out = Tensor::empty({size.height, size.width, 3}, DType::u8);
  const uint8_t* src = image.data<uint8_t>();
  uint8_t* dst = out.data<uint8_t>();
  for (int64_t y = 0; y < size.height; ++y) {
    const uint8_t* r0 = src + ty[y].i0 * W * 3;
    const uint8_t* r1 = src + ty[y].i1 * W * 3;
    const float wy = ty[y].w1;
    for (int64_t x = 0; x < size.width; ++x) {
      const int64_t a = tx[x].i0 * 3, b = tx[x].i1 * 3;
      const float wx = tx[x].w1;
      for (int c = 0; c < 3; ++c) {
        const float top = (1.0f - wx) * r0[a + c] + wx * r0[b + c];
        const float bottom = (1.0f - wx) * r1[a + c] + wx * r1[b + c];
        *dst++ = to_u8((1.0f - wy) * top + wy * bottom);
      }
    }
  }
  return out;
}

Tensor resize_label(const Tensor& label, Size2 size) {
  check_label(label, "resize_label");
  check_size(size, "resize_label");
  const int64_t H = label.size(0), W = label.size(1);
  if (H == size.height && W == size.width) return label;
  Tensor out = Tensor::empty({size.height, size.width}, DType::i64);
  const int64_t* src = label.data<int64_t>();
  int64_t* dst = out.data<int64_t>();
  std::vector<int64_t> sx(static_cast<size_t>(size.width));
  for (int64_t x = 0; x < size.width; ++x) sx[x] = std::min(x * W / size.width, W - 1);
  for (int64_t y = 0; y < size.height; ++y) {
    const int64_t* row = src + std::min(y * H / size.height, H - 1) * W;
    for (int64_t x = 0; x < size.width; ++x) *dst++ = row[sx[x]];
  }
  return out;
}

namespace {
// Copies the part of the window inside the input, row by row; `fill_out`
// has already filled the rest.
template <typename T>
void copy_window(const T* src, int64_t H, int64_t W, int64_t channels, T* dst, int64_t top, int64_t left,
                 Size2 size) {
  const int64_t x0 = std::max<int64_t>(0, -left), x1 = std::min(size.width, W - left);
  if (x1 <= x0) return;
  for (int64_t y = 0; y < size.height; ++y) {
    const int64_t sy = top + y;
    if (sy < 0 || sy >= H) continue;
    std::memcpy(dst + (y * size.width + x0) * channels, src + (sy * W + left + x0) * channels,
                static_cast<size_t>((x1 - x0) * channels) * sizeof(T));
  }
}
}  // namespace

Tensor crop_image(const Tensor& image, int64_t top, int64_t left, Size2 size, const std::array<uint8_t, 3>& fill) {
  check_image(image, "crop_image");
  check_size(size, "crop_image");
  Tensor out = Tensor::empty({size.height, size.width, 3}, DType::u8);
  uint8_t* dst = out.data<uint8_t>();
  for (int64_t i = 0; i < size.height * size.width; ++i)
    for (int c = 0; c < 3; ++c) dst[i * 3 + c] = fill[c];
  copy_window(image.data<uint8_t>(), image.size(0), image.size(1), 3, dst, top, left, size);
  return out;
}

Tensor crop_label(const Tensor& label, int64_t top, int64_t left, Size2 size, int64_t fill) {
  check_label(label, "crop_label");
  check_size(size, "crop_label");
  Tensor out = Tensor::full({size.height, size.width}, static_cast<double>(fill), DType::i64);
  copy_window(label.data<int64_t>(), label.size(0), label.size(1), 1, out.data<int64_t>(), top, left, size);
  return out;
}

Tensor flip_image(const Tensor& image) {
  check_image(image, "flip_image");
  const int64_t H = image.size(0), W = image.size(1);
  Tensor out = Tensor::empty({H, W, 3}, DType::u8);
  const uint8_t* src = image.data<uint8_t>();
  uint8_t* dst = out.data<uint8_t>();
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) dst[(y * W + x) * 3 + c] = src[(y * W + W - 1 - x) * 3 + c];
  return out;
}

Tensor flip_label(const Tensor& label) {
  check_label(label, "flip_label");
  const int64_t H = label.size(0), W = label.size(1);
  Tensor out = Tensor::empty({H, W}, DType::i64);
  const int64_t* src = label.data<int64_t>();
  int64_t* dst = out.data<int64_t>();
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) dst[y * W + x] = src[y * W + W - 1 - x];
  return out;
}

Tensor color_jitter(const Tensor& image, const JitterFactors& f) {
  check_image(image, "color_jitter");
  const int64_t n = image.size(0) * image.size(1);
  const uint8_t* src = image.data<uint8_t>();
  // Contrast blends with the mean grey of the brightness-adjusted image.
  double grey_sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = src + i * 3;
    grey_sum += grey(clamp255(p[0] * static_cast<float>(f.brightness)), clamp255(p[1] * static_cast<float>(f.brightness)),
                     clamp255(p[2] * static_cast<float>(f.brightness)));
  }
  const float mean = n > 0 ? static_cast<float>(grey_sum / static_cast<double>(n)) : 0.0f;
  const float b = static_cast<float>(f.brightness), c = static_cast<float>(f.contrast),
              s = static_cast<float>(f.saturation), hue = static_cast<float>(f.hue);
  Tensor out = Tensor::empty(image.shape(), DType::u8);
  uint8_t* dst = out.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    float rgb[3];
    for (int k = 0; k < 3; ++k) rgb[k] = clamp255(src[i * 3 + k] * b);
    for (int k = 0; k < 3; ++k) rgb[k] = clamp255(c * rgb[k] + (1.0f - c) * mean);
    const float g = grey(rgb[0], rgb[1], rgb[2]);
    for (int k = 0; k < 3; ++k) rgb[k] = clamp255(s * rgb[k] + (1.0f - s) * g);
    if (hue != 0.0f) {
      float h, sat, v;
      rgb_to_hsv(rgb[0], rgb[1], rgb[2], h, sat, v);
      h += hue;
      h -= std::floor(h);
      hsv_to_rgb(h, sat, v, rgb[0], rgb[1], rgb[2]);
    }
    for (int k = 0; k < 3; ++k) dst[i * 3 + k] = to_u8(rgb[k]);
  }
  return out;
}

Tensor normalize_image(const Tensor& image, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  check_image(image, "normalize_image");
  const int64_t H = image.size(0), W = image.size(1), n = H * W;
  Tensor out = Tensor::empty({3, H, W}, DType::f32);
  const uint8_t* src = image.data<uint8_t>();
  float* dst = out.data<float>();
  for (int c = 0; c < 3; ++c) {
    const float scale = 1.0f / (255.0f * std[c]), shift = mean[c] / std[c];
    float* plane = dst + c * n;
    for (int64_t i = 0; i < n; ++i) plane[i] = static_cast<float>(src[i * 3 + c]) * scale - shift;
  }
  return out;
}

// ---------------------------------------------------------------- transforms

namespace {
// The sample's image and label as contiguous tensors, checked to match.
std::pair<Tensor, Tensor> checked_sample(const Sample& sample) {
  const Tensor image = sample.image.defined() ? sample.image.contiguous() : sample.image;
  const Tensor label = sample.label.defined() ? sample.label.contiguous() : sample.label;
  check_image(image, "augment");
  check_label(label, "augment");
  CUDASEG_CHECK(image.size(0) == label.size(0) && image.size(1) == label.size(1), "augment: sample '", sample.id,
                "' has image ", shape_str(image.shape()), " but label ", shape_str(label.shape()));
  return {image, label};
}

void check_pair_size(Size2 size, const char* key) {
  CUDASEG_CHECK(size.height > 0 && size.width > 0, "augment.", key, " must be [height, width] > 0, got [",
                size.height, ", ", size.width, "]");
}

double jitter_factor(RandomStream& rng, double strength) {
  return strength > 0.0 ? rng.uniform(std::max(0.0, 1.0 - strength), 1.0 + strength) : 1.0;
}
}  // namespace

TrainTransform::TrainTransform(AugmentOptions options) : options_(std::move(options)) {
  const AugmentOptions& o = options_;
  CUDASEG_CHECK(o.scale_min > 0.0 && o.scale_min <= o.scale_max, "augment.scale must be [min, max] with 0 < min <= max, got [",
                o.scale_min, ", ", o.scale_max, "]");
  if (!o.crop.empty()) check_pair_size(o.crop, "crop");
  const JitterOptions& j = o.jitter;
  CUDASEG_CHECK(j.brightness >= 0.0 && j.contrast >= 0.0 && j.saturation >= 0.0,
                "augment.jitter: brightness, contrast and saturation must be >= 0");
  CUDASEG_CHECK(j.hue >= 0.0 && j.hue <= 0.5, "augment.jitter.hue must be in [0, 0.5], got ", j.hue);
  CUDASEG_CHECK(j.p >= 0.0 && j.p <= 1.0, "augment.jitter.p must be in [0, 1], got ", j.p);
  for (int c = 0; c < 3; ++c)
    CUDASEG_CHECK(o.std[c] > 0.0f, "augment.std must be positive, got ", o.std[c], " for channel ", c);
  CUDASEG_CHECK(o.student.empty() == o.teacher.empty(),
                "augment.multi_resolution needs both a student and a teacher size");
  if (!o.student.empty()) {
    check_pair_size(o.student, "multi_resolution.student");
    check_pair_size(o.teacher, "multi_resolution.teacher");
  }
}

AugmentedSample TrainTransform::apply(const Sample& sample, int64_t epoch, int64_t index) const {
  auto [image, label] = checked_sample(sample);
  const AugmentOptions& o = options_;
  RandomStream rng(o.seed, RandomDomain::augment, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index));

  const double scale = o.scale_min < o.scale_max ? rng.uniform(o.scale_min, o.scale_max) : o.scale_min;
  if (scale != 1.0) {
    const Size2 size{std::max<int64_t>(1, std::llround(static_cast<double>(image.size(0)) * scale)),
                     std::max<int64_t>(1, std::llround(static_cast<double>(image.size(1)) * scale))};
    image = resize_image(image, size);
    label = resize_label(label, size);
  }

  if (!o.crop.empty()) {
    // The window may also start before the image when the image is smaller
    // than the crop, so the padding lands on a random side.
    const int64_t dh = image.size(0) - o.crop.height, dw = image.size(1) - o.crop.width;
    const int64_t top = rng.integer(std::min<int64_t>(0, dh), std::max<int64_t>(0, dh));
    const int64_t left = rng.integer(std::min<int64_t>(0, dw), std::max<int64_t>(0, dw));
    std::array<uint8_t, 3> fill{0, 0, 0};
    if (o.pad_with_mean)
      for (int c = 0; c < 3; ++c) fill[c] = to_u8(o.mean[c] * 255.0f);
    image = crop_image(image, top, left, o.crop, fill);
    label = crop_label(label, top, left, o.crop, o.ignore_index);
  }

  // Geometry is drawn before colour, so the jitter settings never move a crop.
  const bool flip = o.flip && rng.bernoulli(0.5);
  const JitterOptions& j = o.jitter;
  if (j.brightness > 0.0 || j.contrast > 0.0 || j.saturation > 0.0 || j.hue > 0.0) {
    const bool apply = rng.bernoulli(j.p);
    JitterFactors f;
    f.brightness = jitter_factor(rng, j.brightness);
    f.contrast = jitter_factor(rng, j.contrast);
    f.saturation = jitter_factor(rng, j.saturation);
    f.hue = j.hue > 0.0 ? rng.uniform(-j.hue, j.hue) : 0.0;
    if (apply) image = color_jitter(image, f);
  }
  if (flip) {
    image = flip_image(image);
    label = flip_label(label);
  }

  AugmentedSample out;
  out.id = sample.id;
  if (!o.teacher.empty()) {
    out.teacher_image = normalize_image(resize_image(image, o.teacher), o.mean, o.std);
    out.teacher_label = resize_label(label, o.teacher);
    image = resize_image(image, o.student);
    label = resize_label(label, o.student);
  }
  out.image = normalize_image(image, o.mean, o.std);
  out.label = label;
  return out;
}

ValTransform::ValTransform(std::array<float, 3> mean, std::array<float, 3> std, Size2 resize)
    : mean_(mean), std_(std), resize_(resize) {
  for (int c = 0; c < 3; ++c)
    CUDASEG_CHECK(std_[c] > 0.0f, "augment.std must be positive, got ", std_[c], " for channel ", c);
  if (!resize_.empty()) check_pair_size(resize_, "val_resize");
}

AugmentedSample ValTransform::apply(const Sample& sample, int64_t, int64_t) const {
  auto [image, label] = checked_sample(sample);
  AugmentedSample out;
  out.id = sample.id;
  if (!resize_.empty()) {
    image = resize_image(image, resize_);
    label = resize_label(label, resize_);
  }
  out.image = normalize_image(image, mean_, std_);
  out.label = label;
  return out;
}

}  // namespace cudaseg::train
