// Where the trainer draws its batches from. A BatchSource hands out batches
// endlessly (epoch after epoch) and reports a position that training
// checkpoints save, so a resumed run sees exactly the batches an
// uninterrupted one would. LoaderBatches adapts the loader (train/loader.h).
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "train/loader.h"

namespace cudaseg::train {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual Batch next() = 0;
  // The position (a JSON object) and its restore.
  virtual nlohmann::json state() const = 0;
  virtual void set_state(const nlohmann::json& state) = 0;
  virtual int64_t epoch() const = 0;
};

class LoaderBatches : public BatchSource {
 public:
  explicit LoaderBatches(std::shared_ptr<Loader> loader);
  // The next batch, moving on to the next epoch at the end of one; throws
  // when an epoch holds no batch (fewer samples than a batch with drop_last).
  Batch next() override;
  // {"epoch": e, "batch": b}: the batch next() returns next.
  nlohmann::json state() const override;
  void set_state(const nlohmann::json& state) override;
  int64_t epoch() const override { return loader_->position().epoch; }

 private:
  std::shared_ptr<Loader> loader_;
};

}  // namespace cudaseg::train
