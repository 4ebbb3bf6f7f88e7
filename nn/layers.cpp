#include "nn/layers.h"

#include <cmath>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/conv.h"
#include "autograd/dropout.h"
#include "autograd/engine.h"
#include "autograd/linalg.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "autograd/resize.h"
#include "autograd/unary.h"
#include "nn/sync_batch_norm.h"
#include "ops/dropout.h"

namespace cudaseg::nn {
namespace {

// torch's reset_parameters for conv and linear: kaiming_uniform_(a=sqrt(5))
// gives the bound 1/sqrt(fan_in) for the weight, and the bias uses the same.
Tensor uniform_init(const Shape& shape, int64_t fan_in) {
  if (init_skipped()) return Tensor::empty(shape);
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  return init_generator().uniform(shape, -bound, bound);
}

thread_local bool skip_init = false;
thread_local bool mixed = false;

// A norm layer's op applied in float32 under a MixedPrecisionGuard.
template <typename F>
Tensor norm_in_fp32(const Tensor& x, F&& norm) {
  if (!mixed || x.dtype() == DType::f32) return norm(x);
  return fn::to_dtype(norm(fn::to_dtype(x, DType::f32)), x.dtype());
}

}  // namespace

MixedPrecisionGuard::MixedPrecisionGuard() : previous_(mixed) { mixed = true; }
MixedPrecisionGuard::~MixedPrecisionGuard() { mixed = previous_; }
bool mixed_precision() { return mixed; }

Tensor like_input(const Tensor& param, const Tensor& x) {
  if (!mixed || !param.defined()) return param;
  return fn::to_dtype(param, x.dtype());
}

SkipInitGuard::SkipInitGuard() : previous_(skip_init) { skip_init = true; }
SkipInitGuard::~SkipInitGuard() { skip_init = previous_; }
bool init_skipped() { return skip_init; }

Generator& init_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { init_generator().set_state(seed, 0); }

// ---------------------------------------------------------------- convolution

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, const Conv2dOptions& o)
    : Module("Conv2d"), in_channels_(in_channels), out_channels_(out_channels) {
  CUDASEG_CHECK(in_channels > 0 && out_channels > 0 && o.groups > 0 && in_channels % o.groups == 0 &&
                    out_channels % o.groups == 0,
                "Conv2d: in_channels ", in_channels, " and out_channels ", out_channels,
                " must be positive multiples of groups ", o.groups);
  params_.stride = o.stride;
  params_.padding = o.padding;
  params_.dilation = o.dilation;
  params_.groups = o.groups;
  const int64_t fan_in = in_channels / o.groups * o.kernel_size[0] * o.kernel_size[1];
  weight = register_parameter(
      "weight", uniform_init({out_channels, in_channels / o.groups, o.kernel_size[0], o.kernel_size[1]}, fan_in));
  if (o.bias) bias = register_parameter("bias", uniform_init({out_channels}, fan_in));
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t k, int64_t s, int64_t p, int64_t d, int64_t g,
               bool b)
    : Conv2d(in_channels, out_channels, Conv2dOptions{{k, k}, {s, s}, {p, p}, {d, d}, g, b}) {}

Tensor Conv2d::forward(const Tensor& x) {
  const Tensor w = like_input(weight, x), b = like_input(bias, x);
  Tensor y;
  if (act) {
    ops::ConvAct a = *act;
    a.slope = like_input(act->slope, x);
    const bool grad = autograd::grad_mode_enabled() &&
                      (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()) ||
                       (a.slope.defined() && a.slope.requires_grad()));
    if (!grad) {
      y = ops::conv2d_act(x, w, b, params_, a);
    } else {
      y = fn::conv2d(x, w, b, params_);
      if (a.slope.defined()) y = fn::prelu(y, a.slope);
      if (a.lo > -INFINITY || a.hi < INFINITY)
        y = fn::clamp(y, a.lo > -INFINITY ? std::optional<double>(a.lo) : std::nullopt,
                      a.hi < INFINITY ? std::optional<double>(a.hi) : std::nullopt);
      if (a.gelu) y = fn::gelu(y);
    }
  } else {
    y = fn::conv2d(x, w, b, params_);
  }
  return epilogue ? epilogue(y) : y;
}

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels, const ConvTranspose2dOptions& o)
    : Module("ConvTranspose2d") {
  CUDASEG_CHECK(in_channels > 0 && out_channels > 0 && o.groups > 0 && in_channels % o.groups == 0 &&
                    out_channels % o.groups == 0,
                "ConvTranspose2d: in_channels ", in_channels, " and out_channels ", out_channels,
                " must be positive multiples of groups ", o.groups);
  params_.stride = o.stride;
  params_.padding = o.padding;
  params_.output_padding = o.output_padding;
  params_.dilation = o.dilation;
  params_.groups = o.groups;
  // torch computes fan_in from weight.size(1) * k*k, i.e. out_channels / groups.
  const int64_t fan_in = out_channels / o.groups * o.kernel_size[0] * o.kernel_size[1];
  weight = register_parameter(
      "weight", uniform_init({in_channels, out_channels / o.groups, o.kernel_size[0], o.kernel_size[1]}, fan_in));
  if (o.bias) bias = register_parameter("bias", uniform_init({out_channels}, fan_in));
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return fn::conv_transpose2d(x, like_input(weight, x), like_input(bias, x), params_);
}

