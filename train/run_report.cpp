#include "train/run_report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/image_io.h"

namespace cudaseg::train {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Rgb = std::array<uint8_t, 3>;

constexpr Rgb kWhite{255, 255, 255}, kAxis{40, 40, 40}, kGrid{220, 220, 220}, kLine{31, 119, 180};

struct Canvas {
  int64_t h, w;
  uint8_t* p;
  void set(int64_t y, int64_t x, Rgb c) const {
    if (y < 0 || y >= h || x < 0 || x >= w) return;
    std::copy(c.begin(), c.end(), p + (y * w + x) * 3);
  }
  // Bresenham, two pixels thick so the curve reads at a glance.
  void line(int64_t y0, int64_t x0, int64_t y1, int64_t x1, Rgb c) const {
    const int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int64_t err = dx + dy;
    for (;;) {
      set(y0, x0, c);
      set(y0 + 1, x0, c);
      if (x0 == x1 && y0 == y1) break;
      const int64_t e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
};

// 3x5 bitmaps (rows top to bottom, 3 bits each, MSB left) of the characters
// an axis label needs.
const std::map<char, std::array<uint8_t, 5>> kGlyphs = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'+', {0, 2, 7, 2, 0}}, {'e', {0, 7, 7, 4, 7}}};

// Draws `text` with its top-left corner at (y, x), 4 pixels per character.
void text(const Canvas& c, int64_t y, int64_t x, const std::string& s, Rgb colour) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto g = kGlyphs.find(s[i]);
    if (g == kGlyphs.end()) continue;
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t b = 0; b < 3; ++b)
        if (g->second[static_cast<size_t>(r)] >> (2 - b) & 1) c.set(y + r, x + 4 * static_cast<int64_t>(i) + b, colour);
  }
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// A generated colour for classes past the palette: well spread hues.
Rgb class_colour(const Palette& palette, int64_t k) {
  if (k < static_cast<int64_t>(palette.size())) return palette[static_cast<size_t>(k)];
  const auto v = static_cast<uint32_t>(k) * 2654435761u;
  return {static_cast<uint8_t>(64 + (v >> 8) % 192), static_cast<uint8_t>(64 + (v >> 16) % 192),
          static_cast<uint8_t>(64 + (v >> 24) % 192)};
}

void paste(const Tensor& dst, const Tensor& src, int64_t y0, int64_t x0) {
  const int64_t W = dst.size(1), h = src.size(0), w = src.size(1);
  uint8_t* d = dst.data<uint8_t>();
  const uint8_t* s = src.data<uint8_t>();
  for (int64_t y = 0; y < h; ++y) std::copy(s + y * w * 3, s + (y + 1) * w * 3, d + ((y0 + y) * W + x0) * 3);
}

Json finite_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

}  // namespace

Tensor line_chart(const std::vector<std::array<double, 2>>& points, int64_t height, int64_t width,
                  std::array<double, 2> y_range) {
  CUDASEG_CHECK(!points.empty(), "line_chart: no points");
  CUDASEG_CHECK(height >= 32 && width >= 32, "line_chart: size ", height, "x", width, " is below 32x32");
  double x_lo = points.front()[0], x_hi = x_lo, y_lo = points.front()[1], y_hi = y_lo;
  for (const auto& [x, y] : points) {
    CUDASEG_CHECK(std::isfinite(x) && std::isfinite(y), "line_chart: point (", x, ", ", y, ") is not finite");
    x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
  }
  if (y_range[0] < y_range[1]) y_lo = y_range[0], y_hi = y_range[1];
  if (x_hi == x_lo) x_hi = x_lo + 1;
  if (y_hi == y_lo) y_hi = y_lo + 1;
  Tensor img = Tensor::full({height, width, 3}, 255.0, DType::u8);
  const Canvas c{height, width, img.data<uint8_t>()};
  const int64_t left = std::max<int64_t>(36, width / 12), bottom = height - std::max<int64_t>(8, height / 12);
  const int64_t top = std::max<int64_t>(4, height / 24), right = width - std::max<int64_t>(4, width / 24);
  for (int i = 1; i <= 4; ++i) {
    const int64_t y = bottom - (bottom - top) * i / 4;
    c.line(y, left, y, right, kGrid);
  }
  c.line(bottom, left, bottom, right, kAxis);
  c.line(top, left, bottom, left, kAxis);
  for (int i = 0; i <= 4; ++i) {
    const int64_t x = left + (right - left) * i / 4, y = bottom - (bottom - top) * i / 4;
    c.line(bottom, x, bottom + 4, x, kAxis);
    c.line(y, left - 4, y, left, kAxis);
  }
  // The y range at the ends of the y axis, the x range under the ends of the x axis.
  text(c, top - 2, 1, number(y_hi), kAxis);
  text(c, bottom - 3, 1, number(y_lo), kAxis);
  text(c, bottom + 6, left - 2, number(x_lo), kAxis);
  const std::string x_end = number(x_hi);
  text(c, bottom + 6, right - 4 * static_cast<int64_t>(x_end.size()) + 2, x_end, kAxis);
  auto px = [&](const std::array<double, 2>& p) {
    const double fx = (p[0] - x_lo) / (x_hi - x_lo), fy = std::clamp((p[1] - y_lo) / (y_hi - y_lo), 0.0, 1.0);
    return std::array<int64_t, 2>{bottom - 1 - std::llround(fy * static_cast<double>(bottom - 1 - top)),
                                  left + 1 + std::llround(fx * static_cast<double>(right - left - 1))};
  };
  auto prev = px(points.front());
  for (const auto& p : points) {
    const auto cur = px(p);
    c.line(prev[0], prev[1], cur[0], cur[1], kLine);
    prev = cur;
  }
  return img;
}

