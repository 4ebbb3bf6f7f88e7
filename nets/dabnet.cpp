#include "nets/dabnet.h"

#include <array>
#include <memory>
#include <optional>

#include "autograd/arith.h"
#include "autograd/pool.h"
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

// modules.py's DWConvBNAct with a (kh, kw) kernel: ConvBNAct with groups = channels, no bias.
std::shared_ptr<nn::Sequential> dw_pair(int64_t channels, nn::Pair kernel, int64_t dilation, const std::string& act) {
  return conv_bn_act(channels, channels, kernel, 1, dilation, channels, false, act);
}

class DABModule : public nn::Module {
 public:
  DABModule(int64_t channels, int64_t dilation, const std::string& act) : nn::Module("DABModule") {
    CUDASEG_CHECK(channels % 2 == 0, "DABModule: channels (", channels, ") must be even");
    const int64_t hid = channels / 2;
    init_conv_ = register_module("init_conv", conv_bn_act(channels, hid, 3, 1, 1, 1, false, act));
    auto left = std::make_shared<nn::Sequential>();
    left->push_back(dw_pair(hid, {3, 1}, 1, act)).push_back(dw_pair(hid, {1, 3}, 1, act));
    left_branch_ = register_module("left_branch", left);
    auto right = std::make_shared<nn::Sequential>();
    right->push_back(dw_pair(hid, {3, 1}, dilation, act)).push_back(dw_pair(hid, {1, 3}, dilation, act));
    right_branch_ = register_module("right_branch", right);
    last_conv_ = register_module("last_conv", conv_bn_act(hid, channels, 1, 1, 1, 1, false, act));
  }

  Tensor forward(const Tensor& x) override {
    const Tensor y = (*init_conv_)(x);
    return fn::add((*last_conv_)(fn::add((*left_branch_)(y), (*right_branch_)(y))), x);
  }

 private:
  nn::ModulePtr init_conv_, left_branch_, right_branch_, last_conv_;
};

std::shared_ptr<nn::Sequential> dab_blocks(int64_t channels, int64_t count, int64_t dilation,
                                           const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t i = 0; i < count; ++i) seq->push_back(std::make_shared<DABModule>(channels, dilation, act));
  return seq;
}

// F.avg_pool2d(x, 3, 2, 1): the image pyramid concatenated at each stage.
Tensor avg_pool_3s2(const Tensor& x) {
  ops::AvgPool2dParams p;
  p.kernel_size = {3, 3};
  p.stride = {2, 2};
  p.padding = {1, 1};
  return fn::avg_pool2d(x, p);
}

}  // namespace

DABNet::DABNet(int64_t num_classes, int64_t n_channel, const std::string& act_type)
    : nn::SegNet("DABNet"), n_channel_(n_channel) {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "DABNet: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  const std::string& act = act_type;
  layer1_ = register_module("layer1", conv_bn_act(n_channel, 32, 3, 2, 1, 1, false, act));
  layer2_ = register_module("layer2", conv_bn_act(32, 32, 3, 1, 1, 1, false, act));
  layer3_ = register_module("layer3", conv_bn_act(32, 32, 3, 1, 1, 1, false, act));
  layer4_ = register_module("layer4", std::make_shared<enet::InitialBlock>(32 + n_channel, 64, act));
  layer5_7_ = register_module("layer5_7", dab_blocks(64, 3, 2, act));
  layer8_ = register_module("layer8", conv_bn_act(64 * 2 + n_channel, 128, 3, 2, 1, 1, false, act));
  layer9_10_ = register_module("layer9_10", dab_blocks(128, 2, 4, act));
  layer11_12_ = register_module("layer11_12", dab_blocks(128, 2, 8, act));
  layer13_14_ = register_module("layer13_14", dab_blocks(128, 2, 16, act));
  layer15_ = register_module("layer15", zh320::conv1x1(128 * 2 + n_channel, num_classes));
}

Tensor DABNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == n_channel_, "DABNet: expected input [N, ", n_channel_,
                ", H, W], got ", x.str());
  const Tensor x_d2 = avg_pool_3s2(x);
  const Tensor x_d4 = avg_pool_3s2(x_d2);
  const Tensor x_d8 = avg_pool_3s2(x_d4);
  Tensor y = fn::cat({(*layer3_)((*layer2_)((*layer1_)(x))), x_d2}, 1);
  const Tensor block1 = (*layer4_)(y);
  y = fn::cat({(*layer5_7_)(block1), block1, x_d4}, 1);
  const Tensor block2 = (*layer8_)(y);
  y = (*layer13_14_)((*layer11_12_)((*layer9_10_)(block2)));
  y = (*layer15_)(fn::cat({y, block2, x_d8}, 1));
  return fn::interpolate(y, std::array<int64_t, 2>{x.size(2), x.size(3)}, std::nullopt, "bilinear", true);
}

CUDASEG_REGISTER_NETS(dabnet) {
  nn::NetSpec spec;
  spec.name = "dabnet";
  spec.summary = "DABNet (Li et al. 2019), zh320's models/dabnet.py: depth-wise asymmetric bottlenecks, "
                 "image pyramid concatenated at each stage";
  spec.args = {
      {"n_channel", 3, {}, "input channels"},
      {"act_type", "prelu", {}, "activation (zh320 names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[1].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<DABNet>(a.at("num_classes").get<int64_t>(), a.at("n_channel").get<int64_t>(),
                                    a.at("act_type").get<std::string>());
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
