// The kernels of the activations (ops/activation.h): contiguous inputs,
// preallocated contiguous outputs. The constants of SELU and GELU live here
// so that the CPU and CUDA formulas read the same digits.
#pragma once

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

// The pointwise activations. `a` and `b` carry their scalar options:
// leaky_relu slope (a), elu/celu alpha (a), hardtanh min (a) and max (b).
enum class Activation {
  relu, leaky_relu, elu, celu, selu, gelu, gelu_tanh, silu, hardswish, hardsigmoid, hardtanh, sigmoid, tanh
};
struct ActivationArgs {
  Activation kind;
  double a = 0, b = 0;
};

constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluCubic = 0.044715;

// In place (x and out the same tensor) is allowed: the kernels are elementwise.
using ActivationFn = void(const ActivationArgs& args, const Tensor& x, const Tensor& out);
// grad_input = grad * f'(x), from the input x, except sigmoid and tanh,
// whose derivative comes from their output (passed as x).
using ActivationBackwardFn = void(const ActivationArgs& args, const Tensor& grad, const Tensor& x,
                                  const Tensor& grad_input);

// x [N, C, S] with weight [C] (or [1], shared): x > 0 ? x : w * x.
using PreluFn = void(const Tensor& x, const Tensor& weight, const Tensor& out);
// Either output may be undefined to skip it; grad_weight has the weight's shape.
using PreluBackwardFn = void(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& grad_input,
                             const Tensor& grad_weight);

// x [O, 2H, I] halved along dim 1 into a, b: out [O, H, I] = a * sigmoid(b).
using GluFn = void(const Tensor& x, const Tensor& out);
// grad [O, H, I] to grad_input [O, 2H, I].
using GluBackwardFn = void(const Tensor& grad, const Tensor& x, const Tensor& grad_input);

extern Kernel<ActivationFn> activation;
extern Kernel<ActivationBackwardFn> activation_backward;
extern Kernel<PreluFn> prelu;
extern Kernel<PreluBackwardFn> prelu_backward;
extern Kernel<GluFn> glu;
extern Kernel<GluBackwardFn> glu_backward;

}  // namespace cudaseg::ops::kernels
