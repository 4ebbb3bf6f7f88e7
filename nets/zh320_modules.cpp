#include "nets/zh320_modules.h"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nets/zh320_separable.h"
#include "runtime/error.h"

namespace cudaseg::nets::zh320 {

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names = {"relu",     "relu6", "leakyrelu", "prelu", "celu",
                                                 "elu",      "hardswish", "hardtanh", "gelu", "selu",
                                                 "silu",     "sigmoid", "tanh",      "none"};
  return names;
}

namespace {

// torch's defaults for each name: nn.PReLU() has a single slope, nn.Hardtanh
// clips to [-1, 1], nn.LeakyReLU's slope is 0.01, ELU/CELU alpha 1.
nn::ModulePtr make_torch_activation(const std::string& name) {
  using nn::ActKind;
  if (name == "relu") return std::make_shared<nn::Activation>(ActKind::relu);
  if (name == "relu6") return std::make_shared<nn::Activation>(ActKind::relu6);
  if (name == "leakyrelu") return std::make_shared<nn::Activation>(ActKind::leaky_relu, 0.01);
  if (name == "prelu") return std::make_shared<nn::PReLU>(1);
  if (name == "celu") return std::make_shared<nn::Activation>(ActKind::celu, 1.0);
  if (name == "elu") return std::make_shared<nn::Activation>(ActKind::elu, 1.0);
  if (name == "hardswish") return std::make_shared<nn::Activation>(ActKind::hardswish);
  if (name == "hardtanh") return std::make_shared<nn::Activation>(ActKind::hardtanh, -1.0, 1.0);
  if (name == "gelu") return std::make_shared<nn::Activation>(ActKind::gelu);
  if (name == "selu") return std::make_shared<nn::Activation>(ActKind::selu);
  if (name == "silu") return std::make_shared<nn::Activation>(ActKind::silu);
  if (name == "sigmoid") return std::make_shared<nn::Activation>(ActKind::sigmoid);
  if (name == "tanh") return std::make_shared<nn::Activation>(ActKind::tanh);
  if (name == "none") return std::make_shared<nn::Identity>();
  std::ostringstream os;
  for (const auto& n : activation_names()) os << (os.tellp() > 0 ? ", " : "") << n;
  CUDASEG_FAIL("unsupported activation type '", name, "' (accepted: ", os.str(), ")");
}

}  // namespace

Activation::Activation(const std::string& act_type) : nn::Module("Activation") {
  std::string lower = act_type;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  act_ = register_module("activation", make_torch_activation(lower));
}

Tensor Activation::forward(const Tensor& x) { return (*act_)(x); }

std::shared_ptr<nn::Conv2d> conv1x1(int64_t in_channels, int64_t out_channels, int64_t stride, bool bias) {
  return std::make_shared<nn::Conv2d>(in_channels, out_channels, 1, stride, 0, 1, 1, bias);
}

std::shared_ptr<nn::Conv2d> conv3x3(int64_t in_channels, int64_t out_channels, int64_t stride, bool bias) {
  return std::make_shared<nn::Conv2d>(in_channels, out_channels, 3, stride, 1, 1, 1, bias);
}

std::shared_ptr<nn::Sequential> conv_bn_act(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                                            int64_t stride, int64_t dilation, int64_t groups, bool bias,
                                            const std::string& act_type) {
  return conv_bn_act(in_channels, out_channels, nn::Pair{kernel_size, kernel_size}, stride, dilation, groups, bias,
                     act_type);
}

std::shared_ptr<nn::Sequential> conv_bn_act(int64_t in_channels, int64_t out_channels, nn::Pair kernel_size,
                                            int64_t stride, int64_t dilation, int64_t groups, bool bias,
                                            const std::string& act_type) {
  nn::Conv2dOptions options;
  options.kernel_size = kernel_size;
  options.stride = {stride, stride};
  options.padding = {(kernel_size[0] - 1) / 2 * dilation, (kernel_size[1] - 1) / 2 * dilation};
  options.dilation = {dilation, dilation};
  options.groups = groups;
  options.bias = bias;
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Conv2d>(in_channels, out_channels, options));
  seq->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
  seq->push_back(std::make_shared<Activation>(act_type));
  return seq;
}