// ---------------------------------------------------------------- normalisation

BatchNorm2d::BatchNorm2d(int64_t num_features, double eps, double momentum, bool affine, bool track,
                         bool count_batches)
    : Module("BatchNorm2d"), eps_(eps), momentum_(momentum), track_(track) {
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({num_features}));
    bias = register_parameter("bias", Tensor::zeros({num_features}));
  }
  if (track) {
    running_mean = register_buffer("running_mean", Tensor::zeros({num_features}));
    running_var = register_buffer("running_var", Tensor::ones({num_features}));
    if (count_batches) num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64));
  }
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (bypassed()) return x;
  const bool use_batch_stats = is_training() || !track_;
  if (is_training() && track_ && num_batches_tracked.defined()) {
    autograd::NoGradGuard no_grad;
    num_batches_tracked.fill_(num_batches_tracked.item() + 1);
  }
  const AllReduceSum* sync = is_training() ? batch_norm_sync() : nullptr;
  return norm_in_fp32(x, [&](const Tensor& in) {
    if (sync) return sync_batch_norm(in, running_mean, running_var, weight, bias, momentum_, eps_, *sync);
    return fn::batch_norm(in, running_mean, running_var, weight, bias, use_batch_stats, momentum_, eps_);
  });
}

LayerNorm::LayerNorm(const Shape& normalized_shape, double eps, bool affine)
    : Module("LayerNorm"), normalized_shape_(normalized_shape), eps_(eps) {
  if (affine) {
    weight = register_parameter("weight", Tensor::ones(normalized_shape));
    bias = register_parameter("bias", Tensor::zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return norm_in_fp32(x, [&](const Tensor& in) { return fn::layer_norm(in, normalized_shape_, weight, bias, eps_); });
}

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine)
    : Module("GroupNorm"), groups_(num_groups), eps_(eps) {
  CUDASEG_CHECK(num_groups > 0 && num_channels % num_groups == 0, "GroupNorm: num_channels (", num_channels,
                ") must be divisible by num_groups (", num_groups, ")");
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({num_channels}));
    bias = register_parameter("bias", Tensor::zeros({num_channels}));
  }
}

Tensor GroupNorm::forward(const Tensor& x) {
  return norm_in_fp32(x, [&](const Tensor& in) { return fn::group_norm(in, groups_, weight, bias, eps_); });
}

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias) : Module("Linear") {
  weight = register_parameter("weight", uniform_init({out_features, in_features}, in_features));
  if (has_bias) bias = register_parameter("bias", uniform_init({out_features}, in_features));
}

Tensor Linear::forward(const Tensor& x) { return fn::linear(x, like_input(weight, x), like_input(bias, x)); }

// ---------------------------------------------------------------- activations

Activation::Activation(ActKind kind, double arg0, double arg1)
    : Module("Activation"), kind_(kind), arg0_(arg0), arg1_(arg1) {}

Tensor Activation::forward(const Tensor& x) {
  if (bypassed()) return x;
  switch (kind_) {
    case ActKind::relu: return fn::relu(x);
    case ActKind::relu6: return fn::relu6(x);
    case ActKind::leaky_relu: return fn::leaky_relu(x, arg0_);
    case ActKind::elu: return fn::elu(x, arg0_);
    case ActKind::celu: return fn::celu(x, arg0_);
    case ActKind::selu: return fn::selu(x);
    case ActKind::gelu: return fn::gelu(x, "none");
    case ActKind::gelu_tanh: return fn::gelu(x, "tanh");
    case ActKind::silu: return fn::silu(x);
    case ActKind::hardswish: return fn::hardswish(x);
    case ActKind::hardsigmoid: return fn::hardsigmoid(x);
    case ActKind::hardtanh: return fn::hardtanh(x, arg0_, arg1_);
    case ActKind::sigmoid: return fn::sigmoid(x);
    case ActKind::tanh: return fn::tanh(x);
  }
  CUDASEG_FAIL("Activation: invalid kind");
}

