#include "nets/esnet.h"

#include <memory>

#include "autograd/arith.h"
#include "nets/enet.h"
#include "nets/zh320_modules.h"
#include "nn/fuse.h"
#include "nn/registry.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// Bare k x 1 conv (dilated vertically by `dilation`, padding keeping the size)
// then act_type: the first half of each factorised pair.
void push_vertical(nn::Sequential& seq, int64_t channels, int64_t k, int64_t dilation, const std::string& act) {
  nn::Conv2dOptions o;
  o.kernel_size = {k, 1};
  o.padding = {(k - 1) / 2 * dilation, 0};
  o.dilation = {dilation, dilation};
  o.bias = false;
  seq.push_back(std::make_shared<nn::Conv2d>(channels, channels, o));
  seq.push_back(std::make_shared<zh320::Activation>(act));
}

// Factorised convolution unit: conv = Kx1, act, 1xK ConvBNAct (act_type),
// Kx1, act, 1xK ConvBNAct without activation; act(conv(x) + x).
class FCU : public nn::Module {
 public:
  FCU(int64_t channels, int64_t k, const std::string& act_type) : nn::Module("FCU") {
    auto conv = std::make_shared<nn::Sequential>();
    push_vertical(*conv, channels, k, 1, act_type);
    conv->push_back(conv_bn_act(channels, channels, nn::Pair{1, k}, 1, 1, 1, false, act_type));
    push_vertical(*conv, channels, k, 1, act_type);
    conv->push_back(conv_bn_act(channels, channels, nn::Pair{1, k}, 1, 1, 1, false, "none"));
    conv_ = register_module("conv", conv);
    act_ = register_module("act", std::make_shared<zh320::Activation>(act_type));
  }

  Tensor forward(const Tensor& x) override { return nn::activate_sum(*act_, (*conv_)(x), x); }

 private:
  nn::ModulePtr conv_, act_;
};

// Parallel FCU: conv0 (3x1, act, 1x3 ConvBNAct) feeds three dilated pairs
// (3x1, act, 1x3 ConvBNAct without activation; rates r1, r2, r3) whose sum
// with the input goes through act.
class PFCU : public nn::Module {
 public:
  PFCU(int64_t channels, int64_t r1, int64_t r2, int64_t r3, const std::string& act_type) : nn::Module("PFCU") {
    auto conv0 = std::make_shared<nn::Sequential>();
    push_vertical(*conv0, channels, 3, 1, act_type);
    conv0->push_back(conv_bn_act(channels, channels, nn::Pair{1, 3}, 1, 1, 1, false, act_type));
    conv0_ = register_module("conv0", conv0);
    auto branch = [&](int64_t r) {
      auto seq = std::make_shared<nn::Sequential>();
      push_vertical(*seq, channels, 3, r, act_type);
      seq->push_back(conv_bn_act(channels, channels, nn::Pair{1, 3}, 1, r, 1, false, "none"));
      return seq;
    };
    conv_left_ = register_module("conv_left", branch(r1));
    conv_mid_ = register_module("conv_mid", branch(r2));
    conv_right_ = register_module("conv_right", branch(r3));
    act_ = register_module("act", std::make_shared<zh320::Activation>(act_type));
  }

  Tensor forward(const Tensor& x) override {
    const Tensor y = (*conv0_)(x);
    const Tensor sum = fn::add(fn::add((*conv_left_)(y), (*conv_mid_)(y)), (*conv_right_)(y));
    return nn::activate_sum(*act_, sum, x);
  }

 private:
  nn::ModulePtr conv0_, conv_left_, conv_mid_, conv_right_, act_;
};

std::shared_ptr<nn::Sequential> fcus(int64_t channels, int num_block, int64_t k, const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int i = 0; i < num_block; ++i) seq->push_back(std::make_shared<FCU>(channels, k, act));
  return seq;
}

std::shared_ptr<nn::Sequential> pfcus(int64_t channels, int num_block, const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int i = 0; i < num_block; ++i) seq->push_back(std::make_shared<PFCU>(channels, 2, 5, 9, act));
  return seq;
}

std::shared_ptr<zh320::DeConvBNAct> up(int64_t in_channels, int64_t out_channels, const std::string& act) {
  return std::make_shared<zh320::DeConvBNAct>(in_channels, out_channels, 2, std::nullopt, std::nullopt, act);
}

}  // namespace

ESNet::ESNet(const ESNetOptions& o) : nn::SegNet("ESNet") {
  const std::string& act = o.act_type;
  block1_down_ = register_module("block1_down", std::make_shared<enet::InitialBlock>(o.n_channel, 16, act));
  block1_ = register_module("block1", fcus(16, 3, 3, act));
  block2_down_ = register_module("block2_down", std::make_shared<enet::InitialBlock>(16, 64, act));
  block2_ = register_module("block2", fcus(64, 2, 5, act));
  block3_down_ = register_module("block3_down", std::make_shared<enet::InitialBlock>(64, 128, act));
  block3_ = register_module("block3", pfcus(128, 3, act));
  block4_up_ = register_module("block4_up", up(128, 64, act));
  block4_ = register_module("block4", fcus(64, 2, 5, act));
  block5_up_ = register_module("block5_up", up(64, 16, act));
  block5_ = register_module("block5", fcus(16, 2, 3, act));
  full_conv_ = register_module("full_conv", up(16, o.num_classes, act));
}

Tensor ESNet::forward(const Tensor& x) {
  Tensor y = (*block1_)((*block1_down_)(x));
  y = (*block2_)((*block2_down_)(y));
  y = (*block3_)((*block3_down_)(y));
  y = (*block4_)((*block4_up_)(y));
  y = (*block5_)((*block5_up_)(y));
  return (*full_conv_)(y);
}

CUDASEG_REGISTER_NETS(esnet) {
  nn::NetSpec spec;
  spec.name = "esnet";
  spec.summary = "ESNet (Wang et al. 2019), zh320 models/esnet.py: factorised and parallel factorised units";
  spec.args = {
      {"n_channel", 3, {}, "input channels (below 16)"},
      {"act_type", "relu", {}, "activation (zh320 names whose torch class takes inplace)"},
  };
  for (const auto& name : zh320::inplace_activation_names()) spec.args[1].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    ESNetOptions o;
    o.num_classes = a.at("num_classes").get<int64_t>();
    o.n_channel = a.at("n_channel").get<int64_t>();
    o.act_type = a.at("act_type").get<std::string>();
    return std::make_shared<ESNet>(o);
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
