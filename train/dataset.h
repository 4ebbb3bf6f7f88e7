// The data interface of training: a dataset yields samples by index; the
// loader (train/loader.h) batches them with augmentation on worker threads.
#pragma once

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
  virtual std::string name() const = 0;
};

using DatasetPtr = std::shared_ptr<Dataset>;

}  // namespace cudaseg::train
