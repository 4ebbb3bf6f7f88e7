// Differentiable normalisations (cudaseg::fn): forward through ops/norm.h,
// backward through its *_backward kernels. Gradients flow to input, weight
// and bias; batch_norm's running statistics are buffers updated as a side
// effect in training mode and never differentiated.
#pragma once

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), bool training = false,
                  double momentum = 0.1, double eps = 1e-5);
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
Tensor layer_norm_channels(const Tensor& input, const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                           double eps = 1e-5);
Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
Tensor normalize(const Tensor& input, double p = 2.0, int64_t dim = 1, double eps = 1e-12);

}  // namespace cudaseg::fn
CUDASEG_API_END
