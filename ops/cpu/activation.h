// CPU reference kernels of the activations (ops/activation.h). Arguments are
// validated and contiguous; outputs are preallocated contiguous tensors.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

// The pointwise activations. `a` and `b` carry their scalar options:
// leaky_relu slope (a), elu/celu alpha (a), hardtanh min (a) and max (b).
enum class Activation {
  relu, leaky_relu, elu, celu, selu, gelu, gelu_tanh, silu, hardswish, hardsigmoid, hardtanh, sigmoid, tanh
};
struct ActivationArgs {
  Activation kind;
  double a = 0, b = 0;
};

void activation(const ActivationArgs& args, const Tensor& x, const Tensor& out);
// grad_input = grad * f'(x), from the input x, except sigmoid and tanh,
// whose derivative comes from their output (passed as x).
void activation_backward(const ActivationArgs& args, const Tensor& grad, const Tensor& x, const Tensor& grad_input);

// x [N, C, S] with weight [C] (or [1], shared): x > 0 ? x : w * x.
void prelu(const Tensor& x, const Tensor& weight, const Tensor& out);
// grad_weight (undefined to skip) has the weight's shape.
void prelu_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& grad_input,
                    const Tensor& grad_weight);

}  // namespace cudaseg::ops::cpu
