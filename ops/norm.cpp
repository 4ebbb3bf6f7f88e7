#include "ops/norm.h"

#include <cmath>

#include "ops/common.h"
#include "ops/kernels/norm.h"

namespace cudaseg::ops {

Kernel<kernels::BatchNormFn> kernels::batch_norm("batch_norm");
Kernel<kernels::BatchNormBackwardFn> kernels::batch_norm_backward("batch_norm_backward");
Kernel<kernels::GroupNormFn> kernels::group_norm("group_norm");
Kernel<kernels::GroupNormBackwardFn> kernels::group_norm_backward("group_norm_backward");
Kernel<kernels::LayerNormChannelsFn> kernels::layer_norm_channels("layer_norm_channels");
Kernel<kernels::LayerNormChannelsBackwardFn> kernels::layer_norm_channels_backward("layer_norm_channels_backward");
Kernel<kernels::NormalizeFn> kernels::normalize("normalize");
Kernel<kernels::NormalizeBackwardFn> kernels::normalize_backward("normalize_backward");

namespace {

// input [N, C, *] as a contiguous [N, C, S] view.
Tensor as_ncs(const char* op, const Tensor& input) {
  check_float(op, "input", input);
  CUDASEG_CHECK(input.dim() >= 2, op, ": expected input [N, C, *] with at least 2 dims, got ",
                shape_str(input.shape()));
  const int64_t S = input.numel() / std::max<int64_t>(1, input.size(0) * input.size(1));
  return input.contiguous().view({input.size(0), input.size(1), S});
}

void check_channel_param(const char* op, const char* arg, const Tensor& t, const Tensor& input) {
  if (!t.defined()) return;
  CUDASEG_CHECK(t.dim() == 1 && t.size(0) == input.size(1), op, ": ", arg, " ", shape_str(t.shape()),
                " must have one element per channel of input ", shape_str(input.shape()), " (",
                input.size(1), " channels)");
}

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.contiguous() : t; }

Tensor empty_if(bool want, const Shape& shape, const Tensor& like) {
  return want ? Tensor::empty(shape, like.dtype(), like.device()) : Tensor();
}

void check_common(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias,
                  const Tensor& grad = Tensor()) {
  check_same_device(op, {{"input", &input}, {"weight", &weight}, {"bias", &bias}, {"grad_output", &grad}});
  check_same_dtype(op, {{"input", &input}, {"weight", &weight}, {"bias", &bias}, {"grad_output", &grad}});
  if (grad.defined())
    CUDASEG_CHECK(grad.shape() == input.shape(), op, ": grad_output ", shape_str(grad.shape()),
                  " differs from input ", shape_str(input.shape()));
}

void check_batch_norm(const char* op, const Tensor& input, const Tensor& running_mean,
                      const Tensor& running_var, const Tensor& weight, const Tensor& bias, bool training,
                      double eps, const Tensor& grad = Tensor()) {
  check_float(op, "input", input);
  CUDASEG_CHECK(input.dim() >= 2, op, ": expected input [N, C, *] with at least 2 dims, got ",
                shape_str(input.shape()));
  check_channel_param(op, "weight", weight, input);
  check_channel_param(op, "bias", bias, input);
  check_channel_param(op, "running_mean", running_mean, input);
  check_channel_param(op, "running_var", running_var, input);
  CUDASEG_CHECK(running_mean.defined() == running_var.defined(), op,
                ": running_mean and running_var must be both defined or both undefined");
  CUDASEG_CHECK(training || running_mean.defined(), op, ": running_mean must be defined in evaluation mode");
  CUDASEG_CHECK(eps >= 0, op, ": eps must be non-negative, got ", eps);
  if (training)
    CUDASEG_CHECK(input.numel() / input.size(1) > 1, op,
                  ": expected more than 1 value per channel when training, got input ", shape_str(input.shape()),
                  " (the feature map is too small: a larger image or batch is needed)");
  check_same_device(op, {{"input", &input}, {"running_mean", &running_mean}, {"running_var", &running_var}});
  check_same_dtype(op, {{"input", &input}, {"running_mean", &running_mean}, {"running_var", &running_var}});
  check_common(op, input, weight, bias, grad);
}

void check_layer_norm(const char* op, const Tensor& input, const Shape& normalized_shape, const Tensor& weight,
                      const Tensor& bias, double eps, const Tensor& grad = Tensor()) {
  check_float(op, "input", input);
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  bool match = k >= 1 && input.dim() >= k;
  for (int64_t i = 0; match && i < k; ++i) match = input.size(input.dim() - k + i) == normalized_shape[i];
  CUDASEG_CHECK(match, op, ": given normalized_shape ", shape_str(normalized_shape),
                ", expected input with shape [*, ", shape_str(normalized_shape).substr(1), " but got input ",
                shape_str(input.shape()));
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"weight", &weight}, {"bias", &bias}})
    CUDASEG_CHECK(!t->defined() || t->shape() == normalized_shape, op, ": ", name, " ", shape_str(t->shape()),
                  " must have normalized_shape ", shape_str(normalized_shape));
  CUDASEG_CHECK(eps >= 0, op, ": eps must be non-negative, got ", eps);
  check_common(op, input, weight, bias, grad);
}

