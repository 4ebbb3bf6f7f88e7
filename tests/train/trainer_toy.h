// Fixtures of the training suite: a tiny segmentation net registered as
// "train_toy" and a synthetic dataset of coloured rectangles whose class is
// readable from the colour, so a few dozen steps raise mIoU.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "train/dataset.h"
#include "train/loader.h"
#include "train/trainer.h"

namespace cudaseg::train_testing {

// Registers "train_toy" once: conv(kernel) -> BN -> ReLU -> [channel dropout]
// -> 1x1 head; use_aux adds a 1x1 head on the 2x-pooled features (an aux
// output at half resolution). Arguments: width (8), kernel (3), use_aux
// (false), dropout (0.0).
void register_toy_net();

// {"model": {"name": "train_toy", "num_classes": 3}, small fast settings}.
nlohmann::json toy_config();

// A loader over `data`: shuffled with a flip augmentation for training,
// in order with plain normalisation for validation (batch 1).
std::shared_ptr<train::Loader> toy_loader(train::DatasetPtr data, bool training, int64_t batch_size = 4,
                                          uint64_t seed = 1, int workers = 0);
// Train and val loaders over BlobsDataset(n_train) and BlobsDataset(n_val) (none when n_val is 0).
train::TrainData toy_data(int64_t n_train, int64_t n_val, uint64_t seed, int workers = 0);

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
