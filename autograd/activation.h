// Differentiable activations (cudaseg::fn): forward through ops/activation.h,
// backward through its *_backward kernels, which carry PyTorch's conventions
// at the kinks (see ops/activation.h).
#pragma once

#include <string>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor relu(const Tensor& input);
Tensor relu6(const Tensor& input);
Tensor leaky_relu(const Tensor& input, double negative_slope = 0.01);
Tensor prelu(const Tensor& input, const Tensor& weight);
Tensor elu(const Tensor& input, double alpha = 1.0);
Tensor celu(const Tensor& input, double alpha = 1.0);
Tensor selu(const Tensor& input);
Tensor gelu(const Tensor& input, const std::string& approximate = "none");
Tensor silu(const Tensor& input);
Tensor hardswish(const Tensor& input);
Tensor hardsigmoid(const Tensor& input);
Tensor hardtanh(const Tensor& input, double min_val = -1.0, double max_val = 1.0);
Tensor sigmoid(const Tensor& input);
Tensor tanh(const Tensor& input);
Tensor glu(const Tensor& input, int64_t dim = -1);

}  // namespace cudaseg::fn
CUDASEG_API_END
