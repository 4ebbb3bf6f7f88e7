#include "nets/fpenet.h"

#include <array>
#include <optional>
#include <vector>

#include "autograd/arith.h"
#include "autograd/reduce.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "nets/zh320_separable.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

std::shared_ptr<nn::Sequential> conv1x1_bn_act(int64_t in_channels, int64_t out_channels, const std::string& act) {
  return conv_bn_act(in_channels, out_channels, 1, 1, 1, 1, false, act);
}

// The expansion is split into one group per dilation; each group's depth-wise
// output is added to the next group's, so group i sees receptive fields of
// all dilations up to its own.
class FPEBlock : public nn::Module {
 public:
  FPEBlock(int64_t in_channels, int64_t out_channels, int64_t expansion, int64_t stride, const std::string& act)
      : nn::Module("FPEBlock"), use_skip_(in_channels == out_channels && stride == 1) {
    const std::vector<int64_t> dilations = {1, 2, 4, 8};
    const int64_t expand_channels = out_channels * expansion;
    ch_ = expand_channels / static_cast<int64_t>(dilations.size());
    CUDASEG_CHECK(ch_ > 0, "FPEBlock: ", expand_channels, " expanded channels cannot be split into ",
                  dilations.size(), " groups");
    conv_init_ = register_module("conv_init", conv1x1_bn_act(in_channels, expand_channels, act));
    layers_ = register_module("layers", std::make_shared<nn::ModuleList>());
    for (int64_t d : dilations) layers_->push_back(zh320::dw_conv_bn_act(ch_, ch_, 3, stride, d, act));
    conv_last_ = register_module("conv_last", conv1x1_bn_act(expand_channels, out_channels, act));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor expanded = (*conv_init_)(x);
    std::vector<Tensor> feats;
    for (size_t i = 0; i < layers_->size(); ++i) {
      Tensor f = (*(*layers_)[i])(fn::narrow(expanded, 1, static_cast<int64_t>(i) * ch_, ch_));
      feats.push_back(feats.empty() ? f : fn::add(f, feats.back()));
    }
    const Tensor y = (*conv_last_)(fn::cat(feats, 1));
    return use_skip_ ? fn::add(y, x) : y;
  }

 private:
  bool use_skip_;
  int64_t ch_ = 0;
  nn::ModulePtr conv_init_, conv_last_;
  std::shared_ptr<nn::ModuleList> layers_;
};

// A 1x1 ConvBNAct on the channel mean: one attention map for all channels.
class SpatialAttentionBlock : public nn::Module {
 public:
  explicit SpatialAttentionBlock(const std::string& act) : nn::Module("SpatialAttentionBlock") {
    conv_ = register_module("conv", conv1x1_bn_act(1, 1, act));
  }
  Tensor forward(const Tensor& x) override { return (*conv_)(fn::mean(x, {1}, true)); }

 private:
  nn::ModulePtr conv_;
};

std::shared_ptr<nn::Sequential> stack_blocks(int64_t channels, int64_t num_block, int64_t expansion,
                                             const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t i = 0; i < num_block; ++i)
    seq->push_back(std::make_shared<FPEBlock>(channels, channels, expansion, 1, act));
  return seq;
}

}  // namespace

namespace fpenet_parts {

// Mutual embedding upsampling: the high-level features are reweighted by the
// low-level ones' spatial attention (after a bilinear x2), the low-level ones
// by the high-level ones' channel attention, and the two are summed.
class MEUModule : public nn::Module {
 public:
  MEUModule(int64_t low_channels, int64_t high_channels, int64_t out_channels, const std::string& act)
      : nn::Module("MEUModule") {
    conv_low_ = register_module("conv_low", conv1x1_bn_act(low_channels, out_channels, act));
    conv_high_ = register_module("conv_high", conv1x1_bn_act(high_channels, out_channels, act));
    sa_ = register_module("sa", std::make_shared<SpatialAttentionBlock>(act));
    auto ca = std::make_shared<nn::Sequential>();
    ca->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
    ca->push_back(conv1x1_bn_act(out_channels, out_channels, act));
    ca_ = register_module("ca", ca);
  }
  Tensor forward2(const Tensor& x_low, const Tensor& x_high) {
    return observed_call({x_low, x_high}, [&] {
      const Tensor low = (*conv_low_)(x_low);
      const Tensor high = (*conv_high_)(x_high);
      const Tensor sa = (*sa_)(low);
      const Tensor ca = (*ca_)(high);
      const Tensor up = fn::interpolate(high, std::nullopt, std::array<double, 2>{2.0, 2.0}, "bilinear", true);
      return fn::add(fn::mul(low, ca), fn::mul(up, sa));
    });
  }