void check_group_norm(const char* op, const Tensor& input, int64_t num_groups, const Tensor& weight,
                      const Tensor& bias, double eps, const Tensor& grad = Tensor()) {
  check_float(op, "input", input);
  CUDASEG_CHECK(input.dim() >= 2, op, ": expected input [N, C, *] with at least 2 dims, got ",
                shape_str(input.shape()));
  CUDASEG_CHECK(num_groups > 0 && input.size(1) % num_groups == 0, op, ": num_groups ", num_groups,
                " must be positive and divide the ", input.size(1), " channels of input ",
                shape_str(input.shape()));
  check_channel_param(op, "weight", weight, input);
  check_channel_param(op, "bias", bias, input);
  CUDASEG_CHECK(eps >= 0, op, ": eps must be non-negative, got ", eps);
  check_common(op, input, weight, bias, grad);
}

void check_normalize(const char* op, const Tensor& input, double p, double eps, const Tensor& grad = Tensor()) {
  check_float(op, "input", input);
  CUDASEG_CHECK(std::isfinite(p) && p > 0, op, ": p must be finite and positive, got ", p);
  CUDASEG_CHECK(eps >= 0, op, ": eps must be non-negative, got ", eps);
  check_common(op, input, Tensor(), Tensor(), grad);
}

// input as a contiguous [outer, size(dim), inner] view.
Tensor around_dim(const Tensor& input, int64_t dim) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= input.size(d);
  for (int64_t d = dim + 1; d < input.dim(); ++d) inner *= input.size(d);
  return input.contiguous().view({outer, input.dim() == 0 ? 1 : input.size(dim), inner});
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_batch_norm("batch_norm", input, running_mean, running_var, weight, bias, training, eps);
  const Tensor x = as_ncs("batch_norm", input);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::batch_norm(x.device(), x, running_mean, running_var, contiguous_or_undefined(weight),
                      contiguous_or_undefined(bias), training, momentum, eps, out);
  return out.view(input.shape());
}

NormGrads batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& running_mean,
                              const Tensor& running_var, const Tensor& weight, bool training, double eps,
                              GradMask mask) {
  const char* op = "batch_norm_backward";
  check_defined(op, "grad_output", grad_output);
  check_batch_norm(op, input, running_mean, running_var, weight, Tensor(), training, eps, grad_output);
  const Tensor x = as_ncs(op, input);
  const Shape channels{x.size(1)};
  NormGrads g{empty_if(mask[0], x.shape(), x), empty_if(mask[1] && weight.defined(), channels, x),
              empty_if(mask[2], channels, x)};
  kernels::batch_norm_backward(x.device(), grad_output.contiguous().view(x.shape()), x, running_mean, running_var,
                               contiguous_or_undefined(weight), training, eps, g.input, g.weight, g.bias);
  if (g.input.defined()) g.input = g.input.view(input.shape());
  return g;
}

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  check_layer_norm("layer_norm", input, normalized_shape, weight, bias, eps);
  const int64_t K = shape_numel(normalized_shape);
  const Tensor x = input.contiguous().view({input.numel() / std::max<int64_t>(K, 1), K, 1});
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  const Tensor w = weight.defined() ? weight.contiguous().view({K}) : weight;
  const Tensor b = bias.defined() ? bias.contiguous().view({K}) : bias;
  kernels::group_norm(x.device(), x, 1, w, b, eps, out);
  return out.view(input.shape());
}

