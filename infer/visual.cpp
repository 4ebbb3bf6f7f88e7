#include "infer/visual.h"

#include <cmath>

namespace cudaseg::infer {
namespace {

void check_labels(const Tensor& labels) {
  CUDASEG_CHECK(labels.dim() == 2 && labels.dtype() == DType::i64, "labels must be int64 [H, W], got ", labels.str());
}

}  // namespace

Palette default_palette(int64_t num_classes) {
  static const Palette cityscapes = {
      {128, 64, 128}, {244, 35, 232}, {70, 70, 70},   {102, 102, 156}, {190, 153, 153}, {153, 153, 153}, {250, 170, 30},
      {220, 220, 0},  {107, 142, 35}, {152, 251, 152}, {70, 130, 180}, {220, 20, 60},   {255, 0, 0},     {0, 0, 142},
      {0, 0, 70},     {0, 60, 100},   {0, 80, 100},   {0, 0, 230},     {119, 11, 32}};
  if (num_classes == 19) return cityscapes;
  Palette p;
  for (int64_t c = 0; c < num_classes; ++c) {
    if (c == 0) {
      p.push_back({0, 0, 0});
      continue;
    }
    // Golden-ratio hue steps keep neighbouring ids apart; value alternates.
    const double h = std::fmod(c * 0.618033988749895, 1.0) * 6.0, v = c % 2 ? 0.95 : 0.7, s = 0.8;
    const double f = h - std::floor(h), pp = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r = v, g = t, b = pp;
    switch (static_cast<int>(h) % 6) {
      case 1: r = q, g = v, b = pp; break;
      case 2: r = pp, g = v, b = t; break;
      case 3: r = pp, g = q, b = v; break;
      case 4: r = t, g = pp, b = v; break;
      case 5: r = v, g = pp, b = q; break;
      default: break;
    }
    auto u8 = [](double x) { return static_cast<uint8_t>(std::lround(x * 255)); };
    p.push_back({u8(r), u8(g), u8(b)});
  }
  return p;
}

Tensor colorize(const Tensor& labels, const Palette& palette) {
  check_labels(labels);
  const Tensor l = labels.to(Device::cpu()).contiguous();
  Tensor out = Tensor::empty({l.size(0), l.size(1), 3}, DType::u8);
  const int64_t* in = l.data<int64_t>();
  uint8_t* o = out.data<uint8_t>();
  for (int64_t i = 0; i < l.numel(); ++i) {
    CUDASEG_CHECK(in[i] >= 0 && in[i] < static_cast<int64_t>(palette.size()), "colorize: label ", in[i],
                  " outside the palette of ", palette.size(), " colours");
    std::copy(palette[in[i]].begin(), palette[in[i]].end(), o + 3 * i);
  }
  return out;
}

Tensor overlay(const Tensor& image, const Tensor& color, double alpha) {
  CUDASEG_CHECK(image.shape() == color.shape() && image.dtype() == DType::u8 && color.dtype() == DType::u8,
                "overlay: image ", image.str(), " and colours ", color.str(), " must be the same u8 shape");
  const Tensor a = image.contiguous(), b = color.contiguous();
  Tensor out = Tensor::empty(a.shape(), DType::u8);
  const uint8_t *pa = a.data<uint8_t>(), *pb = b.data<uint8_t>();
  uint8_t* o = out.data<uint8_t>();
  for (int64_t i = 0; i < a.numel(); ++i) o[i] = static_cast<uint8_t>(std::lround(pa[i] * (1 - alpha) + pb[i] * alpha));
  return out;
}

Tensor label_png(const Tensor& labels) {
  check_labels(labels);
  const std::vector<double> v = labels.to_vector();
  for (double x : v) CUDASEG_CHECK(x >= 0 && x <= 255, "label PNG: class id ", x, " does not fit 8 bits");
  return Tensor::from_vector(v, labels.shape(), DType::u8);
}

}  // namespace cudaseg::infer
