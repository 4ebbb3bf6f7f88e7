#include "nets/fddwnet.h"

#include <memory>
#include <vector>

#include "autograd/arith.h"
#include "nets/enet.h"
#include "nets/zh320_modules.h"
#include "nets/zh320_separable.h"
#include "nn/fuse.h"
#include "nn/registry.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;
using zh320::dw_conv_bn_act;

// Extremely efficient residual module: conv = depth-wise ks x 1 and 1 x ks
// (DWConvBNAct without activation), 1x1 ConvBNAct (act_type), the dilated
// depth-wise pair, 1x1 ConvBNAct without activation; act(conv(x) + x).
class EERMUnit : public nn::Module {
 public:
  EERMUnit(int64_t channels, int64_t ks, int64_t dilation, const std::string& act_type) : nn::Module("EERMUnit") {
    auto conv = std::make_shared<nn::Sequential>();
    conv->push_back(dw_conv_bn_act(channels, channels, nn::Pair{ks, 1}, 1, 1, "none"))
        .push_back(dw_conv_bn_act(channels, channels, nn::Pair{1, ks}, 1, 1, "none"))
        .push_back(conv_bn_act(channels, channels, 1, 1, 1, 1, false, act_type))
        .push_back(dw_conv_bn_act(channels, channels, nn::Pair{ks, 1}, 1, dilation, "none"))
        .push_back(dw_conv_bn_act(channels, channels, nn::Pair{1, ks}, 1, dilation, "none"))
        .push_back(conv_bn_act(channels, channels, 1, 1, 1, 1, false, "none"));
    conv_ = register_module("conv", conv);
    act_ = register_module("act", std::make_shared<zh320::Activation>(act_type));
  }

  Tensor forward(const Tensor& x) override { return nn::activate_sum(*act_, (*conv_)(x), x); }

 private:
  nn::ModulePtr conv_, act_;
};

std::shared_ptr<nn::Sequential> build_blocks(int64_t channels, int64_t ks, const std::vector<int64_t>& dilations,
                                             const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t d : dilations) seq->push_back(std::make_shared<EERMUnit>(channels, ks, d, act));
  return seq;
}

std::shared_ptr<zh320::DeConvBNAct> up(int64_t in_channels, int64_t out_channels, const std::string& act) {
  return std::make_shared<zh320::DeConvBNAct>(in_channels, out_channels, 2, std::nullopt, std::nullopt, act);
}

}  // namespace

FDDWNet::FDDWNet(const FDDWNetOptions& o) : nn::SegNet("FDDWNet"), n_channel_(o.n_channel) {
  // An even ks would shrink every unit's maps by one and break its residual sum.
  CUDASEG_CHECK(o.ks >= 1 && o.ks % 2 == 1, "FDDWNet: ks must be odd and positive, got ", o.ks);
  const std::string& act = o.act_type;
  layer1_ = register_module("layer1", std::make_shared<enet::InitialBlock>(o.n_channel, 16, act));
  layer2_ = register_module("layer2", std::make_shared<enet::InitialBlock>(16, 64, act));
  layer3_7_ = register_module("layer3_7", build_blocks(64, o.ks, {1, 1, 1, 1, 1}, act));
  layer8_ = register_module("layer8", std::make_shared<enet::InitialBlock>(64, 128, act));
  layer9_16_ = register_module("layer9_16", build_blocks(128, o.ks, {1, 2, 5, 9, 1, 2, 5, 9}, act));
  layer17_24_ = register_module("layer17_24", build_blocks(128, o.ks, {2, 5, 9, 17, 2, 5, 9, 17}, act));
  layer25_ = register_module("layer25", up(128, 64, act));
  layer26_27_ = register_module("layer26_27", build_blocks(64, o.ks, {1, 1}, act));
  layer28_ = register_module("layer28", up(64, 16, act));
  layer29_30_ = register_module("layer29_30", build_blocks(16, o.ks, {1, 1}, act));
  layer31_ = register_module("layer31", up(16, o.num_classes, act));
}

Tensor FDDWNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.shape()[1] == n_channel_ && (x.shape()[2] + 3) / 4 % 2 == 0 &&
                    (x.shape()[3] + 3) / 4 % 2 == 0,
                "FDDWNet: expected input [N, ", n_channel_,
                ", H, W] with ceil(H/4) and ceil(W/4) even (e.g. H, W multiples of 8), got ", x.str());
  const Tensor residual = (*layer3_7_)((*layer2_)((*layer1_)(x)));
  Tensor y = (*layer17_24_)((*layer9_16_)((*layer8_)(residual)));
  y = fn::add((*layer26_27_)((*layer25_)(y)), residual);
  y = (*layer29_30_)((*layer28_)(y));
  return (*layer31_)(y);
}

CUDASEG_REGISTER_NETS(fddwnet) {
  nn::NetSpec spec;
  spec.name = "fddwnet";
  spec.summary = "FDDWNet (Liu et al. 2019), zh320 models/fddwnet.py: factorised dilated depth-wise residual units";
  spec.args = {
      {"n_channel", 3, {}, "input channels (below 16)"},
      {"ks", 3, {}, "odd kernel size of the factorised depth-wise convs"},
      {"act_type", "relu", {}, "activation (zh320 names whose torch class takes inplace)"},
  };
  for (const auto& name : zh320::inplace_activation_names()) spec.args[2].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    FDDWNetOptions o;
    o.num_classes = a.at("num_classes").get<int64_t>();
    o.n_channel = a.at("n_channel").get<int64_t>();
    o.ks = a.at("ks").get<int64_t>();
    o.act_type = a.at("act_type").get<std::string>();
    return std::make_shared<FDDWNet>(o);
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
