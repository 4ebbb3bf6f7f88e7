// What a run leaves for a person (train/run_report.h): the charts, the
// colourised predictions, metrics.jsonl, the TensorBoard log, report.html,
// and the files a Trainer run writes.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <iterator>

#include <nlohmann/json.hpp>

#include "common/testing.h"
#include "runtime/image_io.h"
#include "train/run_report.h"
#include "train/trainer.h"
#include "trainer_toy.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_report_" + name);
  fs::remove_all(dir);
  return dir;
}

bool is_line(const uint8_t* p) { return p[0] == 31 && p[1] == 119 && p[2] == 180; }

// The rows (top = 0) where column x holds curve pixels, averaged.
double curve_row(const Tensor& img, int64_t x) {
  double sum = 0;
  int n = 0;
  for (int64_t y = 0; y < img.size(0); ++y)
    if (is_line(img.data<uint8_t>() + (y * img.size(1) + x) * 3)) sum += static_cast<double>(y), ++n;
  return n ? sum / n : -1;
}

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// A protobuf message's fields: (field number, varint value or bytes).
std::vector<std::pair<int, std::string>> fields(const std::string& m) {
  std::vector<std::pair<int, std::string>> out;
  size_t at = 0;
  auto varint = [&] {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const auto b = static_cast<unsigned char>(m.at(at++));
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  while (at < m.size()) {
    const uint64_t key = varint();
    const int wire = static_cast<int>(key & 7);
    std::string value;
    if (wire == 0) value = std::to_string(varint());
    if (wire == 1 || wire == 5) value = m.substr(at, wire == 1 ? 8 : 4), at += value.size();
    if (wire == 2) {
      const auto n = static_cast<size_t>(varint());
      value = m.substr(at, n), at += n;
    }
    out.emplace_back(static_cast<int>(key >> 3), value);
  }
  return out;
}

struct Scalar {
  int64_t step;
  std::string tag;
  float value;
};

// The scalars of the event files in `dir`, in file then record order.
std::vector<Scalar> tb_scalars(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<Scalar> out;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (size_t at = 0; at + 12 <= bytes.size();) {
      uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(bytes[at + i]);
      int64_t step = 0;
      for (const auto& [field, v] : fields(bytes.substr(at + 12, n))) {
        if (field == 2) step = std::stoll(v);
        if (field != 5) continue;
        for (const auto& [vf, value] : fields(v)) {
          std::string tag;
          std::optional<float> x;
          for (const auto& [f2, part] : fields(value)) {
            if (f2 == 1) tag = part;
            if (f2 == 2) x = 0, std::memcpy(&*x, part.data(), 4);
          }
          if (vf == 1 && x) out.push_back({step, tag, *x});
        }
      }
      at += 16 + n;
    }
  }
  return out;
}

}  // namespace

// Each value of metrics.jsonl is a TensorBoard scalar at its step, in float32.
TEST(RunReport, TensorBoardGetsEveryScalar) {
  const fs::path dir = fresh_dir("tb");
  {
    RunReport report(dir.string(), 0);
    report.train_step(1, 1.5, {{"seg", 1.0}, {"aux0", 0.5}}, 0.01, 12.5, 1024.0);
    ConfusionMatrix cm(3);
    Tensor pred = Tensor::zeros({1, 2, 2}, DType::i64), lab = Tensor::zeros({1, 2, 2}, DType::i64);
    lab.data<int64_t>()[3] = 1;
    cm.update(pred, lab);
    report.validation(1, cm, {"road", "car", "sky"});
  }
  std::vector<std::string> tags;
  std::map<std::string, float> value;
  for (const Scalar& s : tb_scalars(dir / "tb")) {
    EXPECT_EQ(s.step, 1) << s.tag;
    tags.push_back(s.tag);
    value[s.tag] = s.value;
  }
  EXPECT_EQ(tags, (std::vector<std::string>{"loss/total", "loss/seg", "loss/aux0", "train/lr", "train/images_per_s",
                                            "train/loss_scale", "val/miou", "val/pixel_acc", "val_iou/road",
                                            "val_iou/car", "val_iou/sky"}));
  EXPECT_EQ(value["loss/total"], 1.5f);
  EXPECT_EQ(value["loss/aux0"], 0.5f);
  EXPECT_EQ(value["train/lr"], 0.01f);
  EXPECT_EQ(value["train/images_per_s"], 12.5f);
  EXPECT_EQ(value["train/loss_scale"], 1024.0f);
  EXPECT_EQ(value["val/pixel_acc"], 0.75f);
  EXPECT_EQ(value["val_iou/road"], 0.75f);
  EXPECT_EQ(value["val/miou"], static_cast<float>(0.75 / 2));
  EXPECT_TRUE(std::isnan(value["val_iou/sky"]));  // absent from labels and predictions: null in metrics.jsonl
  fs::remove_all(dir);
}