Tensor colourize(const Tensor& ids, const Palette& palette, int64_t ignore_index) {
  CUDASEG_CHECK(ids.dim() == 2 && ids.dtype() == DType::i64, "colourize: expected i64 [H, W] ids");
  const Tensor src = ids.contiguous();
  const int64_t n = src.numel();
  Tensor out = Tensor::zeros({src.size(0), src.size(1), 3}, DType::u8);
  const int64_t* s = src.data<int64_t>();
  uint8_t* d = out.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (s[i] < 0 || s[i] == ignore_index || s[i] > 4096) continue;
    const Rgb rgb = class_colour(palette, s[i]);
    std::copy(rgb.begin(), rgb.end(), d + i * 3);
  }
  return out;
}

Tensor prediction_grid(const Tensor& images, const Tensor& labels, const Tensor& predictions,
                       const std::vector<double>& mean, const std::vector<double>& std, const Palette& palette,
                       int64_t ignore_index) {
  CUDASEG_CHECK(images.dim() == 4 && images.size(1) == 3, "prediction_grid: images must be [N, 3, H, W]");
  const int64_t N = images.size(0), H = images.size(2), W = images.size(3);
  CUDASEG_CHECK(labels.shape() == Shape({N, H, W}) && predictions.shape() == Shape({N, H, W}),
                "prediction_grid: labels and predictions must be [", N, ", ", H, ", ", W, "]");
  CUDASEG_CHECK(mean.size() == 3 && std.size() == 3, "prediction_grid: mean and std need 3 values");
  constexpr int64_t gap = 2;
  Tensor grid = Tensor::full({N * H + (N - 1) * gap, 3 * W + 2 * gap, 3}, 255.0, DType::u8);
  const Tensor img = images.to(DType::f32).contiguous();
  const float* src = img.data<float>();
  for (int64_t n = 0; n < N; ++n) {
    Tensor rgb = Tensor::empty({H, W, 3}, DType::u8);
    uint8_t* d = rgb.data<uint8_t>();
    for (int64_t ch = 0; ch < 3; ++ch)
      for (int64_t i = 0; i < H * W; ++i) {
        const double v = (src[(n * 3 + ch) * H * W + i] * std[ch] + mean[ch]) * 255.0;
        d[i * 3 + ch] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    const int64_t y = n * (H + gap);
    paste(grid, rgb, y, 0);
    paste(grid, colourize(labels.select(0, n).contiguous(), palette, ignore_index), y, W + gap);
    paste(grid, colourize(predictions.select(0, n).contiguous(), palette, ignore_index), y, 2 * (W + gap));
  }
  return grid;
}

RunReport::RunReport(std::string out_dir, int64_t step)
    : dir_(std::move(out_dir)), path_((fs::path(dir_) / "metrics.jsonl").string()) {
  fs::create_directories(dir_);
  std::vector<std::string> kept;
  std::ifstream in(path_);
  for (std::string line; std::getline(in, line);) {
    // A damaged line (cut off by a crash, edited by hand) holds no record to keep.
    const Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number_integer() ||
        j["step"].get<int64_t>() > step)
      continue;
    const double x = static_cast<double>(j["step"].get<int64_t>());
    if (j.value("type", "") == "train" && j["loss"].is_number()) loss_.push_back({x, j["loss"].get<double>()});
    if (j.value("type", "") == "val" && j["miou"].is_number()) miou_.push_back({x, j["miou"].get<double>()});
    kept.push_back(line);
  }
  in.close();
  std::string text;
  for (const std::string& line : kept) text += line + '\n';
  write_file_atomic(path_, text);
}

// The log grows a line per record: an append, not a rewrite, so a crash loses
// at most the line being written (a partial last line is dropped on resume).
void RunReport::append(const std::string& line) {
  std::ofstream out(path_, std::ios::app);
  out << line << '\n';
  out.flush();
  CUDASEG_CHECK(out.good(), "cannot append to '", path_, "'");
}

void RunReport::train_step(int64_t step, double loss, const std::vector<std::pair<std::string, double>>& terms,
                           double lr, double images_per_s, std::optional<double> loss_scale) {
  Json t = Json::object();
  for (const auto& [name, v] : terms) t[name] = finite_or_null(v);
  Json record{{"type", "train"}, {"step", step}, {"loss", finite_or_null(loss)}, {"terms", t}, {"lr", lr},
              {"images_per_s", finite_or_null(images_per_s)}};
  if (loss_scale) record["loss_scale"] = *loss_scale;
  append(record.dump());
  if (std::isfinite(loss)) loss_.push_back({static_cast<double>(step), loss});
}

void RunReport::validation(int64_t step, const ConfusionMatrix& confusion,
                           const std::vector<std::string>& class_names) {
  const std::vector<double> iou = confusion.iou();
  Json per_class = Json::object();
  for (size_t k = 0; k < iou.size(); ++k) {
    per_class[k < class_names.size() ? class_names[k] : std::to_string(k)] = finite_or_null(iou[k]);
  }
  const double miou = confusion.miou();
  append(Json{{"type", "val"}, {"step", step}, {"miou", finite_or_null(miou)},
              {"pixel_acc", finite_or_null(confusion.pixel_accuracy())}, {"iou", per_class}}
             .dump());
  if (std::isfinite(miou)) miou_.push_back({static_cast<double>(step), miou});
}

void RunReport::write_plots() const {
  if (!loss_.empty()) write_png((fs::path(dir_) / "loss.png").string(), line_chart(loss_, 240, 400));
  if (!miou_.empty()) write_png((fs::path(dir_) / "miou.png").string(), line_chart(miou_, 240, 400, {0.0, 1.0}));
}

}  // namespace cudaseg::train
