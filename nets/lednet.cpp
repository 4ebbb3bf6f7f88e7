#include "nets/lednet.h"

#include <array>
#include <optional>

#include "autograd/arith.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/enet.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// A plain (biased) k x 1 or 1 x k conv of an SS-nbt branch, padded to keep the size.
std::shared_ptr<nn::Conv2d> factor_conv(int64_t channels, nn::Pair kernel, int64_t dilation) {
  nn::Conv2dOptions o;
  o.kernel_size = kernel;
  o.padding = {(kernel[0] - 1) / 2 * dilation, (kernel[1] - 1) / 2 * dilation};
  o.dilation = {dilation, dilation};
  return std::make_shared<nn::Conv2d>(channels, channels, o);
}

// The branch's two factorised pairs: `first` then `second` kernel, the second pair dilated.
std::shared_ptr<nn::Sequential> ss_branch(int64_t c, nn::Pair first, nn::Pair second, int64_t dilation,
                                          const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(factor_conv(c, first, 1));
  seq->push_back(std::make_shared<zh320::Activation>(act));
  seq->push_back(conv_bn_act(c, c, second, 1, 1, 1, false, act));
  seq->push_back(factor_conv(c, first, dilation));
  seq->push_back(std::make_shared<zh320::Activation>(act));
  seq->push_back(conv_bn_act(c, c, second, 1, dilation, 1, false, act));
  return seq;
}

std::shared_ptr<nn::Sequential> cba3(int64_t in, int64_t out, int64_t stride, const std::string& act) {
  return conv_bn_act(in, out, 3, stride, 1, 1, false, act);
}

// Three stride-2 levels, each merged into the one above after a 3x3
// ConvBNAct to out_channels; the merged map gates a 3x3 ConvBNAct of the
// input, and the globally pooled branch is added.
class AttentionPyramidNetwork : public nn::Module {
 public:
  AttentionPyramidNetwork(int64_t in, int64_t out, const std::string& act) : nn::Module("AttentionPyramidNetwork") {
    left_conv1_1_ = register_module("left_conv1_1", cba3(in, in, 2, act));
    left_conv1_2_ = register_module("left_conv1_2", cba3(in, out, 1, act));
    left_conv2_1_ = register_module("left_conv2_1", cba3(in, in, 2, act));
    left_conv2_2_ = register_module("left_conv2_2", cba3(in, out, 1, act));
    auto conv3 = std::make_shared<nn::Sequential>();
    conv3->push_back(cba3(in, in, 2, act)).push_back(cba3(in, out, 1, act));
    left_conv3_ = register_module("left_conv3", conv3);
    mid_branch_ = register_module("mid_branch", cba3(in, out, 1, act));
    auto right = std::make_shared<nn::Sequential>();
    right->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1)).push_back(cba3(in, out, 1, act));
    right_branch_ = register_module("right_branch", right);
  }

  Tensor forward(const Tensor& x) override {
    const Tensor x1 = (*left_conv1_1_)(x);
    const Tensor x2 = (*left_conv2_1_)(x1);
    const Tensor x3 = zh320::resize_bilinear_ac((*left_conv3_)(x2), x2);
    const Tensor level2 = zh320::resize_bilinear_ac(fn::add((*left_conv2_2_)(x2), x3), x1);
    const Tensor level1 = zh320::resize_bilinear_ac(fn::add((*left_conv1_2_)(x1), level2), x);
    const Tensor mid = fn::mul(level1, (*mid_branch_)(x));
    return fn::add(mid, zh320::resize_bilinear_ac((*right_branch_)(x), x));
  }

 private:
  nn::ModulePtr left_conv1_1_, left_conv1_2_, left_conv2_1_, left_conv2_2_, left_conv3_, mid_branch_,
      right_branch_;
};

}  // namespace

namespace lednet {

SSnbtUnit::SSnbtUnit(int64_t channels, int64_t dilation, const std::string& act_type)
    : nn::Module("SSnbtUnit"), split_channels_(channels / 2) {
  CUDASEG_CHECK(channels % 2 == 0, "SSnbtUnit: channels (", channels, ") must be even");
  left_branch_ = register_module("left_branch",
                                 ss_branch(split_channels_, {3, 1}, {1, 3}, dilation, act_type));
  right_branch_ = register_module("right_branch",
                                  ss_branch(split_channels_, {1, 3}, {3, 1}, dilation, act_type));
  act_ = register_module("act", std::make_shared<zh320::Activation>(act_type));
}

Tensor SSnbtUnit::forward(const Tensor& x) {
  const int64_t s = split_channels_;
  const Tensor left = (*left_branch_)(fn::slice(x, 1, 0, s));
  const Tensor right = (*right_branch_)(fn::slice(x, 1, s, 2 * s));
  return fn::channel_shuffle(nn::activate_sum(*act_, x, fn::cat({left, right}, 1)), 2);
}

}  // namespace lednet

LEDNet::LEDNet(int64_t num_classes, int64_t n_channel, const std::string& act_type)
    : nn::SegNet("LEDNet"), n_channel_(n_channel) {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "LEDNet: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  auto encoder = std::make_shared<nn::Sequential>();
  auto ss = [&](int64_t channels, int64_t dilation) {
    encoder->push_back(std::make_shared<lednet::SSnbtUnit>(channels, dilation, act_type));
  };
  encoder->push_back(std::make_shared<enet::InitialBlock>(n_channel, 32, act_type));
  for (int i = 0; i < 3; ++i) ss(32, 1);
  encoder->push_back(std::make_shared<enet::InitialBlock>(32, 64, act_type));
  for (int i = 0; i < 2; ++i) ss(64, 1);
  encoder->push_back(std::make_shared<enet::InitialBlock>(64, 128, act_type));
  for (int64_t d : {1, 2, 5, 9, 2, 5, 9, 17}) ss(128, d);
  encoder_ = register_module("encoder", encoder);
  apn_ = register_module("apn", std::make_shared<AttentionPyramidNetwork>(128, num_classes, act_type));
}

Tensor LEDNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == n_channel_, "LEDNet: expected input [N, ", n_channel_,
                ", H, W], got ", x.str());
  return zh320::resize_bilinear_ac((*apn_)((*encoder_)(x)), x);
}

CUDASEG_REGISTER_NETS(lednet) {
  nn::NetSpec spec;
  spec.name = "lednet";
  spec.summary = "LEDNet (Wang et al. 2019), zh320's models/lednet.py: SS-nbt encoder, attention pyramid decoder";
  spec.args = {
      {"n_channel", 3, {}, "input channels (below 32)"},
      {"act_type", "relu", {}, "activation (zh320 names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[1].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<LEDNet>(a.at("num_classes").get<int64_t>(), a.at("n_channel").get<int64_t>(),
                                    a.at("act_type").get<std::string>());
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
