#include "nets/cfpnet.h"

#include <array>
#include <cmath>
#include <utility>

#include "autograd/arith.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/enet.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// Three chained asymmetric ConvBNAct pairs splitting the channels 1:1:2,
// their outputs concatenated.
class FeaturePyramidChannel : public nn::Module {
 public:
  FeaturePyramidChannel(int64_t channels, int64_t dilation, const std::string& act_type)
      : nn::Module("FeaturePyramidChannel") {
    CUDASEG_CHECK(channels % 4 == 0, "CFPNet: a feature pyramid channel's width (", channels,
                  ") must be a multiple of 4");
    const int64_t widths[3] = {channels / 4, channels / 4, channels / 2};
    int64_t in = channels;
    for (int i = 0; i < 3; ++i) {
      auto block = std::make_shared<nn::Sequential>();
      block->push_back(conv_bn_act(in, widths[i], nn::Pair{3, 1}, 1, dilation, 1, false, act_type));
      block->push_back(conv_bn_act(widths[i], widths[i], nn::Pair{1, 3}, 1, dilation, 1, false, act_type));
      blocks_.push_back(register_module("block" + std::to_string(i + 1), block));
      in = widths[i];
    }
  }
  Tensor forward(const Tensor& x) override {
    const Tensor x1 = (*blocks_[0])(x);
    const Tensor x2 = (*blocks_[1])(x1);
    const Tensor x3 = (*blocks_[2])(x2);
    return fn::cat({x1, x2, x3}, 1);
  }

 private:
  std::vector<nn::ModulePtr> blocks_;
};

// The CFP module with upstream's K = 4 and dilation ratios {1/rk, 1/4, 1/2,
// 1}: pyramid channel k dilates by ceil(rk * ratio_k), computed in double as
// upstream does, so rk = 2 gives dilations 1, 1, 1, 2.
class CFPModule : public nn::Module {
 public:
  CFPModule(int64_t channels, int64_t rk, const std::string& act_type) : nn::Module("CFPModule") {
    constexpr int64_t K = 4;
    CUDASEG_CHECK(rk > 0, "CFPNet: dilation ", rk, " must be positive");
    const int64_t channel_kn = channels / K;
    conv_init_ = register_module("conv_init", conv_bn_act(channels, channel_kn, 1, 1, 1, 1, false, act_type));
    const double rd = static_cast<double>(rk);
    const double ratios[K] = {1.0 / rd, 1.0 / 4, 1.0 / 2, 1.0};
    auto layers = std::make_shared<nn::ModuleList>();
    for (int64_t k = 0; k < K; ++k) {
      const auto dilation = static_cast<int64_t>(std::ceil(rd * ratios[k]));
      auto fpc = std::make_shared<FeaturePyramidChannel>(channel_kn, dilation, act_type);
      layers->push_back(fpc);
      layers_.push_back(fpc);
    }
    register_module("layers", layers);
    conv_last_ = register_module("conv_last", conv_bn_act(channels, channels, 1, 1, 1, 1, false, act_type));
  }
  Tensor forward(const Tensor& input) override {
    const Tensor x = (*conv_init_)(input);
    std::vector<Tensor> feats;
    for (const auto& layer : layers_) feats.push_back((*layer)(x));
    for (size_t j = 1; j < feats.size(); ++j) feats[j] = fn::add(feats[j], feats[j - 1]);
    return fn::add((*conv_last_)(fn::cat(feats, 1)), input);
  }

 private:
  nn::ModulePtr conv_init_, conv_last_;
  std::vector<nn::ModulePtr> layers_;
};

std::shared_ptr<nn::Sequential> build_blocks(int64_t channels, const std::vector<int64_t>& dilations,
                                             const std::string& act_type) {
  auto seq = std::make_shared<nn::Sequential>();
  for (const int64_t rk : dilations) seq->push_back(std::make_shared<CFPModule>(channels, rk, act_type));
  return seq;
}

}  // namespace

CFPNet::CFPNet(int64_t num_classes, int64_t n_channel, int64_t n, int64_t m, const std::vector<int64_t>& dilations,
               const std::string& act_type)
    : nn::SegNet("CFPNet") {
  CUDASEG_CHECK(num_classes > 0, "CFPNet: num_classes (", num_classes, ") must be positive");
  CUDASEG_CHECK(n_channel == 3, "CFPNet: n_channel (", n_channel,
                ") must be 3: the input injection concatenates the image as 3 channels");
  CUDASEG_CHECK(n >= 0 && m >= 0 && static_cast<int64_t>(dilations.size()) == n + m, "CFPNet: ",
                dilations.size(), " dilations given, n + m = ", n + m, " needed");
  auto stem = std::make_shared<nn::Sequential>();
  stem->push_back(conv_bn_act(n_channel, 32, 3, 2, 1, 1, false, act_type));
  stem->push_back(conv_bn_act(32, 32, 3, 1, 1, 1, false, act_type));
  stem->push_back(conv_bn_act(32, 32, 3, 1, 1, 1, false, act_type));
  conv_init_ = register_module("conv_init", stem);
  downsample1_ = register_module("downsample1", std::make_shared<enet::InitialBlock>(32 + 3, 64, act_type));
  cfp1_ = register_module("cfp1", build_blocks(64, {dilations.begin(), dilations.begin() + n}, act_type));
  downsample2_ = register_module("downsample2", std::make_shared<enet::InitialBlock>(64 + 3, 128, act_type));
  cfp2_ = register_module("cfp2", build_blocks(128, {dilations.begin() + n, dilations.end()}, act_type));
  seg_head_ = register_module("seg_head", conv_bn_act(128 + 3, num_classes, 1, 1, 1, 1, false, act_type));
}

Tensor CFPNet::forward(const Tensor& input) {
  CUDASEG_CHECK(input.dim() == 4, "CFPNet: input ", input.str(), " must be [N, C, H, W]");
  const Tensor x_d2 = zh320::scale_bilinear_ac(input, 0.5);
  const Tensor x_d4 = zh320::scale_bilinear_ac(input, 0.25);
  const Tensor x_d8 = zh320::scale_bilinear_ac(input, 0.125);
  Tensor x = fn::cat({(*conv_init_)(input), x_d2}, 1);
  x = fn::cat({(*cfp1_)((*downsample1_)(x)), x_d4}, 1);
  x = fn::cat({(*cfp2_)((*downsample2_)(x)), x_d8}, 1);
  return zh320::resize_bilinear_ac((*seg_head_)(x), input.size(2), input.size(3));
}

CUDASEG_REGISTER_NETS(cfpnet) {
  nn::NetSpec spec;
  spec.name = "cfpnet";
  spec.summary = "CFPNet (Lou and Loew 2021), zh320 models/cfpnet.py: channel-wise feature pyramid modules";
  spec.args = {
      {"n_channel", 3, {3}, "input channels (only 3: the input injection concatenates the image as 3 channels)"},
      {"n", 2, {}, "CFP modules of stage 1"},
      {"m", 6, {}, "CFP modules of stage 2"},
      {"dilations", nn::Json::array({2, 2, 4, 4, 8, 8, 16, 16}), {}, "each CFP module's base dilation, n + m of them"},
      {"act_type", "prelu", {}, "activation of every ConvBNAct (zh320 Activation names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[4].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<CFPNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                    a["n"].get<int64_t>(), a["m"].get<int64_t>(),
                                    a["dilations"].get<std::vector<int64_t>>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