NormGrads layer_norm_backward(const Tensor& grad_output, const Tensor& input, const Shape& normalized_shape,
                              const Tensor& weight, double eps, GradMask mask) {
  const char* op = "layer_norm_backward";
  check_defined(op, "grad_output", grad_output);
  check_layer_norm(op, input, normalized_shape, weight, Tensor(), eps, grad_output);
  const int64_t K = shape_numel(normalized_shape);
  const Tensor x = input.contiguous().view({input.numel() / std::max<int64_t>(K, 1), K, 1});
  const Tensor w = weight.defined() ? weight.contiguous().view({K}) : weight;
  NormGrads g{empty_if(mask[0], x.shape(), x), empty_if(mask[1] && weight.defined(), {K}, x),
              empty_if(mask[2], {K}, x)};
  kernels::group_norm_backward(x.device(), grad_output.contiguous().view(x.shape()), x, 1, w, eps, g.input, g.weight,
                               g.bias);
  if (g.input.defined()) g.input = g.input.view(input.shape());
  if (g.weight.defined()) g.weight = g.weight.view(normalized_shape);
  if (g.bias.defined()) g.bias = g.bias.view(normalized_shape);
  return g;
}

Tensor layer_norm_channels(const Tensor& input, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "layer_norm_channels";
  check_group_norm(op, input, 1, weight, bias, eps);
  const Tensor x = as_ncs(op, input);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::layer_norm_channels(x.device(), x, contiguous_or_undefined(weight), contiguous_or_undefined(bias), eps,
                               out);
  return out.view(input.shape());
}

NormGrads layer_norm_channels_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                       double eps, GradMask mask) {
  const char* op = "layer_norm_channels_backward";
  check_defined(op, "grad_output", grad_output);
  check_group_norm(op, input, 1, weight, Tensor(), eps, grad_output);
  const Shape channels{input.size(1)};
  const Tensor x = as_ncs(op, input);
  NormGrads g{empty_if(mask[0], x.shape(), x), empty_if(mask[1] && weight.defined(), channels, x),
              empty_if(mask[2], channels, x)};
  kernels::layer_norm_channels_backward(x.device(), grad_output.contiguous().view(x.shape()), x,
                                        contiguous_or_undefined(weight), eps, g.input, g.weight, g.bias);
  if (g.input.defined()) g.input = g.input.view(input.shape());
  return g;
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps) {
  check_group_norm("group_norm", input, num_groups, weight, bias, eps);
  const Tensor x = as_ncs("group_norm", input);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::group_norm(x.device(), x, num_groups, contiguous_or_undefined(weight), contiguous_or_undefined(bias), eps,
                      out);
  return out.view(input.shape());
}

NormGrads group_norm_backward(const Tensor& grad_output, const Tensor& input, int64_t num_groups,
                              const Tensor& weight, double eps, GradMask mask) {
  const char* op = "group_norm_backward";
  check_defined(op, "grad_output", grad_output);
  check_group_norm(op, input, num_groups, weight, Tensor(), eps, grad_output);
  const Tensor x = as_ncs(op, input);
  const Shape channels{x.size(1)};
  NormGrads g{empty_if(mask[0], x.shape(), x), empty_if(mask[1] && weight.defined(), channels, x),
              empty_if(mask[2], channels, x)};
  kernels::group_norm_backward(x.device(), grad_output.contiguous().view(x.shape()), x, num_groups,
                               contiguous_or_undefined(weight), eps, g.input, g.weight, g.bias);
  if (g.input.defined()) g.input = g.input.view(input.shape());
  return g;
}

Tensor normalize(const Tensor& input, double p, int64_t dim, double eps) {
  check_normalize("normalize", input, p, eps);
  const Tensor x = around_dim(input, wrap_dim(dim, input.dim(), "normalize"));
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::normalize(x.device(), x, p, eps, out);
  return out.view(input.shape());
}

Tensor normalize_backward(const Tensor& grad_output, const Tensor& input, double p, int64_t dim, double eps) {
  const char* op = "normalize_backward";
  check_defined(op, "grad_output", grad_output);
  check_normalize(op, input, p, eps, grad_output);
  const Tensor x = around_dim(input, wrap_dim(dim, input.dim(), op));
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::normalize_backward(x.device(), grad_output.contiguous().view(x.shape()), x, p, eps, gx);
  return gx.view(input.shape());
}

}  // namespace cudaseg::ops
