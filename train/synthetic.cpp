#include "train/synthetic.h"

#include <algorithm>
#include <cmath>

#include "runtime/philox.h"
#include "train/augment.h"

namespace cudaseg::train {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr float kNoise = 10.0f;  // per-pixel noise amplitude, in u8 levels

// Sample indices of the val split start here, far from any train index.
constexpr uint64_t kValOffset = uint64_t{1} << 40;

std::array<float, 3> hsv(double h, double s, double v) {
  const double h6 = (h - std::floor(h)) * 6.0;
  const int sector = static_cast<int>(h6) % 6;
  const double f = h6 - std::floor(h6), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double r, g, b;
  switch (sector) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
  return {static_cast<float>(255 * r), static_cast<float>(255 * g), static_cast<float>(255 * b)};
}

struct Shape2D {
  int64_t cls;
  int kind;  // 0 rectangle, 1 ellipse, 2 triangle, 3 polygon
  double cx, cy, rx, ry, cos_a, sin_a;
  std::vector<double> px, py;  // polygon vertices
  float brightness;
  float phase_x, phase_y;
  int64_t x0, y0, x1, y1;  // bounding box, clipped, exclusive end
};

bool inside_polygon(const Shape2D& s, double x, double y) {
  bool in = false;
  const size_t n = s.px.size();
  for (size_t i = 0, j = n - 1; i < n; j = i++) {
    if ((s.py[i] > y) != (s.py[j] > y) && x < (s.px[j] - s.px[i]) * (y - s.py[i]) / (s.py[j] - s.py[i]) + s.px[i])
      in = !in;
  }
  return in;
}

bool inside(const Shape2D& s, double x, double y) {
  const double dx = x - s.cx, dy = y - s.cy;
  switch (s.kind) {
    case 0: return std::abs(dx) <= s.rx && std::abs(dy) <= s.ry;
    case 1: {
      const double u = (dx * s.cos_a + dy * s.sin_a) / s.rx, v = (-dx * s.sin_a + dy * s.cos_a) / s.ry;
      return u * u + v * v <= 1.0;
    }
    default: return inside_polygon(s, x, y);
  }
}

Shape2D random_shape(RandomStream& rng, int64_t num_classes, int64_t H, int64_t W) {
  Shape2D s;
  s.cls = rng.integer(1, num_classes - 1);
  s.kind = static_cast<int>(rng.integer(0, 3));
  s.cx = rng.uniform(0.0, static_cast<double>(W));
  s.cy = rng.uniform(0.0, static_cast<double>(H));
  const double r = rng.uniform(0.1, 0.4) * static_cast<double>(std::min(H, W)) + 1.0;
  s.rx = r * rng.uniform(0.6, 1.6);
  s.ry = r * rng.uniform(0.6, 1.6);
  const double angle = rng.uniform(0.0, 2.0 * kPi);
  s.cos_a = std::cos(angle);
  s.sin_a = std::sin(angle);
  double extent = std::max(s.rx, s.ry);
  if (s.kind >= 2) {
    const int64_t n = s.kind == 2 ? 3 : rng.integer(5, 8);
    for (int64_t k = 0; k < n; ++k) {
      const double a = angle + 2.0 * kPi * (static_cast<double>(k) + rng.uniform(-0.3, 0.3)) / static_cast<double>(n);
      const double radius = r * (s.kind == 2 ? rng.uniform(0.8, 1.4) : rng.uniform(0.5, 1.3));
      s.px.push_back(s.cx + radius * std::cos(a));
      s.py.push_back(s.cy + radius * std::sin(a));
      extent = std::max(extent, radius);
    }
  }
  s.brightness = static_cast<float>(rng.uniform(0.92, 1.08));
  s.phase_x = static_cast<float>(rng.uniform(0.0, 64.0));
  s.phase_y = static_cast<float>(rng.uniform(0.0, 64.0));
  s.x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(s.cx - extent)));
  s.x1 = std::min<int64_t>(W, static_cast<int64_t>(std::ceil(s.cx + extent)) + 1);
  s.y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(s.cy - extent)));
  s.y1 = std::min<int64_t>(H, static_cast<int64_t>(std::ceil(s.cy + extent)) + 1);
  return s;
}

// The weight of the second colour at (x, y) in texture coordinates; `speckle`
// is a per-pixel random byte.
float texture_weight(const SyntheticDataset::ClassStyle& st, float x, float y, uint32_t speckle) {
  switch (st.texture) {
    case 0: {
      const float t = (x * st.cos_angle + y * st.sin_angle) / st.period;
      return t - std::floor(t) < 0.5f ? 0.0f : 1.0f;
    }
    case 1: {
      const int64_t cx = static_cast<int64_t>(std::floor(x / st.period)), cy = static_cast<int64_t>(std::floor(y / st.period));
      return ((cx + cy) & 1) ? 1.0f : 0.0f;
    }
    default: return static_cast<float>(speckle) / 255.0f;
  }
}

}  // namespace

