#include "nets/liteseg.h"

#include <memory>
#include <vector>

#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/resnet.h"
#include "nets/zh320_backbone.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// Four ConvBNAct branches of in/5 channels and a global-average branch with
// the remaining channels, so the five add up to in_channels; their
// concatenation after the input itself (2 * in_channels) is fused to out_channels.
class DASPPModule : public nn::Module {
 public:
  DASPPModule(int64_t in_channels, int64_t out_channels, const std::string& act_type) : nn::Module("DASPPModule") {
    const int64_t hid = in_channels / 5, last = in_channels - hid * 4;
    stage1_ = register_module("stage1", conv_bn_act(in_channels, hid, 1, 1, 1, 1, false, act_type));
    stage2_ = register_module("stage2", conv_bn_act(in_channels, hid, 3, 1, 3, 1, false, act_type));
    stage3_ = register_module("stage3", conv_bn_act(in_channels, hid, 3, 1, 6, 1, false, act_type));
    stage4_ = register_module("stage4", conv_bn_act(in_channels, hid, 3, 1, 9, 1, false, act_type));
    stage5_ = register_module("stage5", std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
                                            std::make_shared<nn::AdaptiveAvgPool2d>(1),
                                            zh320::conv1x1(in_channels, last)}));
    conv_ = register_module("conv", conv_bn_act(2 * in_channels, out_channels, 1, 1, 1, 1, false, act_type));
  }
  Tensor forward(const Tensor& x) override {
    std::vector<Tensor> feats{x};
    for (const auto& stage : {stage1_, stage2_, stage3_, stage4_}) feats.push_back((*stage)(x));
    feats.push_back(zh320::resize_bilinear_ac((*stage5_)(x), x.size(2), x.size(3)));
    return (*conv_)(fn::cat(feats, 1));
  }

 private:
  nn::ModulePtr stage1_, stage2_, stage3_, stage4_, stage5_, conv_;
};

// LiteSeg's own SegHead (two 3x3 ConvBNActs, not modules.py's one).
std::shared_ptr<nn::Sequential> seg_head(int64_t in_channels, int64_t num_classes, const std::string& act_type) {
  constexpr int64_t hid = 256;
  return std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{
      conv_bn_act(in_channels, hid, 3, 1, 1, 1, false, act_type),
      conv_bn_act(hid, hid / 2, 3, 1, 1, 1, false, act_type), zh320::conv1x1(hid / 2, num_classes)});
}

}  // namespace

LiteSeg::LiteSeg(int64_t num_classes, int64_t n_channel, const std::string& backbone_type, const std::string& act_type)
    : nn::SegNet("LiteSeg") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "LiteSeg: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  const Zh320Backbone backbone = make_zh320_backbone(backbone_type);
  backbone_ = register_module("backbone", backbone.module);
  features_ = backbone.features;
  const std::array<int64_t, 4> channels = backbone.channels;
  constexpr int64_t daspp_channels = 512;
  daspp_ = register_module("daspp", std::make_shared<DASPPModule>(channels[3], daspp_channels, act_type));
  seg_head_ = register_module("seg_head", seg_head(daspp_channels + channels[1], num_classes, act_type));
}

Tensor LiteSeg::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "LiteSeg: input ", x.str(), " must be [N, 3, H, W]");
  const auto feats = features_(x);
  const Tensor& x8 = feats[1];
  const Tensor y = zh320::resize_bilinear_ac((*daspp_)(feats[3]), x8.size(2), x8.size(3));
  return zh320::resize_bilinear_ac((*seg_head_)(fn::cat({y, x8}, 1)), x.size(2), x.size(3));
}

CUDASEG_REGISTER_NETS(liteseg) {
  nn::NetSpec spec;
  spec.name = "liteseg";
  spec.summary = "LiteSeg (Emara et al. 2019), zh320 models/liteseg.py: torchvision MobileNetV2 or ResNet "
                 "encoder, deeper atrous spatial pyramid pooling, stride-8 skip and a two-conv head";
  spec.args = {
      {"n_channel", 3, {}, "input channels (upstream accepts and ignores it: the backbones take 3)"},
      {"backbone_type", "mobilenet_v2", {"mobilenet_v2"}, "torchvision encoder"},
      {"act_type", "relu", {}, "activation of every ConvBNAct (zh320 Activation names)"},
  };
  for (const auto& name : resnet_types()) spec.args[1].choices.push_back(name);
  for (const auto& name : zh320::activation_names()) spec.args[2].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<LiteSeg>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                     a["backbone_type"].get<std::string>(), a["act_type"].get<std::string>());
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
