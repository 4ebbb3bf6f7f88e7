#include "nets/adscnet.h"

#include <vector>

#include "autograd/arith.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "nets/zh320_separable.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv1x1;
using zh320::dw_conv_bn_act;

// At stride 1 a residual module; at stride 2 its conv path is concatenated
// with an average pool of the input, doubling the channels.
class ADSCModule : public nn::Module {
 public:
  ADSCModule(int64_t channels, int64_t stride, int64_t dilation, const std::string& act_type)
      : nn::Module("ADSCModule"), use_skip_(stride == 1) {
    CUDASEG_CHECK(stride == 1 || stride == 2, "ADSCModule: unsupported stride ", stride);
    auto conv = std::make_shared<nn::Sequential>();
    conv->push_back(dw_conv_bn_act(channels, channels, nn::Pair{3, 1}, stride, dilation, act_type));
    conv->push_back(conv1x1(channels, channels));
    conv->push_back(dw_conv_bn_act(channels, channels, nn::Pair{1, 3}, 1, dilation, act_type));
    conv->push_back(conv1x1(channels, channels));
    conv_ = register_module("conv", conv);
    if (!use_skip_) pool_ = register_module("pool", std::make_shared<nn::AvgPool2d>(3, 2, 1));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor y = (*conv_)(x);
    return use_skip_ ? fn::add(x, y) : fn::cat({y, (*pool_)(x)}, 1);
  }

 private:
  bool use_skip_;
  nn::ModulePtr conv_, pool_;
};

// Densely connected dilated convolutions: branch i sees the input and every
// earlier branch's output (a 1x1 conv squeezes them back to `channels`),
// smooths them with a stride-1 average pool as wide as its dilation, and runs
// a dilated ADSC module; the last 1x1 conv fuses all five.
class DDCC : public nn::Module {
 public:
  DDCC(int64_t channels, const std::vector<int64_t>& dilations, const std::string& act_type) : nn::Module("DDCC") {
    CUDASEG_CHECK(dilations.size() == 4, "DDCC: expected 4 dilations, got ", dilations.size());
    for (size_t i = 0; i < 4; ++i) {
      const int64_t d = dilations[i];
      auto block = std::make_shared<nn::Sequential>();
      if (i > 0) block->push_back(conv1x1(static_cast<int64_t>(i + 1) * channels, channels));
      block->push_back(std::make_shared<nn::AvgPool2d>(d, 1, d / 2));
      block->push_back(std::make_shared<ADSCModule>(channels, 1, d, act_type));
      blocks_.push_back(register_module("block" + std::to_string(i + 1), block));
    }
    conv_last_ = register_module("conv_last", conv1x1(5 * channels, channels));
  }
  Tensor forward(const Tensor& x) override {
    std::vector<Tensor> feats = {x};
    for (const auto& block : blocks_) feats.push_back((*block)(feats.size() == 1 ? x : fn::cat(feats, 1)));
    return (*conv_last_)(fn::cat(feats, 1));
  }

 private:
  std::vector<nn::ModulePtr> blocks_;
  nn::ModulePtr conv_last_;
};

}  // namespace

ADSCNet::ADSCNet(int64_t num_classes, int64_t n_channel, const std::string& act_type)
    : nn::SegNet("ADSCNet"), n_channel_(n_channel) {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "ADSCNet: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  auto adsc = [&](int64_t channels, int64_t stride) {
    return std::make_shared<ADSCModule>(channels, stride, 1, act_type);
  };
  conv0_ = register_module("conv0", zh320::conv_bn_act(n_channel, 32, 3, 2, 1, 1, false, act_type));
  conv1_ = register_module("conv1", adsc(32, 1));
  auto conv2_4 = std::make_shared<nn::Sequential>();
  conv2_4->push_back(adsc(32, 1)).push_back(adsc(32, 2)).push_back(adsc(64, 1));
  conv2_4_ = register_module("conv2_4", conv2_4);
  conv5_ = register_module("conv5", adsc(64, 2));
  ddcc_ = register_module("ddcc", std::make_shared<DDCC>(128, std::vector<int64_t>{3, 5, 9, 13}, act_type));
  auto up1 = std::make_shared<nn::Sequential>();
  up1->push_back(std::make_shared<zh320::DeConvBNAct>(128, 64)).push_back(adsc(64, 1));
  up1_ = register_module("up1", up1);
  auto up2 = std::make_shared<nn::Sequential>();
  up2->push_back(adsc(64, 1)).push_back(std::make_shared<zh320::DeConvBNAct>(64, 32));
  up2_ = register_module("up2", up2);
  auto up3 = std::make_shared<nn::Sequential>();
  up3->push_back(adsc(32, 1)).push_back(std::make_shared<zh320::DeConvBNAct>(32, num_classes));
  up3_ = register_module("up3", up3);
}

Tensor ADSCNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == n_channel_ && (x.size(2) + 1) / 2 % 4 == 0 &&
                    (x.size(3) + 1) / 2 % 4 == 0,
                "ADSCNet: expected input [N, ", n_channel_,
                ", H, W] with ceil(H/2) and ceil(W/2) multiples of 4 (e.g. H, W multiples of 8), got ", x.str());
  const Tensor x0 = (*conv0_)(x);
  const Tensor x1 = (*conv1_)(x0);
  const Tensor x4 = (*conv2_4_)(x1);
  Tensor y = (*ddcc_)((*conv5_)(x4));
  y = fn::add((*up1_)(y), x4);
  y = fn::add((*up2_)(y), x1);
  return (*up3_)(y);
}

CUDASEG_REGISTER_NETS(adscnet) {
  nn::NetSpec spec;
  spec.name = "adscnet";
  spec.summary = "ADSCNet (Wang et al. 2019), zh320 models/adscnet.py: asymmetric depth-wise separable "
                 "modules, densely connected dilated convolutions (DDCC), transposed-conv decoder";
  spec.args = {
      {"n_channel", 3, {}, "input channels"},
      {"act_type", "relu6", {}, "activation of the conv stem and ADSC modules (zh320 Activation names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[1].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<ADSCNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                     a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
