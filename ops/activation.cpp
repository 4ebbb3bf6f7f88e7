#include "ops/activation.h"

#include "ops/common.h"
#include "ops/kernels/activation.h"

namespace cudaseg::ops {

Kernel<kernels::ActivationFn> kernels::activation("activation");
Kernel<kernels::ActivationBackwardFn> kernels::activation_backward("activation_backward");
Kernel<kernels::PreluFn> kernels::prelu("prelu");
Kernel<kernels::PreluBackwardFn> kernels::prelu_backward("prelu_backward");
Kernel<kernels::GluFn> kernels::glu("glu");
Kernel<kernels::GluBackwardFn> kernels::glu_backward("glu_backward");

namespace {

using kernels::Activation;
using kernels::ActivationArgs;

Tensor unary(const char* op, const ActivationArgs& args, const Tensor& input) {
  check_float(op, "input", input);
  Tensor out = Tensor::empty(input.shape(), input.dtype(), input.device());
  kernels::activation(input.device(), args, input.contiguous(), out);
  return out;
}

void check_grad(const char* op, const Tensor& grad, const char* arg, const Tensor& t) {
  check_defined(op, "grad_output", grad);
  check_float(op, arg, t);
  check_same_device(op, {{arg, &t}, {"grad_output", &grad}});
  check_same_dtype(op, {{arg, &t}, {"grad_output", &grad}});
  CUDASEG_CHECK(grad.shape() == t.shape(), op, ": grad_output ", shape_str(grad.shape()), " differs from ", arg,
                " ", shape_str(t.shape()));
}

Tensor unary_backward(const char* op, const ActivationArgs& args, const Tensor& grad, const Tensor& input,
                      const char* arg = "input") {
  check_grad(op, grad, arg, input);
  Tensor out = Tensor::empty(input.shape(), input.dtype(), input.device());
  kernels::activation_backward(input.device(), args, grad.contiguous(), input.contiguous(), out);
  return out;
}

ActivationArgs gelu_args(const char* op, const std::string& approximate) {
  CUDASEG_CHECK(approximate == "none" || approximate == "tanh", op,
                ": approximate must be 'none' or 'tanh', got '", approximate, "'");
  return {approximate == "none" ? Activation::gelu : Activation::gelu_tanh};
}

ActivationArgs hardtanh_args(const char* op, double min_val, double max_val) {
  CUDASEG_CHECK(min_val <= max_val, op, ": min_val ", min_val, " must not exceed max_val ", max_val);
  return {Activation::hardtanh, min_val, max_val};
}

ActivationArgs celu_args(const char* op, double alpha) {
  CUDASEG_CHECK(alpha != 0, op, ": alpha must be nonzero (it divides the input)");
  return {Activation::celu, alpha};
}

// input [N, C, *] (or a lower rank, with one channel) as [N, C, S].
Tensor prelu_view(const Tensor& input) {
  if (input.dim() < 2) return input.contiguous().view({1, 1, input.numel()});
  return input.contiguous().view({input.size(0), input.size(1), input.numel() / std::max<int64_t>(1, input.size(0) * input.size(1))});
}

void check_prelu(const char* op, const Tensor& input, const Tensor& weight) {
  check_float(op, "input", input);
  check_float(op, "weight", weight);
  check_same_device(op, {{"input", &input}, {"weight", &weight}});
  check_same_dtype(op, {{"input", &input}, {"weight", &weight}});
  const int64_t channels = input.dim() >= 2 ? input.size(1) : 1;
  CUDASEG_CHECK(weight.dim() <= 1 && (weight.numel() == 1 || weight.numel() == channels), op, ": weight ",
                shape_str(weight.shape()), " must have 1 element or one per channel of input ",
                shape_str(input.shape()), " (", channels, " channels)");
}

int64_t glu_dim(const char* op, const Tensor& input, int64_t dim) {
  check_float(op, "input", input);
  CUDASEG_CHECK(input.dim() > 0, op, ": a 0-dim input cannot be halved");
  const int64_t d = wrap_dim(dim, input.dim(), op);
  CUDASEG_CHECK(input.size(d) % 2 == 0, op, ": halving dim ", dim, " must be of even size, but input ",
                shape_str(input.shape()), " has ", input.size(d));
  return d;
}

// input as a contiguous [outer, size(dim), inner] view.
Tensor around_dim(const Tensor& input, int64_t dim) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= input.size(d);
  for (int64_t d = dim + 1; d < input.dim(); ++d) inner *= input.size(d);
  return input.contiguous().view({outer, input.size(dim), inner});
}

}  // namespace