TEST(RunReport, LineChartFollowsThePoints) {
  // Falling then rising: the curve is low on the page in the middle.
  const ChartText text{"t", "x", "y"};
  const Tensor img = line_chart({{"", {{0, 3.0}, {5, 1.0}, {10, 2.5}}}}, text, 120, 200);
  ASSERT_EQ(img.shape(), Shape({120, 200, 3}));
  const double left = curve_row(img, 50), mid = curve_row(img, 111), right = curve_row(img, 172);
  ASSERT_GE(left, 0);
  ASSERT_GE(mid, 0);
  ASSERT_GE(right, 0);
  EXPECT_LT(left, mid);   // 3.0 is drawn above 1.0
  EXPECT_LT(right, mid);  // 2.5 too
  EXPECT_LT(left, right);
  // A fixed y range puts 0.5 half way between the y axis' ends (rows 36 and 80 at this size).
  const Tensor half = line_chart({{"", {{0, 0.5}, {1, 0.5}}}}, text, 120, 200, {0.0, 1.0});
  EXPECT_NEAR(curve_row(half, 120), (36 + 80) / 2.0, 1.0);
  EXPECT_THROW(line_chart({}, text, 120, 200), Error);
  EXPECT_THROW(line_chart({{"", {{0, std::nan("")}}}}, text, 120, 200), Error);
}

TEST(RunReport, ColourizeAndPredictionGrid) {
  Tensor ids = Tensor::empty({2, 3}, DType::i64);
  const int64_t v[] = {0, 1, 255, 7, 1, 0};
  std::copy(v, v + 6, ids.data<int64_t>());
  const Palette palette{{10, 20, 30}, {200, 100, 50}};
  const Tensor rgb = colourize(ids, palette);
  const uint8_t* p = rgb.data<uint8_t>();
  EXPECT_EQ(p[3 * 1 + 0], 200);  // class 1
  EXPECT_EQ(p[3 * 2 + 0] + p[3 * 2 + 1] + p[3 * 2 + 2], 0);  // ignored
  EXPECT_GT(p[3 * 3 + 0] + p[3 * 3 + 1] + p[3 * 3 + 2], 0);  // past the palette: a generated colour
  EXPECT_EQ(p[3 * 5 + 2], 30);

  // One normalised image: the first panel undoes mean/std.
  Tensor images = Tensor::empty({1, 3, 2, 3});
  for (int64_t i = 0; i < 18; ++i) images.data<float>()[i] = static_cast<float>(i % 5) * 0.3f - 0.5f;
  const std::vector<double> mean{0.5, 0.4, 0.3}, std{0.2, 0.25, 0.3};
  const Tensor labels = ids.unsqueeze(0), preds = ids.unsqueeze(0).clone();
  const Tensor grid = prediction_grid(images, labels, preds, mean, std, palette);
  ASSERT_EQ(grid.shape(), Shape({2, 3 * 3 + 4, 3}));
  const uint8_t* g = grid.data<uint8_t>();
  const int64_t W = grid.size(1);
  const double r = (images.data<float>()[4] * 0.2 + 0.5) * 255.0;  // channel 0 at (1, 1)
  EXPECT_NEAR(g[(1 * W + 1) * 3], r, 0.51);
  EXPECT_EQ(g[(0 * W + 3 + 2 + 1) * 3], 200);    // the label panel, class 1 at (0, 1)
  EXPECT_EQ(g[(0 * W + 2 * 5 + 1) * 3], 200);    // the prediction panel
  EXPECT_EQ(g[(0 * W + 3) * 3 + 1], 255);        // the white gap
}

