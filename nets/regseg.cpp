#include "nets/regseg.h"

#include <optional>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/shape.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// Squeeze-and-excitation: the global average of each channel through
// Linear -> act -> Linear -> sigmoid rescales that channel.
class SEBlock : public nn::Module {
 public:
  SEBlock(int64_t channels, double reduction_ratio, const std::string& act) : nn::Module("SEBlock") {
    const auto squeeze_channels = static_cast<int64_t>(static_cast<double>(channels) * reduction_ratio);
    pool_ = register_module("pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    auto se = std::make_shared<nn::Sequential>();
    se->push_back(std::make_shared<nn::Linear>(channels, squeeze_channels));
    se->push_back(std::make_shared<zh320::Activation>(act));
    se->push_back(std::make_shared<nn::Linear>(squeeze_channels, channels));
    se->push_back(std::make_shared<zh320::Activation>("sigmoid"));
    se_block_ = register_module("se_block", se);
  }
  Tensor forward(const Tensor& x) override {
    const Tensor gate = (*se_block_)(fn::flatten((*pool_)(x), 1));
    return fn::mul(x, fn::view(gate, {gate.size(0), gate.size(1), 1, 1}));
  }

 private:
  nn::ModulePtr pool_, se_block_;
};

// The D block: 1x1 ConvBNAct, then grouped 3x3 convs of group width g = 16
// (stride 1: the two channel halves, at dilations r1 and r2; stride 2: all
// channels, undilated), SE and a linear 1x1 ConvBN, plus the shortcut
// (identity, or 2x2 average pool and linear 1x1 ConvBN), then act.
class DBlock : public nn::Module {
 public:
  DBlock(int64_t in_channels, int64_t out_channels, int64_t stride, std::array<int64_t, 2> r, const std::string& act)
      : nn::Module("DBlock"), stride_(stride) {
    constexpr int64_t g = 16;
    CUDASEG_CHECK(stride == 1 || stride == 2, "RegSeg DBlock: unsupported stride ", stride);
    conv1_ = register_module("conv1", conv_bn_act(in_channels, out_channels, 1, 1, 1, 1, false, act));
    if (stride == 1) {
      CUDASEG_CHECK(in_channels == out_channels, "RegSeg DBlock: a stride-1 block keeps its channels (", in_channels,
                    " -> ", out_channels, ")");
      split_channels_ = out_channels / 2;
      const int64_t groups = split_channels_ / g;
      conv_left_ = register_module(
          "conv_left", conv_bn_act(split_channels_, split_channels_, 3, 1, r[0], groups, false, act));
      conv_right_ = register_module(
          "conv_right", conv_bn_act(split_channels_, split_channels_, 3, 1, r[1], groups, false, act));
    } else {
      conv_left_ = register_module("conv_left",
                                   conv_bn_act(out_channels, out_channels, 3, 2, 1, out_channels / g, false, act));
      auto skip = std::make_shared<nn::Sequential>();
      skip->push_back(std::make_shared<nn::AvgPool2d>(2, 2, 0));
      skip->push_back(conv_bn_act(in_channels, out_channels, 1, 1, 1, 1, false, "none"));
      conv_skip_ = register_module("conv_skip", skip);
    }
    auto conv2 = std::make_shared<nn::Sequential>();
    conv2->push_back(std::make_shared<SEBlock>(out_channels, 0.25, act));
    conv2->push_back(conv_bn_act(out_channels, out_channels, 1, 1, 1, 1, false, "none"));
    conv2_ = register_module("conv2", conv2);
    act_ = register_module("act", std::make_shared<zh320::Activation>(act));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*conv1_)(x);
    Tensor residual = x;
    if (stride_ == 1) {
      const Tensor left = (*conv_left_)(fn::narrow(y, 1, 0, split_channels_));
      const Tensor right = (*conv_right_)(fn::narrow(y, 1, split_channels_, y.size(1) - split_channels_));
      y = fn::cat({left, right}, 1);
    } else {
      y = (*conv_left_)(y);
      residual = (*conv_skip_)(x);
    }
    return nn::activate_sum(*act_, (*conv2_)(y), residual);
  }

 private:
  int64_t stride_;
  int64_t split_channels_ = 0;
  nn::ModulePtr conv1_, conv_left_, conv_right_, conv_skip_, conv2_, act_;
};

}  // namespace

namespace regseg_parts {

// 1/32 (1x1 to 128, upsampled) added to 1/8 (1x1 to 128), a 3x3 to 64,
// upsampled to 1/4 and concatenated after 1/4's 1x1 to 8 channels; a 3x3
// ConvBNAct and a bias-free 1x1 conv give the logits.
class Decoder : public nn::Module {
 public:
  Decoder(int64_t num_classes, int64_t d4_channel, int64_t d8_channel, int64_t d16_channel, const std::string& act)
      : nn::Module("Decoder") {
    conv_d16_ = register_module("conv_d16", conv_bn_act(d16_channel, 128, 1, 1, 1, 1, false, act));
    conv_d8_stage1_ = register_module("conv_d8_stage1", conv_bn_act(d8_channel, 128, 1, 1, 1, 1, false, act));
    conv_d4_stage1_ = register_module("conv_d4_stage1", conv_bn_act(d4_channel, 8, 1, 1, 1, 1, false, act));
    conv_d8_stage2_ = register_module("conv_d8_stage2", conv_bn_act(128, 64, 3, 1, 1, 1, false, act));
    auto last = std::make_shared<nn::Sequential>();
    last->push_back(conv_bn_act(64 + 8, 64, 3, 1, 1, 1, false, act));
    last->push_back(zh320::conv1x1(64, num_classes));
    conv_d4_stage2_ = register_module("conv_d4_stage2", last);
  }
  Tensor forward3(const Tensor& x_d4, const Tensor& x_d8, const Tensor& x_d16) {
    return observed_call({x_d4, x_d8, x_d16}, [&] {
      const Tensor d16 = zh320::resize_bilinear_ac((*conv_d16_)(x_d16), x_d8);
      const Tensor d8 = zh320::resize_bilinear_ac(
          (*conv_d8_stage2_)(fn::add((*conv_d8_stage1_)(x_d8), d16)), x_d4);
      return (*conv_d4_stage2_)(fn::cat({(*conv_d4_stage1_)(x_d4), d8}, 1));
    });
  }

