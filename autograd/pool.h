// Differentiable pooling (cudaseg::fn, the counterpart of torch's functional
// API): forward through ops/pool.h, backward through its *_backward kernels.
// Indices never require grad.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "ops/pool.h"
#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor max_pool2d(const Tensor& input, const ops::MaxPool2dParams& params);
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const ops::MaxPool2dParams& params);
// Differentiable in input only; the gradient gathers grad_output at the indices.
Tensor max_unpool2d(const Tensor& input, const Tensor& indices, std::array<int64_t, 2> output_size);
Tensor avg_pool2d(const Tensor& input, const ops::AvgPool2dParams& params);
Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> output_size);
Tensor adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> output_size);
std::pair<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& input, std::array<int64_t, 2> output_size);

}  // namespace cudaseg::fn
CUDASEG_API_END
