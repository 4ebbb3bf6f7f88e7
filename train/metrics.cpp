#include "train/metrics.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "ops/ops.h"
#include "runtime/error.h"

namespace cudaseg::train {

ConfusionMatrix::ConfusionMatrix(int64_t num_classes, int64_t ignore_index)
    : num_classes_(num_classes), ignore_index_(ignore_index) {
  CUDASEG_CHECK(num_classes > 0, "ConfusionMatrix: num_classes must be positive, got ", num_classes);
  counts_.assign(static_cast<size_t>(num_classes * num_classes), 0);
}

void ConfusionMatrix::update(const Tensor& predictions, const Tensor& labels) {
  CUDASEG_CHECK(predictions.shape() == labels.shape(), "ConfusionMatrix: predictions ",
                shape_str(predictions.shape()), " and labels ", shape_str(labels.shape()), " differ in shape");
  const Tensor p = predictions.to(Device::cpu(), DType::i64).contiguous();
  const Tensor l = labels.to(Device::cpu(), DType::i64).contiguous();
  const int64_t* pd = p.data<int64_t>();
  const int64_t* ld = l.data<int64_t>();
  for (int64_t i = 0; i < l.numel(); ++i) {
    const int64_t t = ld[i];
    if (t == ignore_index_) continue;
    CUDASEG_CHECK(t >= 0 && t < num_classes_, "ConfusionMatrix: label ", t, " outside [0, ", num_classes_,
                  ") and not the ignore index ", ignore_index_);
    CUDASEG_CHECK(pd[i] >= 0 && pd[i] < num_classes_, "ConfusionMatrix: prediction ", pd[i], " outside [0, ",
                  num_classes_, ")");
    ++counts_[static_cast<size_t>(t * num_classes_ + pd[i])];
  }
}

void ConfusionMatrix::update_logits(const Tensor& logits, const Tensor& labels) {
  CUDASEG_CHECK(logits.dim() == 4 && logits.size(1) == num_classes_, "ConfusionMatrix: logits must be [N, ",
                num_classes_, ", H, W], got ", shape_str(logits.shape()));
  update(ops::argmax(logits, 1), labels);
}

void ConfusionMatrix::reset() { std::fill(counts_.begin(), counts_.end(), 0); }

void ConfusionMatrix::merge(const ConfusionMatrix& other) {
  CUDASEG_CHECK(other.num_classes_ == num_classes_, "ConfusionMatrix::merge: ", other.num_classes_,
                " classes into ", num_classes_);
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
}

int64_t ConfusionMatrix::count(int64_t label, int64_t prediction) const {
  CUDASEG_CHECK(label >= 0 && label < num_classes_ && prediction >= 0 && prediction < num_classes_,
                "ConfusionMatrix::count: (", label, ", ", prediction, ") outside ", num_classes_, " classes");
  return counts_[static_cast<size_t>(label * num_classes_ + prediction)];
}

int64_t ConfusionMatrix::total() const {
  int64_t s = 0;
  for (int64_t c : counts_) s += c;
  return s;
}

std::vector<double> ConfusionMatrix::iou() const {
  std::vector<double> out(static_cast<size_t>(num_classes_));
  for (int64_t c = 0; c < num_classes_; ++c) {
    int64_t row = 0, col = 0;
    for (int64_t k = 0; k < num_classes_; ++k) {
      row += count(c, k);
      col += count(k, c);
    }
    const int64_t tp = count(c, c);
    const int64_t uni = row + col - tp;
    out[static_cast<size_t>(c)] =
        uni == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(tp) / static_cast<double>(uni);
  }
  return out;
}

double ConfusionMatrix::miou() const {
  double sum = 0;
  int n = 0;
  for (double v : iou()) {
    if (std::isnan(v)) continue;
    sum += v;
    ++n;
  }
  return n == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / n;
}

double ConfusionMatrix::pixel_accuracy() const {
  int64_t correct = 0;
  for (int64_t c = 0; c < num_classes_; ++c) correct += count(c, c);
  const int64_t t = total();
  return t == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(correct) / static_cast<double>(t);
}

std::string ConfusionMatrix::table(const std::vector<std::string>& class_names) const {
  std::string out;
  char line[160];
  const std::vector<double> ious = iou();
  for (int64_t c = 0; c < num_classes_; ++c) {
    const std::string name = static_cast<size_t>(c) < class_names.size() ? class_names[static_cast<size_t>(c)]
                                                                          : std::to_string(c);
    int64_t pixels = 0;
    for (int64_t k = 0; k < num_classes_; ++k) pixels += count(c, k);
    const double v = ious[static_cast<size_t>(c)];
    if (std::isnan(v)) {
      std::snprintf(line, sizeof line, "%-16s %7s %12lld\n", name.c_str(), "n/a", static_cast<long long>(pixels));
    } else {
      std::snprintf(line, sizeof line, "%-16s %6.2f%% %12lld\n", name.c_str(), 100.0 * v,
                    static_cast<long long>(pixels));
    }
    out += line;
  }
  std::snprintf(line, sizeof line, "%-16s %6.2f%%\n%-16s %6.2f%%\n", "mIoU", 100.0 * miou(), "pixel acc",
                100.0 * pixel_accuracy());
  return out + line;
}

}  // namespace cudaseg::train
