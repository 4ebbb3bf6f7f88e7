#include "nets/aglnet.h"

#include <array>
#include <optional>
#include <vector>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/resize.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/enet.h"
#include "nets/lednet.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv1x1;
using zh320::conv_bn_act;

std::shared_ptr<nn::Sequential> ss_blocks(int64_t channels, const std::vector<int64_t>& dilations,
                                          const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t d : dilations) seq->push_back(std::make_shared<lednet::SSnbtUnit>(channels, d, act));
  return seq;
}

// One channel from here on: strided 1xk then kx1 ConvBNActs at three levels
// (k = 7, 5, 3), summed top-down by bilinear resizing back to the input size.
class PyramidFeatureAttention : public nn::Module {
 public:
  PyramidFeatureAttention(int64_t channels, const std::string& act) : nn::Module("PyramidFeatureAttention") {
    conv11_ = register_module("conv11", conv_bn_act(channels, 1, nn::Pair{1, 7}, 2, 1, 1, false, act));
    conv12_ = register_module("conv12", conv_bn_act(1, 1, nn::Pair{7, 1}, 1, 1, 1, false, act));
    conv21_ = register_module("conv21", conv_bn_act(1, 1, nn::Pair{1, 5}, 2, 1, 1, false, act));
    conv22_ = register_module("conv22", conv_bn_act(1, 1, nn::Pair{5, 1}, 1, 1, 1, false, act));
    conv31_ = register_module("conv31", conv_bn_act(1, 1, nn::Pair{1, 3}, 2, 1, 1, false, act));
    conv32_ = register_module("conv32", conv_bn_act(1, 1, nn::Pair{3, 1}, 1, 1, 1, false, act));
  }

  Tensor forward(const Tensor& x) override {
    const Tensor y1 = (*conv11_)(x);
    const Tensor y2 = (*conv21_)(y1);
    const Tensor y3 = (*conv32_)((*conv31_)(y2));
    const Tensor level2 = fn::add(zh320::resize_bilinear_ac(y3, y2), (*conv22_)(y2));
    const Tensor level1 = fn::add(zh320::resize_bilinear_ac(level2, y1), (*conv12_)(y1));
    return zh320::resize_bilinear_ac(level1, x);
  }

 private:
  nn::ModulePtr conv11_, conv12_, conv21_, conv22_, conv31_, conv32_;
};

// x * conv(pfa(x)) + the globally pooled conv of x.
class FAPM : public nn::Module {
 public:
  FAPM(int64_t channels, const std::string& act) : nn::Module("FAPM") {
    pfa_ = register_module("pfa", std::make_shared<PyramidFeatureAttention>(channels, act));
    conv_ = register_module("conv", conv1x1(1, channels));
    auto gp = std::make_shared<nn::Sequential>();
    gp->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1)).push_back(conv1x1(channels, channels));
    gp_ = register_module("gp", gp);
  }

  Tensor forward(const Tensor& x) override {
    const Tensor attention = (*conv_)((*pfa_)(x));
    return fn::add(fn::mul(x, attention), zh320::resize_bilinear_ac((*gp_)(x), x));
  }

 private:
  nn::ModulePtr pfa_, conv_, gp_;
};

// x * sigmoid(conv1x1(x) to one channel).
class SpatialAttentionBlock : public nn::Module {
 public:
  explicit SpatialAttentionBlock(int64_t channels) : nn::Module("SpatialAttentionBlock") {
    conv_ = register_module("conv", conv1x1(channels, 1));
  }
  Tensor forward(const Tensor& x) override { return fn::mul(x, fn::sigmoid((*conv_)(x))); }

 private:
  nn::ModulePtr conv_;
};

// x * sigmoid(conv1x1(global average of x)).
class ChannelAttentionBlock : public nn::Module {
 public:
  ChannelAttentionBlock(int64_t in_channels, int64_t out_channels) : nn::Module("ChannelAttentionBlock") {
    pool_ = register_module("pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    conv_ = register_module("conv", conv1x1(in_channels, out_channels));
  }
  Tensor forward(const Tensor& x) override { return fn::mul(x, fn::sigmoid((*conv_)((*pool_)(x)))); }

 private:
  nn::ModulePtr pool_, conv_;
};

}  // namespace

