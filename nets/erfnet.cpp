#include "nets/erfnet.h"

#include <memory>
#include <vector>

#include "autograd/arith.h"
#include "nets/enet.h"
#include "nets/zh320_modules.h"
#include "nn/fuse.h"
#include "nn/registry.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// Non-bottleneck-1D: conv = 3x1, 1x3 (each ConvBNAct with ReLU whatever
// act_type, as upstream), 3x1 dilated (ConvBNAct) and a bare dilated 1x3; the
// sum with the input then goes through bn_act (BatchNorm2d, act_type).
class NonBt1DBlock : public nn::Module {
 public:
  NonBt1DBlock(int64_t channels, int64_t dilation, const std::string& act_type) : nn::Module("NonBt1DBlock") {
    nn::Conv2dOptions last;
    last.kernel_size = {1, 3};
    last.padding = {0, dilation};
    last.dilation = {dilation, dilation};
    last.bias = false;
    auto conv = std::make_shared<nn::Sequential>();
    conv->push_back(conv_bn_act(channels, channels, nn::Pair{3, 1}))
        .push_back(conv_bn_act(channels, channels, nn::Pair{1, 3}))
        .push_back(conv_bn_act(channels, channels, nn::Pair{3, 1}, 1, dilation))
        .push_back(std::make_shared<nn::Conv2d>(channels, channels, last));
    conv_ = register_module("conv", conv);
    auto bn_act = std::make_shared<nn::Sequential>();
    bn_act->push_back(std::make_shared<nn::BatchNorm2d>(channels))
        .push_back(std::make_shared<zh320::Activation>(act_type));
    bn_act_ = register_module("bn_act", bn_act);
  }

  Tensor forward(const Tensor& x) override { return nn::activate_sum(*bn_act_, (*conv_)(x), x); }

 private:
  nn::ModulePtr conv_, bn_act_;
};

std::shared_ptr<nn::Sequential> build_blocks(int64_t channels, const std::vector<int64_t>& dilations,
                                             const std::string& act_type) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t d : dilations) seq->push_back(std::make_shared<NonBt1DBlock>(channels, d, act_type));
  return seq;
}

}  // namespace

ERFNet::ERFNet(const ERFNetOptions& o) : nn::SegNet("ERFNet") {
  const std::string& act = o.act_type;
  layer1_ = register_module("layer1", std::make_shared<enet::InitialBlock>(o.n_channel, 16, act));
  layer2_ = register_module("layer2", std::make_shared<enet::InitialBlock>(16, 64, act));
  layer3_7_ = register_module("layer3_7", build_blocks(64, {1, 1, 1, 1, 1}, act));
  layer8_ = register_module("layer8", std::make_shared<enet::InitialBlock>(64, 128, act));
  layer9_16_ = register_module("layer9_16", build_blocks(128, {2, 4, 8, 16, 2, 4, 8, 16}, act));
  layer17_ = register_module("layer17", std::make_shared<zh320::DeConvBNAct>(128, 64, 2, std::nullopt,
                                                                             std::nullopt, act));
  layer18_19_ = register_module("layer18_19", build_blocks(64, {1, 1}, act));
  layer20_ = register_module("layer20", std::make_shared<zh320::DeConvBNAct>(64, 16, 2, std::nullopt,
                                                                             std::nullopt, act));
  layer21_22_ = register_module("layer21_22", build_blocks(16, {1, 1}, act));
  layer23_ = register_module("layer23", std::make_shared<zh320::DeConvBNAct>(16, o.num_classes, 2, std::nullopt,
                                                                             std::nullopt, act));
}

Tensor ERFNet::forward(const Tensor& x) {
  Tensor y = (*layer3_7_)((*layer2_)((*layer1_)(x)));
  y = (*layer9_16_)((*layer8_)(y));
  y = (*layer18_19_)((*layer17_)(y));
  y = (*layer21_22_)((*layer20_)(y));
  return (*layer23_)(y);
}

CUDASEG_REGISTER_NETS(erfnet) {
  nn::NetSpec spec;
  spec.name = "erfnet";
  spec.summary = "ERFNet (Romera et al. 2018), zh320 models/erfnet.py: factorised residual blocks, deconv decoder";
  spec.args = {
      {"n_channel", 3, {}, "input channels (below 16)"},
      {"act_type", "relu", {}, "activation (zh320 names whose torch class takes inplace)"},
  };
  for (const auto& name : zh320::inplace_activation_names()) spec.args[1].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    ERFNetOptions o;
    o.num_classes = a.at("num_classes").get<int64_t>();
    o.n_channel = a.at("n_channel").get<int64_t>();
    o.act_type = a.at("act_type").get<std::string>();
    return std::make_shared<ERFNet>(o);
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
