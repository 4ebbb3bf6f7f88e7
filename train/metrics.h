// Segmentation metrics over a confusion matrix accumulated across a whole
// validation set (torchmetrics' multiclass JaccardIndex as zh320 uses it):
// per-class IoU = TP / (TP + FP + FN), mIoU their mean, pixel accuracy.
// Pixels labelled ignore_index are skipped. A class that appears neither in
// the labels nor in the predictions has no IoU (NaN) and is left out of the
// mean rather than counted as 0, so a subset of classes is scored fairly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::train {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t num_classes, int64_t ignore_index = 255);

  // Counts predictions (i64 [N, H, W] class ids) against labels of the same
  // shape. A label outside [0, C) that is not ignore_index is an error.
  void update(const Tensor& predictions, const Tensor& labels);
  // Argmax over dim 1 of logits [N, C, H, W], then update().
  void update_logits(const Tensor& logits, const Tensor& labels);
  void reset();
  // Adds the counts of a matrix of the same size.
  void merge(const ConfusionMatrix& other);

  int64_t num_classes() const { return num_classes_; }
  // count(label, prediction)
  int64_t count(int64_t label, int64_t prediction) const;
  int64_t total() const;
  // The counts, row = label, column = prediction: data-parallel validation sums them over the ranks.
  std::vector<int64_t>& counts() { return counts_; }

  std::vector<double> iou() const;  // NaN for absent classes
  double miou() const;              // mean over classes with an IoU; NaN when none
  double pixel_accuracy() const;    // correct / counted; NaN when nothing counted
  // One line per class: name (or index), IoU in percent, pixel count; then mIoU and accuracy.
  std::string table(const std::vector<std::string>& class_names = {}) const;

 private:
  int64_t num_classes_;
  int64_t ignore_index_;
  std::vector<int64_t> counts_;  // row = label, column = prediction
};

}  // namespace cudaseg::train
