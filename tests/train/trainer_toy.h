// Fixtures of the training suite: a tiny segmentation net registered as
// "train_toy" and a synthetic dataset of coloured rectangles whose class is
// readable from the colour, so a few dozen steps raise mIoU.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "train/dataset.h"

namespace cudaseg::train_testing {

// Registers "train_toy" once: conv(kernel) -> BN -> ReLU -> [channel dropout]
// -> 1x1 head; use_aux adds a 1x1 head on the 2x-pooled features (an aux
// output at half resolution). Arguments: width (8), kernel (3), use_aux
// (false), dropout (0.0).
void register_toy_net();

// {"model": {"name": "train_toy", "num_classes": 3}, small fast settings}.
nlohmann::json toy_config();

// `size` images of h x w: a dark background (class 0), a red rectangle
// (class 1) and a blue one (class 2), with pixel noise; the top row is labelled 255.
class BlobsDataset : public train::Dataset {
 public:
  BlobsDataset(int64_t size, int64_t h, int64_t w, uint64_t seed) : size_(size), h_(h), w_(w), seed_(seed) {}
  int64_t size() const override { return size_; }
  train::Sample get(int64_t index) const override;
  int64_t num_classes() const override { return 3; }
  std::vector<std::string> class_names() const override { return {"background", "red", "blue"}; }
  std::string name() const override { return "blobs"; }

 private:
  int64_t size_, h_, w_;
  uint64_t seed_;
};

}  // namespace cudaseg::train_testing
