// Batch normalisation over the joint batch of data-parallel ranks, with the
// maths of torch.nn.SyncBatchNorm. nn/ knows no communicator: the trainer
// opens a SyncBatchNormGuard with a function that sums a tensor over the
// ranks in place, and every training-mode BatchNorm2d on that thread then
// reduces its statistics through it, in the forward and in the backward.
//
// Forward: the per-channel sum and element count are summed over the ranks
// (giving the global mean), then the sum of squared deviations from that
// mean (giving the biased variance); two reductions rather than one of sum
// and sum of squares, so the variance has the cancellation-free precision of
// a single process's two-pass kernel. Running statistics use the unbiased
// variance of the global count. Backward: sum(dy) and sum(dy * (x - mean))
// are summed over the ranks for the input gradient; the weight and bias
// gradients stay local (the data-parallel gradient average then makes them
// global), exactly as torch's.
#pragma once

#include <functional>

#include "runtime/tensor.h"

namespace cudaseg::nn {

// Sums a contiguous float64 CPU tensor over the ranks, in place. Every rank
// must make the same calls in the same order.
using AllReduceSum = std::function<void(Tensor&)>;

class SyncBatchNormGuard {
 public:
  explicit SyncBatchNormGuard(AllReduceSum all_reduce_sum);
  ~SyncBatchNormGuard();
  SyncBatchNormGuard(const SyncBatchNormGuard&) = delete;
  SyncBatchNormGuard& operator=(const SyncBatchNormGuard&) = delete;

 private:
  AllReduceSum previous_;
};
// The reducer of the innermost guard on this thread; null outside one.
const AllReduceSum* batch_norm_sync();

// Training-mode batch norm of `x` [N, C, *] over every rank's batch;
// `running_mean`/`running_var` (undefined: not tracked) are updated in place.
Tensor sync_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, double momentum, double eps, const AllReduceSum& all_reduce_sum);

}  // namespace cudaseg::nn
