// What a run leaves for a person to read, under the run folder:
//   metrics.jsonl         one JSON object a line, appended as the run goes:
//                         {"type":"train","step":s,"loss":l,"terms":{"seg":..},"lr":r,"images_per_s":v}
//                         {"type":"val","step":s,"miou":m,"pixel_acc":a,"iou":{"<class>":v|null}}
//   loss.png, miou.png    line charts of the training loss and the validation
//                         mIoU against the step (x: first to last step; y:
//                         min to max of the values, mIoU from 0 to 1)
//   val_predictions.png   a few validation images, each row image | label |
//                         prediction in the dataset's palette (ignored pixels black)
// The charts are drawn here (no plotting library): axes, grid lines, a
// polyline, and the axes' end values in a 3x5 pixel font.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"
#include "train/metrics.h"

namespace cudaseg::train {

using Palette = std::vector<std::array<uint8_t, 3>>;

// A chart of (x, y) points (at least one, finite) as u8 [height, width, 3]
// (height, width >= 32). `y_range`, when min < max, fixes the y axis.
Tensor line_chart(const std::vector<std::array<double, 2>>& points, int64_t height, int64_t width,
                  std::array<double, 2> y_range = {0, 0});

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
  // a killed run is dropped) and the curves they hold.
  RunReport(std::string out_dir, int64_t step);

  // `loss_scale`: fp16 runs' loss scale (train/grad_scaler.h), written as "loss_scale".
  void train_step(int64_t step, double loss, const std::vector<std::pair<std::string, double>>& terms, double lr,
                  double images_per_s, std::optional<double> loss_scale = std::nullopt);
  void validation(int64_t step, const ConfusionMatrix& confusion, const std::vector<std::string>& class_names);
  // Writes loss.png and miou.png from the curves so far (a curve with no point is skipped).
  void write_plots() const;

 private:
  void append(const std::string& line);

  std::string dir_, path_;
  std::vector<std::array<double, 2>> loss_, miou_;
};

}  // namespace cudaseg::train
