// How the trainer gets its data: samples normalised into network inputs, and
// the BatchSource interface the loop draws from, whose position is saved in
// training checkpoints so a resumed run sees exactly the batches an
// uninterrupted one would. ShuffledBatches is the plain source (reshuffle per
// epoch, drop the last partial batch, no augmentation).
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/dataset.h"
#include "weights/checkpoint.h"

namespace cudaseg::train {

// Images u8 [H, W, 3] of equal size -> f32 [N, 3, H, W] as
// (pixel * scale - mean) / std; labels stacked into i64 [N, H, W].
Batch collate(const std::vector<Sample>& samples, const weights::Preprocess& preprocess);

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual Batch next() = 0;
  // The position (JSON object) and its restore.
  virtual nlohmann::json state() const = 0;
  virtual void set_state(const nlohmann::json& state) = 0;
  virtual int64_t epoch() const = 0;
};

class ShuffledBatches : public BatchSource {
 public:
  // Throws when the dataset holds fewer samples than one batch.
  ShuffledBatches(DatasetPtr dataset, int64_t batch_size, uint64_t seed, weights::Preprocess preprocess);
  Batch next() override;
  nlohmann::json state() const override;
  void set_state(const nlohmann::json& state) override;
  int64_t epoch() const override { return epoch_; }

 private:
  void shuffle();

  DatasetPtr dataset_;
  int64_t batch_size_;
  uint64_t seed_;
  weights::Preprocess preprocess_;
  int64_t epoch_ = 0;
  int64_t index_ = 0;  // next position in order_
  std::vector<int64_t> order_;
};

}  // namespace cudaseg::train