Tensor resize_bilinear_ac(const Tensor& x, int64_t h, int64_t w) {
  return fn::interpolate(x, std::array<int64_t, 2>{h, w}, std::nullopt, "bilinear", true);
}

Tensor resize_bilinear_ac(const Tensor& x, std::array<int64_t, 2> size) { return resize_bilinear_ac(x, size[0], size[1]); }

Tensor resize_bilinear_ac(const Tensor& x, const Tensor& like) {
  return resize_bilinear_ac(x, like.size(2), like.size(3));
}

Tensor scale_bilinear_ac(const Tensor& x, double scale) {
  return fn::interpolate(x, std::nullopt, std::array<double, 2>{scale, scale}, "bilinear", true);
}

std::shared_ptr<nn::Sequential> seg_head(int64_t in_channels, int64_t num_class, const std::string& act_type,
                                         int64_t hid_channels) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(conv_bn_act(in_channels, hid_channels, 3, 1, 1, 1, false, act_type));
  seq->push_back(conv1x1(hid_channels, num_class));
  return seq;
}

const std::vector<std::string>& inplace_activation_names() {
  static const std::vector<std::string> names = {"relu", "relu6", "leakyrelu", "celu", "elu",
                                                 "hardswish", "hardtanh", "selu", "silu", "none"};
  return names;
}

DeConvBNAct::DeConvBNAct(int64_t in_channels, int64_t out_channels, int64_t scale_factor,
                         std::optional<int64_t> kernel_size, std::optional<int64_t> padding,
                         const std::string& act_type)
    : nn::Module("DeConvBNAct") {
  CUDASEG_CHECK(scale_factor > 0, "DeConvBNAct: scale_factor (", scale_factor, ") must be positive");
  const int64_t k = kernel_size.value_or(2 * scale_factor - 1);
  const int64_t p = padding.value_or((k - 1) / 2);
  nn::ConvTranspose2dOptions options;
  options.kernel_size = {k, k};
  options.stride = {scale_factor, scale_factor};
  options.padding = {p, p};
  options.output_padding = {scale_factor - 1, scale_factor - 1};
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::ConvTranspose2d>(in_channels, out_channels, options));
  seq->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
  seq->push_back(std::make_shared<Activation>(act_type));
  up_conv_ = register_module("up_conv", seq);
}

Tensor DeConvBNAct::forward(const Tensor& x) { return (*up_conv_)(x); }

PyramidPoolingModule::PyramidPoolingModule(int64_t in_channels, int64_t out_channels, const std::string& act_type,
                                           bool bias)
    : nn::Module("PyramidPoolingModule") {
  const int64_t hid_channels = in_channels / 4;
  const int64_t pool_sizes[4] = {1, 2, 4, 6};
  for (int i = 0; i < 4; ++i) {
    auto stage = std::make_shared<nn::Sequential>();
    stage->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(pool_sizes[i]));
    stage->push_back(conv1x1(in_channels, hid_channels));
    stages_.push_back(register_module("stage" + std::to_string(i + 1), stage));
  }
  conv_ = register_module("conv", pw_conv_bn_act(2 * in_channels, out_channels, act_type, bias));
}

Tensor PyramidPoolingModule::forward(const Tensor& x) {
  std::vector<Tensor> parts = {x};
  for (const auto& stage : stages_)
    parts.push_back(fn::interpolate((*stage)(x), std::array<int64_t, 2>{x.size(2), x.size(3)}, std::nullopt,
                                    "bilinear", true));
  return (*conv_)(fn::cat(parts, 1));
}

}  // namespace cudaseg::nets::zh320
