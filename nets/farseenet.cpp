#include "nets/farseenet.h"

#include <array>
#include <vector>

#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/resnet.h"
#include "nets/zh320_modules.h"
#include "nets/zh320_separable.h"
#include "runtime/error.h"

namespace cudaseg::nets {

namespace farseenet_parts {
namespace {

using zh320::conv_bn_act;
using zh320::dw_conv_bn_act;

// torch.nn.PixelShuffle, the second half of upstream's sub-pixel convolutions.
class PixelShuffle : public nn::Module {
 public:
  explicit PixelShuffle(int64_t upscale_factor) : nn::Module("PixelShuffle"), factor_(upscale_factor) {}
  Tensor forward(const Tensor& x) override { return fn::pixel_shuffle(x, factor_); }

 private:
  int64_t factor_;
};

std::shared_ptr<nn::Sequential> sub_pixel(int64_t in_channels, int64_t out_channels, int64_t factor) {
  return std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
      zh320::conv1x1(in_channels, out_channels * factor * factor), std::make_shared<PixelShuffle>(factor)});
}

// A pointwise ConvBNAct alone (the first branch) or followed by a dilated depthwise ConvBNAct.
nn::ModulePtr branch(int64_t in_channels, int64_t out_channels, int64_t dilation, const std::string& act_type) {
  auto pw = conv_bn_act(in_channels, out_channels, 1, 1, 1, 1, false, act_type);
  if (dilation == 1) return pw;
  return std::make_shared<nn::Sequential>(
      std::vector<nn::ModulePtr>{pw, dw_conv_bn_act(out_channels, out_channels, 3, 1, dilation, act_type)});
}

Tensor cat_branches(const nn::ModuleList& branches, const Tensor& x) {
  std::vector<Tensor> feats;
  for (size_t i = 0; i < branches.size(); ++i) feats.push_back((*branches[i])(x));
  return fn::cat(feats, 1);
}

}  // namespace

class FASPP : public nn::Module {
 public:
  FASPP(int64_t high_channels, int64_t low_channels, int64_t num_classes, const std::string& act_type)
      : nn::Module("FASPP") {
    constexpr int64_t hid = 256, low_hid = 48;
    const std::array<int64_t, 3> dilations{6, 12, 18};
    conv_high_ = register_module("conv_high", std::make_shared<nn::ModuleList>());
    conv_high_->push_back(branch(high_channels, hid, 1, act_type));
    for (int64_t dt : dilations) conv_high_->push_back(branch(high_channels, hid, dt, act_type));
    sub_pixel_high_ = register_module("sub_pixel_high", sub_pixel(hid * 4, hid * 2, 2));
    conv_low_init_ = register_module("conv_low_init", conv_bn_act(low_channels, low_hid, 1, 1, 1, 1, false, act_type));
    conv_low_ = register_module("conv_low", std::make_shared<nn::ModuleList>());
    conv_low_->push_back(branch(hid * 2 + low_hid, hid / 2, 1, act_type));
    for (size_t i = 0; i + 1 < dilations.size(); ++i)
      conv_low_->push_back(branch(hid * 2 + low_hid, hid / 2, dilations[i], act_type));
    conv_low_last_ = register_module(
        "conv_low_last", std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
                             conv_bn_act(hid / 2 * 3, hid * 2, 1, 1, 1, 1, false, act_type),
                             conv_bn_act(hid * 2, hid * 2, 3, 1, 1, 1, false, act_type)}));
    sub_pixel_low_ = register_module("sub_pixel_low", sub_pixel(hid * 2, num_classes, 4));
  }

  // Class maps at twice x_low's resolution (stride 4 of the input).
  Tensor forward2(const Tensor& x_high, const Tensor& x_low) {
    return observed_call({x_high, x_low}, [&] {
      const Tensor high = (*sub_pixel_high_)(cat_branches(*conv_high_, x_high));
      const Tensor x = fn::cat({high, (*conv_low_init_)(x_low)}, 1);
      return (*sub_pixel_low_)((*conv_low_last_)(cat_branches(*conv_low_, x)));
    });
  }

 private:
  std::shared_ptr<nn::ModuleList> conv_high_, conv_low_;
  nn::ModulePtr sub_pixel_high_, conv_low_init_, conv_low_last_, sub_pixel_low_;
};

}  // namespace farseenet_parts

FarSeeNet::FarSeeNet(int64_t num_classes, int64_t n_channel, const std::string& backbone_type,
                     const std::string& act_type)
    : nn::SegNet("FarSeeNet") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "FarSeeNet: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  frontend_network_ = register_module("frontend_network", std::make_shared<ResNet>(backbone_type));
  const auto& channels = frontend_network_->channels();
  backend_network_ = register_module(
      "backend_network", std::make_shared<farseenet_parts::FASPP>(channels[3], channels[2], num_classes, act_type));
}

Tensor FarSeeNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "FarSeeNet: input ", x.str(), " must be [N, 3, H, W]");
  const auto feats = frontend_network_->forward_features(x);
  const Tensor& x_low = feats[2];
  const Tensor& x_high = feats[3];
  CUDASEG_CHECK(x_low.size(2) == 2 * x_high.size(2) && x_low.size(3) == 2 * x_high.size(3), "FarSeeNet: input ",
                x.str(), " gives stride-16 features ", x_low.str(), " that are not twice the stride-32 ones ",
                x_high.str(), "; ceil(H/16) and ceil(W/16) must be even (e.g. H and W multiples of 32)");
  return zh320::resize_bilinear_ac(backend_network_->forward2(x_high, x_low), x.size(2), x.size(3));
}

CUDASEG_REGISTER_NETS(farseenet) {
  nn::NetSpec spec;
  spec.name = "farseenet";
  spec.summary = "FarSee-Net (Zhang et al. 2020), zh320 models/farseenet.py: torchvision ResNet frontend, "
                 "factorized atrous pyramid pooling with sub-pixel (PixelShuffle) upsampling";
  spec.args = {
      {"n_channel", 3, {}, "input channels (upstream accepts and ignores it: the backbone takes 3)"},
      {"backbone_type", "resnet18", {}, "torchvision ResNet frontend"},
      {"act_type", "relu", {}, "activation of every ConvBNAct (zh320 Activation names)"},
  };
  for (const auto& name : resnet_types()) spec.args[1].choices.push_back(name);
  for (const auto& name : zh320::activation_names()) spec.args[2].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<FarSeeNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                       a["backbone_type"].get<std::string>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
