#include "nets/linknet.h"

#include "autograd/arith.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// 1x1 ConvBNAct to in/4 channels, a 2x DeConvBNAct (a 3x3 ConvBNAct when
// scale_factor is 1: the stride-4 block), 1x1 ConvBNAct to out channels.
class DecoderBlock : public nn::Module {
 public:
  DecoderBlock(int64_t in_channels, int64_t out_channels, const std::string& act_type, int64_t scale_factor = 2)
      : nn::Module("DecoderBlock") {
    const int64_t hid = in_channels / 4;
    conv1_ = register_module("conv1", conv_bn_act(in_channels, hid, 1, 1, 1, 1, false, act_type));
    if (scale_factor > 1)
      full_conv_ = register_module("full_conv", std::make_shared<zh320::DeConvBNAct>(hid, hid, scale_factor,
                                                                                     std::nullopt, std::nullopt,
                                                                                     act_type));
    else
      full_conv_ = register_module("full_conv", conv_bn_act(hid, hid, 3, 1, 1, 1, false, act_type));
    conv2_ = register_module("conv2", conv_bn_act(hid, out_channels, 1, 1, 1, 1, false, act_type));
  }
  Tensor forward(const Tensor& x) override { return (*conv2_)((*full_conv_)((*conv1_)(x))); }

 private:
  nn::ModulePtr conv1_, full_conv_, conv2_;
};

}  // namespace

LinkNet::LinkNet(int64_t num_classes, int64_t n_channel, const std::string& backbone_type,
                 const std::string& act_type)
    : nn::SegNet("LinkNet") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "LinkNet: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  backbone_ = register_module("backbone", std::make_shared<ResNet>(backbone_type));
  const auto& c = backbone_->channels();
  dec_block4_ = register_module("dec_block4", std::make_shared<DecoderBlock>(c[3], c[2], act_type));
  dec_block3_ = register_module("dec_block3", std::make_shared<DecoderBlock>(c[2], c[1], act_type));
  dec_block2_ = register_module("dec_block2", std::make_shared<DecoderBlock>(c[1], c[0], act_type));
  dec_block1_ = register_module("dec_block1", std::make_shared<DecoderBlock>(c[0], c[0], act_type, 1));
  const int64_t hid = c[0] / 2;
  auto head = std::make_shared<nn::Sequential>();
  head->push_back(std::make_shared<zh320::DeConvBNAct>(c[0], hid, 2, std::nullopt, std::nullopt, act_type));
  head->push_back(conv_bn_act(hid, hid, 3, 1, 1, 1, false, act_type));
  head->push_back(std::make_shared<zh320::DeConvBNAct>(hid, num_classes, 2, std::nullopt, std::nullopt, act_type));
  seg_head_ = register_module("seg_head", head);
}

Tensor LinkNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "LinkNet: input ", x.str(),
                " must be [N, 3, H, W] with H and W multiples of 32");
  const auto [x1, x2, x3, x4] = backbone_->forward_features(x);
  Tensor y = (*dec_block4_)(x4);
  y = (*dec_block3_)(fn::add(y, x3));
  y = (*dec_block2_)(fn::add(y, x2));
  y = (*dec_block1_)(fn::add(y, x1));
  return (*seg_head_)(y);
}

CUDASEG_REGISTER_NETS(linknet) {
  nn::NetSpec spec;
  spec.name = "linknet";
  spec.summary = "LinkNet (Chaurasia and Culurciello 2017), zh320 models/linknet.py: torchvision ResNet encoder, "
                 "additive skips into 1x1 / transposed-conv / 1x1 decoder blocks";
  spec.args = {
      {"n_channel", 3, {}, "input channels (upstream accepts and ignores it: the ResNet stem takes 3)"},
      {"backbone_type", "resnet18", {}, "torchvision ResNet of the encoder"},
      {"act_type", "relu", {}, "activation of every ConvBNAct / DeConvBNAct (zh320 Activation names)"},
  };
  for (const auto& name : resnet_types()) spec.args[1].choices.push_back(name);
  for (const auto& name : zh320::activation_names()) spec.args[2].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<LinkNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                     a["backbone_type"].get<std::string>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
