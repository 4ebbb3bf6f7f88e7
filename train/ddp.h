// Data-parallel gradient averaging, as torch's DistributedDataParallel
// reducer: the parameters are split into buckets of about 25 MB in reverse
// order (the order the backward produces their gradients); the autograd
// tape reports each parameter whose gradient is complete
// (autograd::GradReadyHook), and a bucket whose every gradient is complete
// starts its sum over the ranks at once (buckets start in order, so every
// rank issues the same collectives in the same order), overlapping the rest
// of the backward. finish() starts what is left, waits, and writes
// sum / world into each .grad(). A parameter without a gradient in this
// backward (the same on every rank: the ranks run the same graph) contributes
// zeros to its bucket and keeps no gradient, as in one process.
#pragma once

#include <cstddef>
#include <memory>
#include <unordered_map>
#include <vector>

#include "train/dist.h"
#include "train/optim.h"

namespace cudaseg::nn {
class Module;
}

namespace cudaseg::train {

class GradReducer {
 public:
  static constexpr size_t kBucketBytes = size_t{25} << 20;

  GradReducer(const std::vector<OptimParam>& params, dist::Communicator& comm, size_t bucket_bytes = kBucketBytes);
  ~GradReducer();

  // Runs `backward` with the tape's gradient reports routed here, then finish().
  template <typename F>
  void backward(F&& backward);
  // Called by the tape when `leaf`'s gradient of this backward is complete.
  void ready(const Tensor& leaf);
  // Starts the buckets not started yet, waits for all, averages into .grad().
  void finish();

  size_t bucket_count() const { return buckets_.size(); }

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into params_
    int64_t numel = 0;
    size_t waiting = 0;  // members whose gradient is not complete yet
    Tensor flat;
    std::unique_ptr<dist::Pending> pending;
  };
  void begin();
  void start(Bucket& bucket);

  std::vector<Tensor> params_;
  dist::Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const void*, size_t> index_;  // TensorImpl -> param
  std::vector<size_t> bucket_of_;
  size_t next_start_ = 0;
};

// Overwrites every parameter and buffer of `module` with rank `root`'s
// (the ranks start from the same weights; BatchNorm statistics, which each
// rank updates from its own batches without sync_bn, agree before an
// evaluation).
void broadcast_state(nn::Module& module, dist::Communicator& comm, int root = 0);

}  // namespace cudaseg::train

#include "autograd/engine.h"

template <typename F>
void cudaseg::train::GradReducer::backward(F&& backward) {
  begin();
  {
    autograd::GradReadyHook hook([this](const Tensor& leaf) { ready(leaf); });
    backward();
  }
  finish();
}
