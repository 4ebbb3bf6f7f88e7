#include "nets/swiftnet.h"

#include "autograd/arith.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/resnet.h"
#include "nets/zh320_backbone.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {

namespace swiftnet_parts {

// Three rungs: x = up_stageK(2x bilinear(x) + xK) for K = 3, 2, 1; the last
// one projects to the classes.
class Decoder : public nn::Module {
 public:
  Decoder(int64_t channels, int64_t num_classes, const std::string& act_type) : nn::Module("Decoder") {
    up_stage3_ = register_module("up_stage3", zh320::conv_bn_act(channels, channels, 3, 1, 1, 1, false, act_type));
    up_stage2_ = register_module("up_stage2", zh320::conv_bn_act(channels, channels, 3, 1, 1, 1, false, act_type));
    up_stage1_ =
        register_module("up_stage1", zh320::conv_bn_act(channels, num_classes, 3, 1, 1, 1, false, act_type));
  }
  Tensor forward4(const Tensor& x, const Tensor& x1, const Tensor& x2, const Tensor& x3) {
    return observed_call({x, x1, x2, x3}, [&] {
      Tensor y = (*up_stage3_)(fn::add(zh320::scale_bilinear_ac(x, 2.0), x3));
      y = (*up_stage2_)(fn::add(zh320::scale_bilinear_ac(y, 2.0), x2));
      return (*up_stage1_)(fn::add(zh320::scale_bilinear_ac(y, 2.0), x1));
    });
  }

 private:
  nn::ModulePtr up_stage3_, up_stage2_, up_stage1_;
};

}  // namespace swiftnet_parts

SwiftNet::SwiftNet(int64_t num_classes, int64_t n_channel, const std::string& backbone_type, int64_t up_channels,
                   const std::string& act_type)
    : nn::SegNet("SwiftNet") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0 && up_channels > 0, "SwiftNet: num_classes (", num_classes,
                "), n_channel (", n_channel, ") and up_channels (", up_channels, ") must be positive");
  const Zh320Backbone backbone = make_zh320_backbone(backbone_type);
  backbone_ = register_module("backbone", backbone.module);
  features_ = backbone.features;
  const std::array<int64_t, 4> channels = backbone.channels;
  const auto connection = [&](int i) {
    return zh320::conv_bn_act(channels[i], up_channels, 1, 1, 1, 1, false, act_type);
  };
  connection1_ = register_module("connection1", connection(0));
  connection2_ = register_module("connection2", connection(1));
  connection3_ = register_module("connection3", connection(2));
  spp_ = register_module("spp",
                         std::make_shared<zh320::PyramidPoolingModule>(channels[3], up_channels, act_type, true));
  decoder_ = register_module("decoder", std::make_shared<swiftnet_parts::Decoder>(up_channels, num_classes, act_type));
}

Tensor SwiftNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "SwiftNet: input ", x.str(),
                " must be [N, 3, H, W] with H and W multiples of 32");
  const auto [x1, x2, x3, x4] = features_(x);
  const Tensor y = decoder_->forward4((*spp_)(x4), (*connection1_)(x1), (*connection2_)(x2), (*connection3_)(x3));
  return zh320::resize_bilinear_ac(y, x.size(2), x.size(3));
}

CUDASEG_REGISTER_NETS(swiftnet) {
  nn::NetSpec spec;
  spec.name = "swiftnet";
  spec.summary = "SwiftNet (Orsic et al. 2019), zh320 models/swiftnet.py: torchvision ResNet or MobileNetV2 "
                 "encoder, pyramid pooling, ladder decoder with 1x1 lateral connections";
  spec.args = {
      {"n_channel", 3, {}, "input channels (upstream accepts and ignores it: the backbones take 3)"},
      {"backbone_type", "resnet18", {}, "torchvision encoder"},
      {"up_channels", 128, {}, "channels of the lateral connections, pyramid pooling and decoder"},
      {"act_type", "relu", {}, "activation of every ConvBNAct (zh320 Activation names)"},
  };
  for (const auto& name : resnet_types()) spec.args[1].choices.push_back(name);
  spec.args[1].choices.push_back("mobilenet_v2");
  for (const auto& name : zh320::activation_names()) spec.args[3].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<SwiftNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                      a["backbone_type"].get<std::string>(), a["up_channels"].get<int64_t>(),
                                      a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
