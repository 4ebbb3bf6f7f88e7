#include "nets/sqnet.h"

#include <array>
#include <initializer_list>
#include <string>

#include "autograd/arith.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// SqueezeNet's fire module: a 1x1 squeeze, then 1x1 and 3x3 expansions of it,
// concatenated (1x1 first).
class FireModule : public nn::Module {
 public:
  FireModule(int64_t in_channels, int64_t sq_channels, int64_t ex1_channels, int64_t ex3_channels,
             const std::string& act)
      : nn::Module("FireModule") {
    conv_squeeze_ = register_module("conv_squeeze", conv_bn_act(in_channels, sq_channels, 1, 1, 1, 1, false, act));
    conv_expand1_ = register_module("conv_expand1", conv_bn_act(sq_channels, ex1_channels, 1, 1, 1, 1, false, act));
    conv_expand3_ = register_module("conv_expand3", conv_bn_act(sq_channels, ex3_channels, 3, 1, 1, 1, false, act));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor squeezed = (*conv_squeeze_)(x);
    return fn::cat({(*conv_expand1_)(squeezed), (*conv_expand3_)(squeezed)}, 1);
  }

 private:
  nn::ModulePtr conv_squeeze_, conv_expand1_, conv_expand3_;
};

// Four 3x3 ConvBNActs of the same input at dilations 1, 2, 4, 8, summed.
class ParallelDilatedConv : public nn::Module {
 public:
  ParallelDilatedConv(int64_t in_channels, int64_t out_channels, const std::string& act)
      : nn::Module("ParallelDilatedConv") {
    const std::array<int64_t, 4> dilations = {1, 2, 4, 8};
    for (size_t i = 0; i < dilations.size(); ++i) {
      convs_[i] = register_module("conv" + std::to_string(i),
                                  conv_bn_act(in_channels, out_channels, 3, 1, dilations[i], 1, false, act));
    }
  }
  Tensor forward(const Tensor& x) override {
    Tensor sum = (*convs_[0])(x);
    for (size_t i = 1; i < convs_.size(); ++i) sum = fn::add(sum, (*convs_[i])(x));
    return sum;
  }

 private:
  std::array<nn::ModulePtr, 4> convs_;
};

std::shared_ptr<nn::Sequential> fires(std::initializer_list<std::array<int64_t, 4>> settings, const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  for (const auto& s : settings) seq->push_back(std::make_shared<FireModule>(s[0], s[1], s[2], s[3], act));
  return seq;
}

}  // namespace

namespace sqnet_parts {

// The encoder feature gets its own 3x3 ConvBNAct, is concatenated before the
// upsampled decoder feature, and a 3x3 ConvBNAct fuses them.
class BypassRefinementModule : public nn::Module {
 public:
  BypassRefinementModule(int64_t low_channels, int64_t high_channels, int64_t out_channels, const std::string& act)
      : nn::Module("BypassRefinementModule") {
    conv_low_ = register_module("conv_low", conv_bn_act(low_channels, low_channels, 3, 1, 1, 1, false, act));
    conv_cat_ = register_module("conv_cat",
                                conv_bn_act(low_channels + high_channels, out_channels, 3, 1, 1, 1, false, act));
  }
  Tensor forward2(const Tensor& x_low, const Tensor& x_high) {
    return observed_call({x_low, x_high}, [&] { return (*conv_cat_)(fn::cat({(*conv_low_)(x_low), x_high}, 1)); });
  }

 private:
  nn::ModulePtr conv_low_, conv_cat_;
};

}  // namespace sqnet_parts

SQNet::SQNet(int64_t num_classes, int64_t n_channel, const std::string& act_type) : nn::SegNet("SQNet") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "SQNet: num_classes (", num_classes, ") and n_channel (", n_channel,
                ") must be positive");
  using sqnet_parts::BypassRefinementModule;
  conv_ = register_module("conv", conv_bn_act(n_channel, 64, 3, 2, 1, 1, false, act_type));
  pool1_ = register_module("pool1", std::make_shared<nn::MaxPool2d>(3, 2, 1));
  fire1_ = register_module("fire1", fires({{64, 16, 64, 64}, {128, 16, 64, 64}}, act_type));
  pool2_ = register_module("pool2", std::make_shared<nn::MaxPool2d>(3, 2, 1));
  fire2_ = register_module("fire2", fires({{128, 32, 128, 128}, {256, 32, 128, 128}}, act_type));
  pool3_ = register_module("pool3", std::make_shared<nn::MaxPool2d>(3, 2, 1));
  fire3_ = register_module(
      "fire3", fires({{256, 48, 192, 192}, {384, 48, 192, 192}, {384, 64, 256, 256}, {512, 64, 256, 256}}, act_type));
  pdc_ = register_module("pdc", std::make_shared<ParallelDilatedConv>(512, 128, act_type));
  const auto up = [&](int64_t channels) {
    return std::make_shared<zh320::DeConvBNAct>(channels, channels, 2, std::nullopt, std::nullopt, act_type);
  };
  up1_ = register_module("up1", up(128));
  refine1_ = register_module("refine1", std::make_shared<BypassRefinementModule>(256, 128, 128, act_type));
  up2_ = register_module("up2", up(128));
  refine2_ = register_module("refine2", std::make_shared<BypassRefinementModule>(128, 128, 64, act_type));
  up3_ = register_module("up3", up(64));
  refine3_ = register_module("refine3", std::make_shared<BypassRefinementModule>(64, 64, num_classes, act_type));
  up4_ = register_module("up4", up(num_classes));
}

Tensor SQNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "SQNet: input ", x.str(), " must be [N, C, H, W]");
  CUDASEG_CHECK((x.size(2) + 1) / 2 % 8 == 0 && (x.size(3) + 1) / 2 % 8 == 0, "SQNet: input ", x.str(),
                " needs ceil(H/2) and ceil(W/2) multiples of 8 (the decoder doubles 1/16 back to each skip)");
  const Tensor x1 = (*conv_)(x);
  const Tensor x2 = (*fire1_)((*pool1_)(x1));
  const Tensor x3 = (*fire2_)((*pool2_)(x2));
  Tensor y = (*pdc_)((*fire3_)((*pool3_)(x3)));
  y = refine1_->forward2(x3, (*up1_)(y));
  y = refine2_->forward2(x2, (*up2_)(y));
  y = refine3_->forward2(x1, (*up3_)(y));
  return (*up4_)(y);
}

CUDASEG_REGISTER_NETS(sqnet) {
  nn::NetSpec spec;
  spec.name = "sqnet";
  spec.summary = "SQNet (Treml et al. 2016), zh320 models/sqnet.py: SqueezeNet-1.1 fire encoder, parallel dilated "
                 "conv, transposed-conv decoder with bypass refinement";
  spec.args = {
      {"act_type", "elu", {}, "activation of every ConvBNAct (zh320 Activation names)"},
      {"n_channel", 3, {}, "input channels"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[0].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<SQNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                   a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 16; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