Tensor relu(const Tensor& input) { return unary("relu", {Activation::relu}, input); }
Tensor relu6(const Tensor& input) { return unary("relu6", {Activation::hardtanh, 0.0, 6.0}, input); }
Tensor leaky_relu(const Tensor& input, double negative_slope) {
  return unary("leaky_relu", {Activation::leaky_relu, negative_slope}, input);
}
Tensor elu(const Tensor& input, double alpha) { return unary("elu", {Activation::elu, alpha}, input); }
Tensor celu(const Tensor& input, double alpha) { return unary("celu", celu_args("celu", alpha), input); }
Tensor selu(const Tensor& input) { return unary("selu", {Activation::selu}, input); }
Tensor gelu(const Tensor& input, const std::string& approximate) {
  return unary("gelu", gelu_args("gelu", approximate), input);
}
Tensor silu(const Tensor& input) { return unary("silu", {Activation::silu}, input); }
Tensor hardswish(const Tensor& input) { return unary("hardswish", {Activation::hardswish}, input); }
Tensor hardsigmoid(const Tensor& input) { return unary("hardsigmoid", {Activation::hardsigmoid}, input); }
Tensor hardtanh(const Tensor& input, double min_val, double max_val) {
  return unary("hardtanh", hardtanh_args("hardtanh", min_val, max_val), input);
}
Tensor sigmoid(const Tensor& input) { return unary("sigmoid", {Activation::sigmoid}, input); }
Tensor tanh(const Tensor& input) { return unary("tanh", {Activation::tanh}, input); }

Tensor prelu(const Tensor& input, const Tensor& weight) {
  check_prelu("prelu", input, weight);
  const Tensor x = prelu_view(input);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::prelu(x.device(), x, weight.contiguous(), out);
  return out.view(input.shape());
}

Tensor glu(const Tensor& input, int64_t dim) {
  const int64_t d = glu_dim("glu", input, dim);
  const int64_t half = input.size(d) / 2;
  const Tensor x = around_dim(input, d);
  Shape shape = input.shape();
  shape[d] = half;
  Tensor out = Tensor::empty(shape, input.dtype(), input.device());
  kernels::glu(x.device(), x, out.view({x.size(0), half, x.size(2)}));
  return out;
}

Tensor relu_backward(const Tensor& g, const Tensor& input) {
  return unary_backward("relu_backward", {Activation::relu}, g, input);
}
Tensor relu6_backward(const Tensor& g, const Tensor& input) {
  return unary_backward("relu6_backward", {Activation::hardtanh, 0.0, 6.0}, g, input);
}
Tensor leaky_relu_backward(const Tensor& g, const Tensor& input, double negative_slope) {
  return unary_backward("leaky_relu_backward", {Activation::leaky_relu, negative_slope}, g, input);
}
Tensor elu_backward(const Tensor& g, const Tensor& input, double alpha) {
  return unary_backward("elu_backward", {Activation::elu, alpha}, g, input);
}
Tensor celu_backward(const Tensor& g, const Tensor& input, double alpha) {
  return unary_backward("celu_backward", celu_args("celu_backward", alpha), g, input);
}
Tensor selu_backward(const Tensor& g, const Tensor& input) {
  return unary_backward("selu_backward", {Activation::selu}, g, input);
}
Tensor gelu_backward(const Tensor& g, const Tensor& input, const std::string& approximate) {
  return unary_backward("gelu_backward", gelu_args("gelu_backward", approximate), g, input);
}
Tensor silu_backward(const Tensor& g, const Tensor& input) {
  return unary_backward("silu_backward", {Activation::silu}, g, input);
}
Tensor hardswish_backward(const Tensor& g, const Tensor& input) {
  return unary_backward("hardswish_backward", {Activation::hardswish}, g, input);
}
Tensor hardsigmoid_backward(const Tensor& g, const Tensor& input) {
  return unary_backward("hardsigmoid_backward", {Activation::hardsigmoid}, g, input);
}
Tensor hardtanh_backward(const Tensor& g, const Tensor& input, double min_val, double max_val) {
  return unary_backward("hardtanh_backward", hardtanh_args("hardtanh_backward", min_val, max_val), g, input);
}
Tensor sigmoid_backward(const Tensor& g, const Tensor& output) {
  return unary_backward("sigmoid_backward", {Activation::sigmoid}, g, output, "output");
}
Tensor tanh_backward(const Tensor& g, const Tensor& output) {
  return unary_backward("tanh_backward", {Activation::tanh}, g, output, "output");
}

PreluGrads prelu_backward(const Tensor& g, const Tensor& input, const Tensor& weight, bool need_input,
                          bool need_weight) {
  const char* op = "prelu_backward";
  check_prelu(op, input, weight);
  check_grad(op, g, "input", input);
  const Tensor x = prelu_view(input);
  PreluGrads r;
  if (need_input) r.input = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (need_weight) r.weight = Tensor::empty(weight.shape(), weight.dtype(), weight.device());
  kernels::prelu_backward(x.device(), g.contiguous().view(x.shape()), x, weight.contiguous(), r.input,
                          r.weight);
  if (need_input) r.input = r.input.view(input.shape());
  return r;
}

Tensor glu_backward(const Tensor& g, const Tensor& input, int64_t dim) {
  const char* op = "glu_backward";
  const int64_t d = glu_dim(op, input, dim);
  const int64_t half = input.size(d) / 2;
  check_grad(op, g, "output", input.narrow(d, 0, half));
  const Tensor x = around_dim(input, d);
  Tensor gx = Tensor::empty(input.shape(), input.dtype(), input.device());
  kernels::glu_backward(x.device(), g.contiguous().view({x.size(0), half, x.size(2)}), x, gx.view(x.shape()));
  return gx;
}

}  // namespace cudaseg::ops
