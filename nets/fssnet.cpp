#include "nets/fssnet.h"

#include <array>
#include <optional>
#include <vector>

#include "autograd/arith.h"
#include "autograd/resize.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/enet.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

std::shared_ptr<nn::Sequential> cba(int64_t in, int64_t out, int64_t k, const std::string& act, int64_t stride = 1,
                                    int64_t dilation = 1) {
  return conv_bn_act(in, out, k, stride, dilation, 1, false, act);
}

// A bottleneck (1x1 reduce to channels/4, 1x3 then 3x1, 1x1 expand without
// activation) added to its input, then act_type.
class FactorizedBlock : public nn::Module {
 public:
  FactorizedBlock(int64_t channels, const std::string& act) : nn::Module("FactorizedBlock") {
    const int64_t hid = channels / 4;
    auto conv = std::make_shared<nn::Sequential>();
    conv->push_back(cba(channels, hid, 1, act));
    conv->push_back(conv_bn_act(hid, hid, nn::Pair{1, 3}, 1, 1, 1, false, "none"));
    conv->push_back(conv_bn_act(hid, hid, nn::Pair{3, 1}, 1, 1, 1, false, act));
    conv->push_back(cba(hid, channels, 1, "none"));
    conv_ = register_module("conv", conv);
    act_ = register_module("act", std::make_shared<zh320::Activation>(act));
  }
  Tensor forward(const Tensor& x) override { return nn::activate_sum(*act_, (*conv_)(x), x); }

 private:
  nn::ModulePtr conv_, act_;
};

// As FactorizedBlock with one dilated 3x3 in place of the 1x3 / 3x1 pair.
class DilatedBlock : public nn::Module {
 public:
  DilatedBlock(int64_t channels, int64_t dilation, const std::string& act) : nn::Module("DilatedBlock") {
    const int64_t hid = channels / 4;
    auto conv = std::make_shared<nn::Sequential>();
    conv->push_back(cba(channels, hid, 1, act));
    conv->push_back(cba(hid, hid, 3, act, 1, dilation));
    conv->push_back(cba(hid, channels, 1, "none"));
    conv_ = register_module("conv", conv);
    act_ = register_module("act", std::make_shared<zh320::Activation>(act));
  }
  Tensor forward(const Tensor& x) override { return nn::activate_sum(*act_, (*conv_)(x), x); }

 private:
  nn::ModulePtr conv_, act_;
};

// A 2x2 stride-2 conv bottleneck plus a max-pool + 1x1 projection of the
// input; the two halve the size alike only for even sizes.
class DownsamplingBlock : public nn::Module {
 public:
  DownsamplingBlock(int64_t in_channels, int64_t out_channels, const std::string& act)
      : nn::Module("DownsamplingBlock") {
    const int64_t hid = out_channels / 4;
    auto conv = std::make_shared<nn::Sequential>();
    conv->push_back(cba(in_channels, hid, 2, act, 2));
    conv->push_back(cba(hid, hid, 3, act));
    conv->push_back(cba(hid, out_channels, 1, "none"));
    conv_ = register_module("conv", conv);
    auto pool = std::make_shared<nn::Sequential>();
    pool->push_back(std::make_shared<nn::MaxPool2d>(3, 2, 1));
    pool->push_back(cba(in_channels, out_channels, 1, "none"));
    pool_ = register_module("pool", pool);
    act_ = register_module("act", std::make_shared<zh320::Activation>(act));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor pooled = (*pool_)(x);
    return nn::activate_sum(*act_, (*conv_)(x), pooled);
  }

 private:
  nn::ModulePtr conv_, pool_, act_;
};

std::shared_ptr<nn::Sequential> dilated_blocks(int64_t channels, const std::vector<int64_t>& dilations,
                                               const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t d : dilations) seq->push_back(std::make_shared<DilatedBlock>(channels, d, act));
  return seq;
}

}  // namespace

