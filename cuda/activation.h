// CUDA twins of ops/cpu's activation kernels (ops/cpu/activation.h), taking
// the same ActivationArgs: contiguous inputs, preallocated contiguous outputs.
#pragma once

#include "ops/cpu/activation.h"
#include "runtime/tensor.h"

namespace cudaseg::cuda {

using ops::cpu::Activation;
using ops::cpu::ActivationArgs;

void activation(const ActivationArgs& args, const Tensor& x, const Tensor& out);
// grad_input = grad * f'(x); for sigmoid and tanh x is the forward's output.
void activation_backward(const ActivationArgs& args, const Tensor& grad, const Tensor& x, const Tensor& grad_input);

// x [N, C, S] with weight [C] (or [1], shared): x > 0 ? x : w * x.
void prelu(const Tensor& x, const Tensor& weight, const Tensor& out);
// Either output may be undefined to skip it; grad_weight has the weight's shape.
void prelu_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& grad_input,
                    const Tensor& grad_weight);

// x [O, 2H, I] halved along dim 1 into a, b: out [O, H, I] = a * sigmoid(b).
void glu(const Tensor& x, const Tensor& out);
// grad [O, H, I] to grad_input [O, 2H, I].
void glu_backward(const Tensor& grad, const Tensor& x, const Tensor& grad_input);

}  // namespace cudaseg::cuda
