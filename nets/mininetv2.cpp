#include "nets/mininetv2.h"

#include <array>
#include <optional>

#include "autograd/arith.h"
#include "autograd/resize.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/enet.h"
#include "nets/zh320_modules.h"
#include "nets/zh320_separable.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::dw_conv_bn_act;

// A depth-wise 3x3 conv, plus (dilation > 1) a dilated depth-wise one of the
// same input, summed, then a point-wise ConvBNAct (with bias, as upstream).
class MultiDilationDSConv : public nn::Module {
 public:
  MultiDilationDSConv(int64_t channels, int64_t dilation, const std::string& act)
      : nn::Module("MultiDilationDSConv"), dilated_(dilation > 1) {
    dw_conv_ = register_module("dw_conv", dw_conv_bn_act(channels, channels, 3, 1, 1, act));
    pw_conv_ = register_module("pw_conv", zh320::pw_conv_bn_act(channels, channels, act));
    if (dilated_) ddw_conv_ = register_module("ddw_conv", dw_conv_bn_act(channels, channels, 3, 1, dilation, act));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*dw_conv_)(x);
    if (dilated_) y = fn::add(y, (*ddw_conv_)(x));
    return (*pw_conv_)(y);
  }

 private:
  bool dilated_;
  nn::ModulePtr dw_conv_, pw_conv_, ddw_conv_;
};

std::shared_ptr<nn::Sequential> blocks(int64_t channels, const std::vector<int64_t>& dilations,
                                       const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t d : dilations) seq->push_back(std::make_shared<MultiDilationDSConv>(channels, d, act));
  return seq;
}

std::shared_ptr<nn::Sequential> two_downsampling_units(int64_t n_channel, const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<enet::InitialBlock>(n_channel, 16, act));
  seq->push_back(std::make_shared<enet::InitialBlock>(16, 64, act));
  return seq;
}

}  // namespace

MiniNetv2::MiniNetv2(int64_t num_classes, int64_t n_channel, const std::vector<int64_t>& feat_dt,
                     const std::string& act_type)
    : nn::SegNet("MiniNetv2"), n_channel_(n_channel) {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "MiniNetv2: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  d1_2_ = register_module("d1_2", two_downsampling_units(n_channel, act_type));
  ref_ = register_module("ref", two_downsampling_units(n_channel, act_type));
  m1_10_ = register_module("m1_10", blocks(64, std::vector<int64_t>(10, 1), act_type));
  d3_ = register_module("d3", std::make_shared<enet::InitialBlock>(64, 128, act_type));
  feature_extractor_ = register_module("feature_extractor", blocks(128, feat_dt, act_type));
  up1_ = register_module("up1", std::make_shared<zh320::DeConvBNAct>(128, 64, 2, std::nullopt, std::nullopt, act_type));
  m26_29_ = register_module("m26_29", blocks(64, std::vector<int64_t>(4, 1), act_type));
  output_ = register_module("output", std::make_shared<zh320::DeConvBNAct>(64, num_classes, 2, std::nullopt, std::nullopt, act_type));
}

Tensor MiniNetv2::forward(const Tensor& x) {
  const int64_t h4 = ((x.dim() == 4 ? x.size(2) : 0) + 1) / 2;
  const int64_t w4 = ((x.dim() == 4 ? x.size(3) : 0) + 1) / 2;
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == n_channel_ && (h4 + 1) / 2 % 2 == 0 && (w4 + 1) / 2 % 2 == 0,
                "MiniNetv2: expected input [N, ", n_channel_,
                ", H, W] with ceil(ceil(H/2)/2) and ceil(ceil(W/2)/2) even (e.g. H, W multiples of 8), got ",
                x.str());
  const Tensor x_ref = (*ref_)(x);
  Tensor y = (*feature_extractor_)((*d3_)((*m1_10_)((*d1_2_)(x))));
  y = (*output_)((*m26_29_)(fn::add((*up1_)(y), x_ref)));
  return fn::interpolate(y, std::array<int64_t, 2>{x.size(2), x.size(3)}, std::nullopt, "bilinear", true);
}

CUDASEG_REGISTER_NETS(mininetv2) {
  nn::NetSpec spec;
  spec.name = "mininetv2";
  spec.summary = "MiniNet-v2 (Alonso et al. 2020), zh320 models/mininetv2.py: downsampling units, "
                 "multi-dilation depth-wise separable convs, transposed-conv decoder with a second "
                 "downsampling branch";
  spec.args = {
      {"n_channel", 3, {}, "input channels (below 16)"},
      {"feat_dt", nn::Json::array({1, 2, 1, 4, 1, 8, 1, 16, 1, 1, 1, 2, 1, 4, 1, 8}), {},
       "dilation of each block at 1/8 (one block per entry)"},
      {"act_type", "relu", {}, "activation of every ConvBNAct (zh320 Activation names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[2].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<MiniNetv2>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                       a["feat_dt"].get<std::vector<int64_t>>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
