// What a run leaves for a person to read, under the run folder:
//   metrics.jsonl         one JSON object a line, appended as the run goes:
//                         {"type":"train","step":s,"loss":l,"terms":{"seg":..},"lr":r,"images_per_s":v}
//                         {"type":"val","step":s,"miou":m,"pixel_acc":a,"iou":{"<class>":v|null}}
//   loss.png              the training loss and each of its terms against the step
//   miou.png              validation mIoU and pixel accuracy against the step
//   iou.png               the latest validation's IoU per class, as bars
//   val_predictions.png   a few validation images, each row image | label |
//                         prediction in the dataset's palette (ignored pixels black)
//   report.html           one page that opens from the file system with no
//                         network: the charts and predictions inlined as data:
//                         URIs, the per-class IoU table, the resolved config
//   tb/events.out.tfevents.*  TensorBoard event files (train/tb_writer.h) with,
//                         per record of metrics.jsonl, the scalars
//                           loss/total, loss/<term>, train/lr, train/images_per_s,
//                           train/loss_scale (fp16 runs)
//                           val/miou, val/pixel_acc, val_iou/<class>
//                         (a null in metrics.jsonl is NaN here) and the image
//                         val/predictions; a reopened run first writes a
//                         SessionLog START at the step after its own, so
//                         TensorBoard drops what the earlier run logged past it.
// The charts are drawn by train/chart.h.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/tensor.h"
#include "train/chart.h"
#include "train/metrics.h"
#include "train/tb_writer.h"

namespace cudaseg::train {

using Palette = std::vector<std::array<uint8_t, 3>>;

// Class ids i64 [H, W] as u8 [H, W, 3]: class k in palette[k] (generated
// colours past the palette's end), `ignore_index` and other values black.
Tensor colourize(const Tensor& ids, const Palette& palette, int64_t ignore_index = 255);

// Rows of image | label | prediction, separated by 2-pixel white gaps:
// images f32 [N, 3, H, W] normalised with mean/std (undone for display),
// labels and predictions i64 [N, H, W].
Tensor prediction_grid(const Tensor& images, const Tensor& labels, const Tensor& predictions,
                       const std::vector<double>& mean, const std::vector<double>& std, const Palette& palette,
                       int64_t ignore_index = 255);

class RunReport {
 public:
  // Opens OUT/metrics.jsonl keeping the records of steps <= `step` (a
  // resumed run redoes the steps after its checkpoint; a torn last line of
  // a killed run is dropped) and the curves they hold, and starts a new
  // TensorBoard event file. `config`, the run's resolved config, is shown in report.html.
  RunReport(std::string out_dir, int64_t step, nlohmann::json config = nullptr);

  // `loss_scale`: fp16 runs' loss scale (train/grad_scaler.h), written as "loss_scale".
  void train_step(int64_t step, double loss, const std::vector<std::pair<std::string, double>>& terms, double lr,
                  double images_per_s, std::optional<double> loss_scale = std::nullopt);
  void validation(int64_t step, const ConfusionMatrix& confusion, const std::vector<std::string>& class_names);
  // A prediction_grid: written as val_predictions.png and logged as the image val/predictions.
  void predictions(int64_t step, const Tensor& grid);
  // Writes loss.png, miou.png and iou.png from the records so far (a chart
  // with nothing to show is skipped), then report.html.
  void write_plots() const;

 private:
  void append(const std::string& line);
  void add_train(const nlohmann::ordered_json& record);
  void add_val(const nlohmann::ordered_json& record);
  void write_html() const;

  std::string dir_, path_;
  nlohmann::json config_;
  std::vector<Series> loss_;  // the total, then each term in order of appearance
  Series miou_{"mIoU", {}}, pixel_acc_{"pixel accuracy", {}};
  nlohmann::ordered_json last_val_;  // the latest validation record (classes in the dataset's order); null before one
  std::unique_ptr<TbWriter> tb_;
};

}  // namespace cudaseg::train
