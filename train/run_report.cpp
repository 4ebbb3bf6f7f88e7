#include "train/run_report.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
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
using OJson = nlohmann::ordered_json;

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

OJson finite_or_null(double v) { return std::isfinite(v) ? OJson(v) : OJson(nullptr); }

double number_or_nan(const OJson& v) { return v.is_number() ? v.get<double>() : std::nan(""); }

std::string html_escape(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += digits[v >> 18 & 63];
    out += digits[v >> 12 & 63];
    out += i + 1 < bytes.size() ? digits[v >> 6 & 63] : '=';
    out += i + 2 < bytes.size() ? digits[v & 63] : '=';
  }
  return out;
}

// An <img> holding the PNG file `name` of the run folder; nothing when the file is not there.
std::string inline_png(const fs::path& dir, const std::string& name, const std::string& id, const std::string& alt) {
  std::ifstream in(dir / name, std::ios::binary);
  if (!in) return "";
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return "<img id=\"" + id + "\" alt=\"" + html_escape(alt) + "\" src=\"data:image/png;base64," + base64(bytes) +
         "\">\n";
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Marks each image with its decoded width and counts those that loaded, so a
// report whose pictures broke says so on the page.
constexpr const char* kImageCheck = R"(<script>
window.addEventListener('load', function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; ++i) {
    images[i].setAttribute('data-natural-width', images[i].naturalWidth);
    if (images[i].complete && images[i].naturalWidth > 0) ++loaded;
  }
  document.getElementById('image-status').textContent = loaded + ' of ' + images.length + ' images loaded';
});
</script>
)";

}  // namespace

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

RunReport::RunReport(std::string out_dir, int64_t step, Json config)
    : dir_(std::move(out_dir)), path_((fs::path(dir_) / "metrics.jsonl").string()), config_(std::move(config)) {
  fs::create_directories(dir_);
  loss_.push_back({"total", {}});
  std::vector<std::string> kept;
  std::ifstream in(path_);
  for (std::string line; std::getline(in, line);) {
    // A damaged line (cut off by a crash, edited by hand) holds no record to keep.
    const OJson j = OJson::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number_integer() ||
        j["step"].get<int64_t>() > step)
      continue;
    if (j.value("type", "") == "train") add_train(j);
    if (j.value("type", "") == "val") add_val(j);
    kept.push_back(line);
  }
  in.close();
  std::string text;
  for (const std::string& line : kept) text += line + '\n';
  write_file_atomic(path_, text);
  tb_ = std::make_unique<TbWriter>((fs::path(dir_) / "tb").string());
  tb_->session_start(step + 1);
}

void RunReport::add_train(const OJson& record) {
  const double x = static_cast<double>(record["step"].get<int64_t>());
  if (record.contains("loss") && record["loss"].is_number())
    loss_[0].points.push_back({x, record["loss"].get<double>()});
  if (!record.contains("terms") || !record["terms"].is_object()) return;
  for (const auto& item : record["terms"].items()) {
    const std::string& name = item.key();
    const auto& v = item.value();
    if (!v.is_number()) continue;
    auto s = std::find_if(loss_.begin() + 1, loss_.end(), [&](const Series& c) { return c.name == name; });
    if (s == loss_.end()) s = loss_.insert(loss_.end(), Series{name, {}});
    s->points.push_back({x, v.get<double>()});
  }
}

void RunReport::add_val(const OJson& record) {
  const double x = static_cast<double>(record["step"].get<int64_t>());
  if (record.contains("miou") && record["miou"].is_number()) miou_.points.push_back({x, record["miou"].get<double>()});
  if (record.contains("pixel_acc") && record["pixel_acc"].is_number())
    pixel_acc_.points.push_back({x, record["pixel_acc"].get<double>()});
  last_val_ = record;
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
  OJson t = OJson::object();
  for (const auto& [name, v] : terms) t[name] = finite_or_null(v);
  OJson record{{"type", "train"}, {"step", step}, {"loss", finite_or_null(loss)}, {"terms", t}, {"lr", lr},
               {"images_per_s", finite_or_null(images_per_s)}};
  if (loss_scale) record["loss_scale"] = *loss_scale;
  append(record.dump());
  add_train(record);
  tb_->scalar("loss/total", step, loss);
  for (const auto& [name, v] : terms) tb_->scalar("loss/" + name, step, v);
  tb_->scalar("train/lr", step, lr);
  tb_->scalar("train/images_per_s", step, images_per_s);
  if (loss_scale) tb_->scalar("train/loss_scale", step, *loss_scale);
}

