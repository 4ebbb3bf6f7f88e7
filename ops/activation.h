// Activations as pure tensor functions, forward and backward, with
// torch.nn.functional's names, options and defaults. Outputs are new
// contiguous tensors; inputs may be any strided view.
//
// Each *_backward returns grad_output * f'(input). At the points where f is
// not differentiable they follow PyTorch: relu'(0) = 0; leaky_relu, prelu,
// elu, celu and selu take their negative branch at 0; hardtanh (and relu6 =
// hardtanh(0, 6)) and hardsigmoid have zero slope at their corners;
// hardswish has slope x/3 + 1/2 on the closed interval [-3, 3].
#pragma once

#include <string>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

Tensor relu(const Tensor& input);
Tensor relu6(const Tensor& input);
Tensor leaky_relu(const Tensor& input, double negative_slope = 0.01);
// weight: one element shared by all channels, or one per channel of dim 1.
Tensor prelu(const Tensor& input, const Tensor& weight);
Tensor elu(const Tensor& input, double alpha = 1.0);
Tensor celu(const Tensor& input, double alpha = 1.0);
Tensor selu(const Tensor& input);
// approximate: "none" (exact, with erf) or "tanh".
Tensor gelu(const Tensor& input, const std::string& approximate = "none");
Tensor silu(const Tensor& input);
Tensor hardswish(const Tensor& input);
Tensor hardsigmoid(const Tensor& input);
Tensor hardtanh(const Tensor& input, double min_val = -1.0, double max_val = 1.0);
Tensor sigmoid(const Tensor& input);
Tensor tanh(const Tensor& input);
// Splits input in halves a, b along dim (of even size): a * sigmoid(b).
Tensor glu(const Tensor& input, int64_t dim = -1);

Tensor relu_backward(const Tensor& grad_output, const Tensor& input);
Tensor relu6_backward(const Tensor& grad_output, const Tensor& input);
Tensor leaky_relu_backward(const Tensor& grad_output, const Tensor& input, double negative_slope = 0.01);
struct PreluGrads {
  Tensor input, weight;
};
// Gradients for input and weight; either is undefined when not requested.
PreluGrads prelu_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                          bool need_input = true, bool need_weight = true);
Tensor elu_backward(const Tensor& grad_output, const Tensor& input, double alpha = 1.0);
Tensor celu_backward(const Tensor& grad_output, const Tensor& input, double alpha = 1.0);
Tensor selu_backward(const Tensor& grad_output, const Tensor& input);
Tensor gelu_backward(const Tensor& grad_output, const Tensor& input, const std::string& approximate = "none");
Tensor silu_backward(const Tensor& grad_output, const Tensor& input);
Tensor hardswish_backward(const Tensor& grad_output, const Tensor& input);
Tensor hardsigmoid_backward(const Tensor& grad_output, const Tensor& input);
Tensor hardtanh_backward(const Tensor& grad_output, const Tensor& input, double min_val = -1.0,
                         double max_val = 1.0);
// As in PyTorch, these two take the forward's OUTPUT, from which the
// derivative is cheaper: sigma' = y (1 - y), tanh' = 1 - y^2.
Tensor sigmoid_backward(const Tensor& grad_output, const Tensor& output);
Tensor tanh_backward(const Tensor& grad_output, const Tensor& output);
Tensor glu_backward(const Tensor& grad_output, const Tensor& input, int64_t dim = -1);

}  // namespace cudaseg::ops
CUDASEG_API_END