TEST(RunReport, ReopeningKeepsRecordsUpToTheStep) {
  const fs::path dir = fresh_dir("reopen");
  {
    RunReport report(dir.string(), 0);
    for (int64_t s = 1; s <= 4; ++s) report.train_step(s, 2.0 / static_cast<double>(s), {{"seg", 1.0}}, 0.01, 8.5);
    ConfusionMatrix cm(2);
    Tensor pred = Tensor::zeros({1, 2, 2}, DType::i64), lab = Tensor::zeros({1, 2, 2}, DType::i64);
    lab.data<int64_t>()[3] = 1;
    cm.update(pred, lab);
    report.validation(2, cm, {"bg", "fg"});
  }
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << "{\"type\":\"train\",\"st";  // torn by a kill
  RunReport reopened(dir.string(), 2);
  const auto records = read_jsonl(dir / "metrics.jsonl");
  ASSERT_EQ(records.size(), 3u);  // steps 1, 2 and the validation at 2
  EXPECT_EQ(records[1]["step"], 2);
  EXPECT_DOUBLE_EQ(records[1]["loss"].get<double>(), 1.0);
  EXPECT_EQ(records[2]["type"], "val");
  EXPECT_NEAR(records[2]["miou"].get<double>(), (0.75 + 0.0) / 2, 1e-12);
  EXPECT_TRUE(records[2]["iou"]["fg"].is_number());
  EXPECT_NEAR(records[2]["pixel_acc"].get<double>(), 0.75, 1e-12);
  reopened.write_plots();
  EXPECT_TRUE(fs::exists(dir / "loss.png"));
  EXPECT_TRUE(fs::exists(dir / "miou.png"));
  EXPECT_TRUE(fs::exists(dir / "iou.png"));  // from the kept validation record
  // The reopened report logs to a second event file, which opens with a
  // restart at step 3: TensorBoard drops the first file's steps 3 and 4.
  std::vector<fs::path> events;
  for (const auto& e : fs::directory_iterator(dir / "tb")) events.push_back(e.path());
  std::sort(events.begin(), events.end());
  ASSERT_EQ(events.size(), 2u);
  std::ifstream in(events[1], std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string start = tfrecord(session_start_event(0, 3));
  // Skip the version record; compare the second past its wall time (bytes 12 + 1 .. 12 + 9).
  const size_t second = tfrecord(version_event(0)).size();
  ASSERT_GE(bytes.size(), second + start.size());
  EXPECT_EQ(bytes.substr(second + 21, start.size() - 25), start.substr(21, start.size() - 25));
  fs::remove_all(dir);
}

TEST(RunReport, ReportHtmlShowsChartsTableAndConfig) {
  const fs::path dir = fresh_dir("html");
  RunReport report(dir.string(), 0, Json{{"model", {{"name", "stdc"}}}, {"note", "<script>"}});
  for (int64_t s = 1; s <= 3; ++s)
    report.train_step(s, 1.0 / static_cast<double>(s), {{"seg", 0.5}, {"aux", 0.2}}, 0.01, 9);
  ConfusionMatrix cm(3);
  Tensor pred = Tensor::zeros({1, 2, 2}, DType::i64), lab = Tensor::zeros({1, 2, 2}, DType::i64);
  lab.data<int64_t>()[3] = 1;
  cm.update(pred, lab);
  report.validation(3, cm, {"road", "a<b", "sky"});
  report.predictions(3, Tensor::zeros({6, 9, 3}, DType::u8));
  report.write_plots();
  std::ifstream in(dir / "report.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto count = [&](const std::string& s) {
    size_t n = 0;
    for (size_t at = html.find(s); at != std::string::npos; at = html.find(s, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<img "), 4u);  // loss, validation, IoU per class, predictions
  EXPECT_EQ(count("src=\"data:image/png;base64,iVBORw0KGgo"), 4u);  // PNGs inlined
  EXPECT_EQ(count("<tr class=\"iou-row\">"), 3u);
  // Rows in the dataset's class order, names escaped, an absent class as n/a.
  const size_t road = html.find("<td>road</td>"), ab = html.find("<td>a&lt;b</td>"), sky = html.find("<td>sky</td>");
  ASSERT_NE(sky, std::string::npos);
  EXPECT_LT(road, ab);
  EXPECT_LT(ab, sky);
  EXPECT_NE(html.find("<td>sky</td><td class=\"num\">n/a</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>road</td><td class=\"num\">0.7500</td>"), std::string::npos);
  EXPECT_NE(html.find("<pre id=\"config\">"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);  // nothing to fetch
  EXPECT_NE(html.find("Model stdc."), std::string::npos);
  fs::remove_all(dir);
}

// Reopening rewrites metrics.jsonl and write_plots writes the charts through
// runtime/atomic_file.h: a failure is a cudaseg::Error naming the file, and no
// temporary is left beside it.
TEST(RunReport, RewritesAndPlotsGoThroughTheAtomicWriter) {
  const fs::path dir = fresh_dir("atomic");
  fs::create_directories(dir / "metrics.jsonl");  // a folder where the log belongs
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { RunReport(dir.string(), 0); },
                                                  {"metrics.jsonl", "cannot move the finished file"}));
  fs::remove_all(dir / "metrics.jsonl");
  RunReport report(dir.string(), 0);
  report.train_step(1, 1.0, {}, 0.01, 1.0);
  fs::create_directories(dir / "loss.png");
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { report.write_plots(); }, {"loss.png", "write_png"}));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"loss.png", "metrics.jsonl", "tb"}));
  fs::remove_all(dir);
}

