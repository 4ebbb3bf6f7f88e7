#include "nets/canet.h"

#include <array>
#include <functional>

#include "autograd/activation.h"
#include "autograd/arith.h"
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

// The encoder's stride-32 map through up1 (to stride 16), concatenated with
// its stride-16 map, through up2 (to stride 8).
class ContextBranch : public nn::Module {
 public:
  ContextBranch(int64_t out_channels, const std::string& backbone_type, int64_t hid_channels = 192)
      : nn::Module("ContextBranch") {
    const Zh320Backbone backbone = make_zh320_backbone(backbone_type);
    register_module("backbone", backbone.module);
    features_ = backbone.features;
    const int64_t c16 = backbone.channels[2], c32 = backbone.channels[3];
    up1_ = register_module("up1", std::make_shared<zh320::DeConvBNAct>(c32, hid_channels));
    up2_ = register_module("up2", std::make_shared<zh320::DeConvBNAct>(c16 + hid_channels, out_channels));
  }
  Tensor forward(const Tensor& x) override {
    const auto feats = features_(x);
    return (*up2_)(fn::cat({(*up1_)(feats[3]), feats[2]}, 1));
  }

 private:
  std::function<std::array<Tensor, 4>(const Tensor&)> features_;
  nn::ModulePtr up1_, up2_;
};

// sigmoid(fc(global max) + fc(global average)) as [N, C, 1, 1]: one Linear
// shared by both pooled vectors.
class ChannelAttentionBlock : public nn::Module {
 public:
  explicit ChannelAttentionBlock(int64_t channels) : nn::Module("ChannelAttentionBlock"), channels_(channels) {
    max_pool_ = register_module("max_pool", std::make_shared<nn::AdaptiveMaxPool2d>(1));
    avg_pool_ = register_module("avg_pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    fc_ = register_module("fc", std::make_shared<nn::Linear>(channels, channels));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor x_max = (*fc_)(fn::reshape((*max_pool_)(x), {-1, channels_}));
    const Tensor x_avg = (*fc_)(fn::reshape((*avg_pool_)(x), {-1, channels_}));
    return fn::reshape(fn::sigmoid(fn::add(x_max, x_avg)), {-1, channels_, 1, 1});
  }

 private:
  int64_t channels_;
  nn::ModulePtr max_pool_, avg_pool_, fc_;
};

}  // namespace

namespace canet_parts {

// y = conv_init(cat[x_s, x_c]); conv_last(y * sa(x_s) * ca(x_c) + y): a
// [N, 1, H, W] spatial map from the spatial branch and a [N, C, 1, 1]
// channel vector from the context branch, both broadcast over y.
class FeatureCrossAttentionModule : public nn::Module {
 public:
  FeatureCrossAttentionModule(int64_t in_channels, int64_t out_channels, const std::string& act_type)
      : nn::Module("FeatureCrossAttentionModule") {
    conv_init_ = register_module("conv_init", conv_bn_act(2 * in_channels, in_channels, 3, 1, 1, 1, false, act_type));
    auto sa = std::make_shared<nn::Sequential>();
    sa->push_back(conv_bn_act(in_channels, 1, 3, 1, 1, 1, false, "sigmoid"));
    sa_ = register_module("sa", sa);
    ca_ = register_module("ca", std::make_shared<ChannelAttentionBlock>(in_channels));
    conv_last_ = register_module("conv_last", conv_bn_act(in_channels, out_channels));
  }
  Tensor forward2(const Tensor& x_s, const Tensor& x_c) {
    return observed_call({x_s, x_c}, [&] {
      const Tensor x = (*conv_init_)(fn::cat({x_s, x_c}, 1));
      const Tensor attended = fn::mul(fn::mul(x, (*sa_)(x_s)), (*ca_)(x_c));
      return (*conv_last_)(fn::add(attended, x));
    });
  }

 private:
  nn::ModulePtr conv_init_, sa_, ca_, conv_last_;
};

}  // namespace canet_parts

CANet::CANet(int64_t num_classes, int64_t n_channel, const std::string& backbone_type, const std::string& act_type)
    : nn::SegNet("CANet") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "CANet: num_classes (", num_classes, ") and n_channel (", n_channel,
                ") must be positive");
  constexpr int64_t channels = 64;
  auto spatial = std::make_shared<nn::Sequential>();
  spatial->push_back(conv_bn_act(n_channel, channels, 3, 2, 1, 1, false, act_type));
  spatial->push_back(conv_bn_act(channels, channels * 2, 3, 2, 1, 1, false, act_type));
  spatial->push_back(conv_bn_act(channels * 2, channels * 4, 3, 2, 1, 1, false, act_type));
  spatial_branch_ = register_module("spatial_branch", spatial);
  context_branch_ = register_module("context_branch", std::make_shared<ContextBranch>(channels * 4, backbone_type));
  fca_ = register_module(
      "fca", std::make_shared<canet_parts::FeatureCrossAttentionModule>(channels * 4, num_classes, act_type));
  up_ = register_module("up", std::make_shared<zh320::DeConvBNAct>(num_classes, num_classes, 8));
}

Tensor CANet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "CANet: input ", x.str(),
                " must be [N, C, H, W] with H and W multiples of 32");
  return (*up_)(fca_->forward2((*spatial_branch_)(x), (*context_branch_)(x)));
}

CUDASEG_REGISTER_NETS(canet) {
  nn::NetSpec spec;
  spec.name = "canet";
  spec.summary = "CANet (Liu et al. 2019), zh320 models/canet.py: spatial branch, MobileNetV2 or torchvision ResNet "
                 "context branch, feature cross attention, 8x transposed-conv upsampling";
  spec.args = {
      {"n_channel", 3, {}, "input channels of the spatial branch (the encoders take 3, as upstream)"},
      {"backbone_type", "mobilenet_v2", {"mobilenet_v2"}, "encoder of the context branch"},
      {"act_type", "relu", {}, "activation of the spatial branch and the fusion ConvBNAct (built inplace upstream)"},
  };
  for (const auto& name : resnet_types()) spec.args[1].choices.push_back(name);
  for (const auto& name : zh320::inplace_activation_names()) spec.args[2].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<CANet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                   a["backbone_type"].get<std::string>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