 private:
  nn::ModulePtr conv_d16_, conv_d8_stage1_, conv_d4_stage1_, conv_d8_stage2_, conv_d4_stage2_;
};

}  // namespace regseg_parts

RegSeg::Dilations RegSeg::default_dilations() {
  return {{1, 1}, {1, 2}, {1, 2}, {1, 3}, {2, 3}, {2, 7}, {2, 3}, {2, 6}, {2, 5}, {2, 9}, {2, 11}, {4, 7}, {5, 14}};
}

RegSeg::RegSeg(int64_t num_classes, int64_t n_channel, const Dilations& dilations, const std::string& act_type)
    : nn::SegNet("RegSeg") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "RegSeg: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  CUDASEG_CHECK(dilations.size() == 13, "RegSeg: dilations needs 13 pairs, got ", dilations.size());
  for (const auto& r : dilations) {
    CUDASEG_CHECK(r[0] > 0 && r[1] > 0, "RegSeg: dilations must be positive, got [", r[0], ", ", r[1], "]");
  }
  const std::array<int64_t, 2> undilated = {1, 1};
  conv_init_ = register_module("conv_init", conv_bn_act(n_channel, 32, 3, 2, 1, 1, false, act_type));
  stage_d4_ = register_module("stage_d4", std::make_shared<DBlock>(32, 48, 2, undilated, act_type));
  auto d8 = std::make_shared<nn::Sequential>();
  d8->push_back(std::make_shared<DBlock>(48, 128, 2, undilated, act_type));
  for (int i = 0; i < 2; ++i) d8->push_back(std::make_shared<DBlock>(128, 128, 1, undilated, act_type));
  stage_d8_ = register_module("stage_d8", d8);
  auto d16 = std::make_shared<nn::Sequential>();
  d16->push_back(std::make_shared<DBlock>(128, 256, 2, undilated, act_type));
  for (size_t i = 0; i < 12; ++i) d16->push_back(std::make_shared<DBlock>(256, 256, 1, dilations[i], act_type));
  d16->push_back(std::make_shared<DBlock>(256, 320, 2, dilations[12], act_type));
  stage_d16_ = register_module("stage_d16", d16);
  decoder_ = register_module("decoder", std::make_shared<regseg_parts::Decoder>(num_classes, 48, 128, 320, act_type));
}

Tensor RegSeg::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "RegSeg: input ", x.str(), " must be [N, C, H, W]");
  CUDASEG_CHECK(x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "RegSeg: input ", x.str(),
                " needs H and W multiples of 32 (each stride-2 block's conv and average-pool shortcut must agree)");
  const Tensor x_d4 = (*stage_d4_)((*conv_init_)(x));
  const Tensor x_d8 = (*stage_d8_)(x_d4);
  const Tensor x_d16 = (*stage_d16_)(x_d8);
  return zh320::resize_bilinear_ac(decoder_->forward3(x_d4, x_d8, x_d16), x.size(2), x.size(3));
}

CUDASEG_REGISTER_NETS(regseg) {
  nn::NetSpec spec;
  spec.name = "regseg";
  spec.summary = "RegSeg (Gao 2021), zh320 models/regseg.py: D blocks with split dilated grouped convs and SE, "
                 "1/4-1/8-1/32 decoder";
  nn::Json dilations = nn::Json::array();
  for (const auto& r : RegSeg::default_dilations()) dilations.push_back({r[0], r[1]});
  spec.args = {
      {"n_channel", 3, {}, "input channels"},
      {"dilations", dilations, {},
       "13 [r1, r2] pairs: stage_d16's 12 stride-1 blocks, then one its last block ignores"},
      {"act_type", "relu", {}, "activation of every ConvBNAct, D block and SE block (zh320 Activation names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[2].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    CUDASEG_CHECK(a["dilations"].is_array(), "regseg: dilations must be a list of [r1, r2] pairs, got ",
                  a["dilations"].dump());
    RegSeg::Dilations dilations;
    for (const auto& pair : a["dilations"]) {
      CUDASEG_CHECK(pair.is_array() && pair.size() == 2 && pair[0].is_number_integer() &&
                        pair[1].is_number_integer(),
                    "regseg: each dilations entry must be an [r1, r2] pair of integers, got ", pair.dump());
      dilations.push_back({pair[0].get<int64_t>(), pair[1].get<int64_t>()});
    }
    return std::make_shared<RegSeg>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(), dilations,
                                    a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