namespace aglnet {

// The deeper map, doubled by up_conv (ConvTranspose2d k3 s2 p1 op1 with a
// bias, BatchNorm, act), times the spatially attended skip; that product p
// gives cab(p) * p + up, as upstream (the channel attention's output is
// multiplied by its own input once more).
class GAUM : public nn::Module {
 public:
  GAUM(int64_t low_channels, int64_t high_channels, int64_t out_channels, const std::string& act)
      : nn::Module("GAUM") {
    nn::ConvTranspose2dOptions o;
    o.kernel_size = {3, 3};
    o.stride = {2, 2};
    o.padding = {1, 1};
    o.output_padding = {1, 1};
    auto up = std::make_shared<nn::Sequential>();
    up->push_back(std::make_shared<nn::ConvTranspose2d>(high_channels, low_channels, o));
    up->push_back(std::make_shared<nn::BatchNorm2d>(low_channels));
    up->push_back(std::make_shared<zh320::Activation>(act));
    up_conv_ = register_module("up_conv", up);
    sab_ = register_module("sab", std::make_shared<SpatialAttentionBlock>(low_channels));
    cab_ = register_module("cab", std::make_shared<ChannelAttentionBlock>(low_channels, out_channels));
  }

  Tensor forward2(const Tensor& x_high, const Tensor& x_low) {
    return observed_call({x_high, x_low}, [&] {
      const Tensor low = (*sab_)(x_low);
      const Tensor up = (*up_conv_)(x_high);
      CUDASEG_CHECK(up.size(2) == low.size(2) && up.size(3) == low.size(3), "AGLNet GAUM: the upsampled map ",
                    up.str(), " does not match the skip ", low.str(), " (input H and W multiples of 8 work)");
      const Tensor gated = fn::mul(up, low);
      return fn::add(fn::mul((*cab_)(gated), gated), up);
    });
  }

 private:
  nn::ModulePtr up_conv_, sab_, cab_;
};

}  // namespace aglnet

AGLNet::AGLNet(int64_t num_classes, int64_t n_channel, const std::string& act_type)
    : nn::SegNet("AGLNet"), n_channel_(n_channel) {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "AGLNet: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  const std::string& act = act_type;
  layer1_ = register_module("layer1", std::make_shared<enet::InitialBlock>(n_channel, 32, act));
  layer2_4_ = register_module("layer2_4", ss_blocks(32, {1, 1, 1}, act));
  layer5_ = register_module("layer5", std::make_shared<enet::InitialBlock>(32, 64, act));
  layer6_7_ = register_module("layer6_7", ss_blocks(64, {1, 1}, act));
  layer8_ = register_module("layer8", std::make_shared<enet::InitialBlock>(64, 128, act));
  layer9_16_ = register_module("layer9_16", ss_blocks(128, {1, 2, 5, 9, 2, 5, 9, 17}, act));
  layer17_ = register_module("layer17", std::make_shared<FAPM>(128, act));
  layer18_ = register_module("layer18", std::make_shared<aglnet::GAUM>(64, 128, 64, act));
  layer19_ = register_module("layer19", std::make_shared<aglnet::GAUM>(32, 64, 32, act));
  layer20_ = register_module("layer20", conv1x1(32, num_classes));
}

Tensor AGLNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == n_channel_, "AGLNet: expected input [N, ", n_channel_,
                ", H, W], got ", x.str());
  const Tensor s1 = (*layer2_4_)((*layer1_)(x));
  const Tensor s2 = (*layer6_7_)((*layer5_)(s1));
  Tensor y = (*layer17_)((*layer9_16_)((*layer8_)(s2)));
  y = layer18_->forward2(y, s2);
  y = layer19_->forward2(y, s1);
  return zh320::resize_bilinear_ac((*layer20_)(y), x);
}

CUDASEG_REGISTER_NETS(aglnet) {
  nn::NetSpec spec;
  spec.name = "aglnet";
  spec.summary = "AGLNet (Zhou et al. 2020), zh320's models/aglnet.py: SS-nbt encoder, FAPM, two GAUM decoders";
  spec.args = {
      {"n_channel", 3, {}, "input channels (below 32)"},
      {"act_type", "relu", {}, "activation (zh320 names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[1].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<AGLNet>(a.at("num_classes").get<int64_t>(), a.at("n_channel").get<int64_t>(),
                                    a.at("act_type").get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
