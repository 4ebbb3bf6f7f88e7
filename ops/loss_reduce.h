// Internal to ops/loss*.cpp: applying a Reduction to per-element losses and
// turning dL/dloss back into the per-element upstream gradient of a kernel.
#pragma once

#include "ops/kernels/loss.h"
#include "ops/loss.h"

namespace cudaseg::ops::loss_detail {

// Throws unless `r` is one of the reductions `op` accepts.
void check_reduction(const char* op, Reduction r, bool allow_batchmean);
// The loss from per-element losses `l`: l itself, its sum, or the sum divided
// by l's element count ('mean') or by `batch` ('batchmean'); on CUDA a
// deterministic device sum.
Tensor reduce(const Tensor& l, Reduction r, int64_t batch);
// The kernels' view of dL/dloss for that reduction.
kernels::UpstreamGrad upstream(const Tensor& grad, Reduction r, int64_t numel, int64_t batch);

}  // namespace cudaseg::ops::loss_detail