TEST(RunReport, TrainerWritesMetricsPlotsAndPredictions) {
  const fs::path dir = fresh_dir("trainer");
  Json config = train_testing::toy_config();
  config["train"]["iters"] = 6;
  config["train"]["log_interval"] = 2;
  config["train"]["val_interval"] = 3;
  Trainer trainer(config, dir.string(), train_testing::toy_data(8, 3, 1));
  std::vector<std::string> lines;
  trainer.set_log([&](const std::string& l) { lines.push_back(l); });
  trainer.run();

  const auto records = read_jsonl(dir / "metrics.jsonl");
  std::vector<int64_t> train_steps, val_steps;
  for (const auto& r : records) {
    if (r["type"] == "train") {
      train_steps.push_back(r["step"]);
      EXPECT_GT(r["loss"].get<double>(), 0);
      EXPECT_TRUE(r["terms"]["seg"].is_number());
      EXPECT_GT(r["lr"].get<double>(), 0);
      EXPECT_GT(r["images_per_s"].get<double>(), 0);
    } else {
      ASSERT_EQ(r["type"], "val");
      val_steps.push_back(r["step"]);
      EXPECT_GE(r["miou"].get<double>(), 0);
      EXPECT_GE(r["pixel_acc"].get<double>(), 0);
      EXPECT_EQ(r["iou"].size(), 3u);
      EXPECT_TRUE(r["iou"].contains("red"));
    }
  }
  EXPECT_EQ(train_steps, (std::vector<int64_t>{2, 4, 6}));
  EXPECT_EQ(val_steps, (std::vector<int64_t>{3, 6}));
  // The per-class IoU table is printed at each validation.
  int tables = 0;
  for (const auto& l : lines) tables += l.find("val step") != std::string::npos && l.find("blue") != std::string::npos;
  EXPECT_EQ(tables, 2);

  EXPECT_EQ(read_image((dir / "loss.png").string()).shape(), Shape({360, 640, 3}));
  EXPECT_EQ(read_image((dir / "miou.png").string()).shape(), Shape({360, 640, 3}));
  EXPECT_EQ(read_image((dir / "iou.png").string()).shape()[1], 640);
  EXPECT_TRUE(fs::exists(dir / "report.html"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "tb"), fs::directory_iterator()), 1);
  // Three 12x12 validation samples: rows of image | label | prediction.
  EXPECT_EQ(read_image((dir / "val_predictions.png").string()).shape(), Shape({3 * 12 + 2 * 2, 3 * 12 + 2 * 2, 3}));
  fs::remove_all(dir);
}