 private:
  nn::ModulePtr conv_low_, conv_high_, sa_, ca_;
};

}  // namespace fpenet_parts

FPENet::FPENet(int64_t num_classes, int64_t n_channel, int64_t p, int64_t q, int64_t k, const std::string& act_type)
    : nn::SegNet("FPENet"), n_channel_(n_channel) {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0 && k > 0, "FPENet: num_classes (", num_classes, "), n_channel (",
                n_channel, ") and k (", k, ") must be positive");
  auto stage1 = std::make_shared<nn::Sequential>();
  stage1->push_back(conv_bn_act(n_channel, 16, 3, 2, 1, 1, false, act_type));
  stage1->push_back(std::make_shared<FPEBlock>(16, 16, 1, 1, act_type));
  stage1_ = register_module("stage1", stage1);
  stage2_0_ = register_module("stage2_0", std::make_shared<FPEBlock>(16, 32, k, 2, act_type));
  stage2_ = register_module("stage2", stack_blocks(32, p - 1, k, act_type));
  stage3_0_ = register_module("stage3_0", std::make_shared<FPEBlock>(32, 64, k, 2, act_type));
  stage3_ = register_module("stage3", stack_blocks(64, q - 1, k, act_type));
  decoder2_ = register_module("decoder2", std::make_shared<fpenet_parts::MEUModule>(32, 64, 64, act_type));
  decoder1_ = register_module("decoder1", std::make_shared<fpenet_parts::MEUModule>(16, 64, 32, act_type));
  final_ = register_module("final", conv1x1_bn_act(32, num_classes, act_type));
}

Tensor FPENet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == n_channel_ && (x.size(2) + 1) / 2 % 4 == 0 &&
                    (x.size(3) + 1) / 2 % 4 == 0,
                "FPENet: expected input [N, ", n_channel_,
                ", H, W] with ceil(H/2) and ceil(W/2) multiples of 4 (e.g. H, W multiples of 8), got ", x.str());
  const Tensor x1 = (*stage1_)(x);
  const Tensor x2 = (*stage2_)((*stage2_0_)(x1));
  const Tensor x3 = (*stage3_)((*stage3_0_)(x2));
  const Tensor y = (*final_)(decoder1_->forward2(x1, decoder2_->forward2(x2, x3)));
  return fn::interpolate(y, std::array<int64_t, 2>{x.size(2), x.size(3)}, std::nullopt, "bilinear", true);
}

CUDASEG_REGISTER_NETS(fpenet) {
  nn::NetSpec spec;
  spec.name = "fpenet";
  spec.summary = "FPENet (Liu & Yin 2019), zh320 models/fpenet.py: feature pyramid encoding blocks, "
                 "mutual embedding upsampling decoder";
  spec.args = {
      {"n_channel", 3, {}, "input channels"},
      {"p", 3, {}, "FPE blocks at 1/4, the strided one included (below 1: as 1, like upstream)"},
      {"q", 9, {}, "FPE blocks at 1/8, the strided one included (below 1: as 1, like upstream)"},
      {"k", 4, {}, "expansion of the FPE blocks at 1/4 and 1/8"},
      {"act_type", "relu", {}, "activation of every ConvBNAct (zh320 Activation names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[4].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<FPENet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                    a["p"].get<int64_t>(), a["q"].get<int64_t>(), a["k"].get<int64_t>(),
                                    a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
