// The data interface of training: a dataset yields samples by index; the
// loader (train/loader.h) batches them with augmentation on worker threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace cudaseg::train {

// One decoded sample before augmentation: image u8 [H, W, 3] (RGB), label
// i64 [H, W] with class ids in [0, num_classes) or the ignore index.
struct Sample {
  Tensor image;
  Tensor label;
  std::string id;  // file stem or synthetic index, for logs and outputs
};

// A training or validation batch after augmentation and normalisation:
// images f32 [N, 3, H, W], labels i64 [N, H, W].
struct Batch {
  Tensor images;
  Tensor labels;
  std::vector<std::string> ids;
  // Only with a multi-resolution pair (distillation): the same crops at the
  // teacher's size, f32 [N, 3, Ht, Wt] and i64 [N, Ht, Wt]; `images` and
  // `labels` then hold the student's size.
  Tensor teacher_images;
  Tensor teacher_labels;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Sample `index` (0 <= index < size()); deterministic for a given index.
  virtual Sample get(int64_t index) const = 0;
  virtual int64_t num_classes() const = 0;
  virtual int64_t ignore_index() const { return 255; }
  virtual std::vector<std::string> class_names() const { return {}; }
  // One RGB colour per class for visualisation; empty when the dataset has none.
  virtual std::vector<std::array<uint8_t, 3>> palette() const { return {}; }
  virtual std::string name() const = 0;
};

using DatasetPtr = std::shared_ptr<Dataset>;

}  // namespace cudaseg::train