ModulePtr make_activation(const std::string& name, int64_t channels) {
  if (name == "relu") return std::make_shared<Activation>(ActKind::relu);
  if (name == "relu6") return std::make_shared<Activation>(ActKind::relu6);
  if (name == "leaky_relu" || name == "leakyrelu") return std::make_shared<Activation>(ActKind::leaky_relu, 0.01);
  if (name == "elu") return std::make_shared<Activation>(ActKind::elu, 1.0);
  if (name == "celu") return std::make_shared<Activation>(ActKind::celu, 1.0);
  if (name == "selu") return std::make_shared<Activation>(ActKind::selu);
  if (name == "gelu") return std::make_shared<Activation>(ActKind::gelu);
  if (name == "silu" || name == "swish") return std::make_shared<Activation>(ActKind::silu);
  if (name == "hardswish") return std::make_shared<Activation>(ActKind::hardswish);
  if (name == "hardsigmoid") return std::make_shared<Activation>(ActKind::hardsigmoid);
  if (name == "sigmoid") return std::make_shared<Activation>(ActKind::sigmoid);
  if (name == "tanh") return std::make_shared<Activation>(ActKind::tanh);
  if (name == "prelu") return std::make_shared<PReLU>(channels);
  if (name == "none" || name == "identity") return std::make_shared<Identity>();
  CUDASEG_FAIL("unknown activation '", name, "' (accepted: relu, relu6, leaky_relu, elu, celu, selu, gelu, silu, "
               "hardswish, hardsigmoid, sigmoid, tanh, prelu, none)");
}

PReLU::PReLU(int64_t num_parameters, double init) : Module("PReLU") {
  weight = register_parameter("weight", Tensor::full({num_parameters}, init));
}

Tensor PReLU::forward(const Tensor& x) { return fn::prelu(x, like_input(weight, x)); }

// ---------------------------------------------------------------- pooling, resize, dropout

MaxPool2d::MaxPool2d(const ops::MaxPool2dParams& params) : Module("MaxPool2d"), params_(params) {}
MaxPool2d::MaxPool2d(int64_t k, int64_t s, int64_t p, bool ceil_mode) : Module("MaxPool2d") {
  params_.kernel_size = {k, k};
  params_.stride = {s, s};
  params_.padding = {p, p};
  params_.ceil_mode = ceil_mode;
}
Tensor MaxPool2d::forward(const Tensor& x) { return fn::max_pool2d(x, params_); }

AvgPool2d::AvgPool2d(const ops::AvgPool2dParams& params) : Module("AvgPool2d"), params_(params) {}
AvgPool2d::AvgPool2d(int64_t k, int64_t s, int64_t p) : Module("AvgPool2d") {
  params_.kernel_size = {k, k};
  params_.stride = {s, s};
  params_.padding = {p, p};
}
Tensor AvgPool2d::forward(const Tensor& x) { return fn::avg_pool2d(x, params_); }

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Pair size) : Module("AdaptiveAvgPool2d"), size_(size) {}
Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return fn::adaptive_avg_pool2d(x, size_); }

AdaptiveMaxPool2d::AdaptiveMaxPool2d(Pair size) : Module("AdaptiveMaxPool2d"), size_(size) {}
Tensor AdaptiveMaxPool2d::forward(const Tensor& x) { return fn::adaptive_max_pool2d(x, size_); }

Upsample::Upsample(std::optional<Pair> size, std::optional<std::array<double, 2>> scale, std::string mode,
                   std::optional<bool> align_corners)
    : Module("Upsample"), size_(size), scale_(scale), mode_(std::move(mode)), align_corners_(align_corners) {
  CUDASEG_CHECK(size_.has_value() != scale_.has_value(), "Upsample: give exactly one of size and scale_factor");
}

Tensor Upsample::forward(const Tensor& x) { return fn::interpolate(x, size_, scale_, mode_, align_corners_); }

Dropout::Dropout(double p, bool channelwise) : Module(channelwise ? "Dropout2d" : "Dropout"), p_(p),
                                               channelwise_(channelwise) {
  CUDASEG_CHECK(p >= 0.0 && p <= 1.0, type_name(), ": p must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& x) {
  return channelwise_ ? fn::dropout2d(x, p_, is_training(), init_generator())
                      : fn::dropout(x, p_, is_training(), init_generator());
}

DropPath::DropPath(double p) : Module("DropPath"), p_(p) {
  CUDASEG_CHECK(p >= 0.0 && p <= 1.0, "DropPath: p must be in [0, 1], got ", p);
}

Tensor DropPath::forward(const Tensor& x) {
  if (!is_training() || p_ == 0.0) return x;
  CUDASEG_CHECK(x.dim() >= 1, "DropPath: needs a batch dimension, got ", x.str());
  // A dropout mask over [N, 1, ...] is exactly timm's per-sample factor (0 or 1 / keep).
  Shape mask_shape(x.dim(), 1);
  mask_shape[0] = x.shape()[0];
  Tensor mask;
  {
    autograd::NoGradGuard no_grad;
    mask = ops::dropout(Tensor::ones(mask_shape, x.dtype(), x.device()), p_, true, init_generator()).output;
  }
  return fn::mul(x, mask);
}

}  // namespace cudaseg::nn