namespace fssnet_parts {

// The input plus the encoder's same-size feature, projected by a 1x1 conv and
// upsampled bilinearly (align_corners), added to a transposed-conv bottleneck
// of the input alone, then act_type.
class UpsamplingBlock : public nn::Module {
 public:
  UpsamplingBlock(int64_t in_channels, int64_t out_channels, const std::string& act)
      : nn::Module("UpsamplingBlock") {
    const int64_t hid = in_channels / 4;
    auto deconv = std::make_shared<nn::Sequential>();
    deconv->push_back(cba(in_channels, hid, 1, act));
    deconv->push_back(std::make_shared<zh320::DeConvBNAct>(hid, hid, 2, std::nullopt, std::nullopt, act));
    deconv->push_back(cba(hid, out_channels, 1, "none"));
    deconv_ = register_module("deconv", deconv);
    conv_ = register_module("conv", cba(in_channels, out_channels, 1, "none"));
    act_ = register_module("act", std::make_shared<zh320::Activation>(act));
  }
  Tensor forward2(const Tensor& x, const Tensor& pool_feat) {
    return observed_call({x, pool_feat}, [&] {
      const Tensor x_deconv = (*deconv_)(x);
      const Tensor y = fn::interpolate((*conv_)(fn::add(x, pool_feat)), std::nullopt,
                                       std::array<double, 2>{2.0, 2.0}, "bilinear", true);
      return nn::activate_sum(*act_, y, x_deconv);
    });
  }

 private:
  nn::ModulePtr deconv_, conv_, act_;
};

}  // namespace fssnet_parts

FSSNet::FSSNet(int64_t num_classes, int64_t n_channel, const std::string& act_type)
    : nn::SegNet("FSSNet"), n_channel_(n_channel) {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "FSSNet: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  init_block_ = register_module("init_block", std::make_shared<enet::InitialBlock>(n_channel, 16, act_type));
  down1_ = register_module("down1", std::make_shared<DownsamplingBlock>(16, 64, act_type));
  auto factorized = std::make_shared<nn::Sequential>();
  for (int i = 0; i < 4; ++i) factorized->push_back(std::make_shared<FactorizedBlock>(64, act_type));
  factorized_ = register_module("factorized", factorized);
  down2_ = register_module("down2", std::make_shared<DownsamplingBlock>(64, 128, act_type));
  dilated_ = register_module("dilated", dilated_blocks(128, {2, 5, 9, 2, 5, 9}, act_type));
  up2_ = register_module("up2", std::make_shared<fssnet_parts::UpsamplingBlock>(128, 64, act_type));
  bottleneck2_ = register_module("bottleneck2", dilated_blocks(64, {1, 1}, act_type));
  up1_ = register_module("up1", std::make_shared<fssnet_parts::UpsamplingBlock>(64, 16, act_type));
  bottleneck1_ = register_module("bottleneck1", dilated_blocks(16, {1, 1}, act_type));
  full_conv_ = register_module("full_conv", std::make_shared<zh320::DeConvBNAct>(16, num_classes, 2, std::nullopt, std::nullopt, act_type));
}

Tensor FSSNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == n_channel_ && (x.size(2) + 1) / 2 % 4 == 0 &&
                    (x.size(3) + 1) / 2 % 4 == 0,
                "FSSNet: expected input [N, ", n_channel_,
                ", H, W] with ceil(H/2) and ceil(W/2) multiples of 4 (e.g. H, W multiples of 8), got ", x.str());
  const Tensor x_d1 = (*down1_)((*init_block_)(x));
  const Tensor x_d2 = (*down2_)((*factorized_)(x_d1));
  Tensor y = up2_->forward2((*dilated_)(x_d2), x_d2);
  y = up1_->forward2((*bottleneck2_)(y), x_d1);
  return (*full_conv_)((*bottleneck1_)(y));
}

CUDASEG_REGISTER_NETS(fssnet) {
  nn::NetSpec spec;
  spec.name = "fssnet";
  spec.summary = "FSSNet (Zhang et al. 2019), zh320 models/fssnet.py: ENet-like encoder of factorised and "
                 "dilated bottlenecks, upsampling blocks with encoder skips";
  spec.args = {
      {"n_channel", 3, {}, "input channels (below 16)"},
      {"act_type", "prelu", {}, "activation of the blocks and ConvBNActs (zh320 Activation names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[1].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<FSSNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                    a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