SyntheticDataset::SyntheticDataset(SyntheticOptions options) : options_(options) {
  CUDASEG_CHECK(options_.num_classes >= 2 && options_.num_classes <= 255,
                "synthetic dataset: num_classes must be in [2, 255], got ", options_.num_classes);
  CUDASEG_CHECK(options_.size >= 1, "synthetic dataset: size must be >= 1, got ", options_.size);
  CUDASEG_CHECK(options_.height >= 1 && options_.width >= 1, "synthetic dataset: image size must be positive, got ",
                options_.height, "x", options_.width);
  // Hues spread by the golden ratio and three lightness levels keep the class
  // colours apart for any class count; the seed turns the colour wheel.
  RandomStream rng(options_.seed, RandomDomain::synthetic, 0, 0);
  const double hue0 = rng.uniform();
  for (int64_t c = 0; c < options_.num_classes; ++c) {
    ClassStyle st;
    const double hue = hue0 + 0.6180339887498949 * static_cast<double>(c);
    const double sat = c % 2 == 0 ? 0.85 : 0.55;
    const double val = c % 3 == 0 ? 0.95 : (c % 3 == 1 ? 0.75 : 0.55);
    st.base = hsv(hue, sat, val);
    for (int k = 0; k < 3; ++k) st.second[k] = st.base[k] * 0.7f;
    st.texture = static_cast<int>(c % 3);
    st.period = static_cast<float>(rng.uniform(3.0, 8.0));
    const double angle = rng.uniform(0.0, kPi);
    st.cos_angle = static_cast<float>(std::cos(angle));
    st.sin_angle = static_cast<float>(std::sin(angle));
    styles_.push_back(st);
  }
}

Sample SyntheticDataset::get(int64_t index) const {
  CUDASEG_CHECK(index >= 0 && index < options_.size, "synthetic dataset: index ", index, " out of range [0, ",
                options_.size, ")");
  const int64_t H = options_.height, W = options_.width;
  const uint64_t global = static_cast<uint64_t>(index) + (options_.validation ? kValOffset : 0);
  RandomStream rng(options_.seed, RandomDomain::synthetic, 1, global);

  const int64_t count = rng.integer(3, 8);
  std::vector<Shape2D> shapes;
  for (int64_t i = 0; i < count; ++i) shapes.push_back(random_shape(rng, options_.num_classes, H, W));
  const float background_brightness = static_cast<float>(rng.uniform(0.92, 1.08));

  // owner: the topmost shape covering each pixel, -1 for the background.
  std::vector<int16_t> owner(static_cast<size_t>(H * W), -1);
  for (size_t k = 0; k < shapes.size(); ++k) {
    const Shape2D& s = shapes[k];
    for (int64_t y = s.y0; y < s.y1; ++y)
      for (int64_t x = s.x0; x < s.x1; ++x)
        if (inside(s, static_cast<double>(x) + 0.5, static_cast<double>(y) + 0.5))
          owner[y * W + x] = static_cast<int16_t>(k);
  }

  Sample out;
  out.id = std::string(options_.validation ? "synthetic_val_" : "synthetic_train_") + std::to_string(index);
  out.image = Tensor::empty({H, W, 3}, DType::u8);
  out.label = Tensor::empty({H, W}, DType::i64);
  uint8_t* img = out.image.data<uint8_t>();
  int64_t* lab = out.label.data<int64_t>();
  // One Philox word per pixel: three noise bytes and one speckle byte.
  const uint64_t key = rng.key(), start = rng.reserve(static_cast<uint64_t>(H * W));
  philox::Block block{};
  for (int64_t i = 0; i < H * W; ++i) {
    if (i % 4 == 0) block = philox::philox4x32_10((start + static_cast<uint64_t>(i)) / 4, key);
    const uint32_t word = block.v[i % 4];
    const int16_t k = owner[i];
    const int64_t cls = k < 0 ? 0 : shapes[k].cls;
    const ClassStyle& st = styles_[cls];
    const float bright = k < 0 ? background_brightness : shapes[k].brightness;
    const float tx = static_cast<float>(i % W) + (k < 0 ? 0.0f : shapes[k].phase_x);
    const float ty = static_cast<float>(i / W) + (k < 0 ? 0.0f : shapes[k].phase_y);
    const float w = texture_weight(st, tx, ty, word >> 24);
    for (int c = 0; c < 3; ++c) {
      const float noise = (static_cast<float>((word >> (8 * c)) & 0xFF) - 127.5f) * (kNoise / 127.5f);
      const float v = ((1.0f - w) * st.base[c] + w * st.second[c]) * bright + noise;
      img[i * 3 + c] = static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v)) + 0.5f);
    }
    lab[i] = cls;
  }
  return out;
}

std::vector<std::string> SyntheticDataset::class_names() const {
  std::vector<std::string> names{"background"};
  for (int64_t c = 1; c < options_.num_classes; ++c) names.push_back("class" + std::to_string(c));
  return names;
}

std::vector<std::array<uint8_t, 3>> SyntheticDataset::palette() const {
  std::vector<std::array<uint8_t, 3>> colours;
  for (const ClassStyle& st : styles_)
    colours.push_back({static_cast<uint8_t>(st.base[0] + 0.5f), static_cast<uint8_t>(st.base[1] + 0.5f),
                       static_cast<uint8_t>(st.base[2] + 0.5f)});
  return colours;
}

}  // namespace cudaseg::train