void RunReport::validation(int64_t step, const ConfusionMatrix& confusion,
                           const std::vector<std::string>& class_names) {
  const std::vector<double> iou = confusion.iou();
  OJson per_class = OJson::object();
  for (size_t k = 0; k < iou.size(); ++k) {
    per_class[k < class_names.size() ? class_names[k] : std::to_string(k)] = finite_or_null(iou[k]);
  }
  const double miou = confusion.miou(), pixel_acc = confusion.pixel_accuracy();
  const OJson record{{"type", "val"}, {"step", step}, {"miou", finite_or_null(miou)},
                     {"pixel_acc", finite_or_null(pixel_acc)}, {"iou", per_class}};
  append(record.dump());
  add_val(record);
  tb_->scalar("val/miou", step, miou);
  tb_->scalar("val/pixel_acc", step, pixel_acc);
  for (const auto& [name, v] : per_class.items()) tb_->scalar("val_iou/" + name, step, number_or_nan(v));
}

void RunReport::predictions(int64_t step, const Tensor& grid) {
  write_png((fs::path(dir_) / "val_predictions.png").string(), grid);
  tb_->image("val/predictions", step, grid);
}

void RunReport::write_plots() const {
  const fs::path dir(dir_);
  std::vector<Series> loss;
  for (const Series& s : loss_)
    if (!s.points.empty()) loss.push_back(s);
  if (!loss.empty())
    write_png((dir / "loss.png").string(), line_chart(loss, {"Training loss", "step", "loss"}, 360, 640));
  if (!miou_.points.empty() || !pixel_acc_.points.empty()) {
    write_png((dir / "miou.png").string(),
              line_chart({miou_, pixel_acc_}, {"Validation", "step", "score"}, 360, 640, {0.0, 1.0}));
  }
  if (last_val_.is_object() && !last_val_["iou"].empty()) {
    std::vector<std::pair<std::string, double>> bars;
    for (const auto& [name, v] : last_val_["iou"].items()) bars.emplace_back(name, number_or_nan(v));
    const std::string title = "IoU per class at step " + std::to_string(last_val_["step"].get<int64_t>());
    write_png((dir / "iou.png").string(), bar_chart(bars, {title, "IoU", ""}, 640));
  }
  write_html();
}

void RunReport::write_html() const {
  const fs::path dir(dir_);
  const std::string name = dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>cudaseg run "
    << html_escape(name) << "</title>\n<style>\n"
    << "body { font-family: sans-serif; margin: 2em; max-width: 1100px; }\n"
    << "table { border-collapse: collapse; } th, td { border: 1px solid #ccc; padding: 2px 10px; text-align: left; }\n"
    << "td.num { text-align: right; font-family: monospace; }\n"
    << "pre { background: #f4f4f4; padding: 1em; overflow: auto; }\n"
    << "img { max-width: 100%; display: block; margin: 1em 0; }\n"
    << "#val-predictions { width: 640px; image-rendering: pixelated; }\n"
    << "</style>\n</head>\n<body>\n<h1>cudaseg run: " << html_escape(name) << "</h1>\n<p id=\"summary\">";
  if (config_.is_object() && config_.contains("model") && config_["model"].contains("name"))
    h << "Model " << html_escape(config_["model"]["name"].is_string() ? config_["model"]["name"].get<std::string>()
                                                                     : config_["model"]["name"].dump())
      << ". ";
  if (!loss_[0].points.empty())
    h << "Trained to step " << static_cast<int64_t>(loss_[0].points.back()[0]) << ", loss "
      << fixed(loss_[0].points.back()[1], 4) << ". ";
  if (last_val_.is_object())
    h << "Latest validation at step " << last_val_["step"].get<int64_t>() << ": mIoU "
      << fixed(number_or_nan(last_val_["miou"]), 4) << ", pixel accuracy "
      << fixed(number_or_nan(last_val_["pixel_acc"]), 4) << ".";
  h << "</p>\n<p id=\"image-status\"></p>\n<h2>Charts</h2>\n"
    << inline_png(dir, "loss.png", "chart-loss", "training loss")
    << inline_png(dir, "miou.png", "chart-miou", "validation")
    << inline_png(dir, "iou.png", "chart-iou", "IoU per class");
  if (last_val_.is_object()) {
    h << "<h2>IoU per class at step " << last_val_["step"].get<int64_t>() << "</h2>\n"
      << "<table id=\"iou-table\">\n<thead><tr><th>class</th><th>IoU</th></tr></thead>\n<tbody>\n";
    for (const auto& [cls, v] : last_val_["iou"].items())
      h << "<tr class=\"iou-row\"><td>" << html_escape(cls) << "</td><td class=\"num\">" << fixed(number_or_nan(v), 4)
        << "</td></tr>\n";
    h << "</tbody>\n</table>\n";
  }
  const std::string predictions = inline_png(dir, "val_predictions.png", "val-predictions", "validation predictions");
  if (!predictions.empty())
    h << "<h2>Validation predictions</h2>\n<p>Each row: image | label | prediction (ignored pixels black).</p>\n"
      << predictions;
  if (!config_.is_null()) h << "<h2>Config</h2>\n<pre id=\"config\">" << html_escape(config_.dump(2)) << "</pre>\n";
  h << kImageCheck << "</body>\n</html>\n";
  write_file_atomic((dir / "report.html").string(), h.str());
}

}  // namespace cudaseg::train
