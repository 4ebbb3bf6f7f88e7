#include "nets/shelfnet.h"

#include "autograd/arith.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/resnet.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {

namespace shelfnet_parts {
namespace {

using zh320::conv_bn_act;

// act(x + conv2(conv1(x))) with x = x_l + x_v: the row's lateral input plus
// the vertical one (absent at the head of a column); conv2 has no activation.
class SBlock : public nn::Module {
 public:
  SBlock(int64_t channels, const std::string& act_type) : nn::Module("SBlock") {
    conv1_ = register_module("conv1", conv_bn_act(channels, channels, 3, 1, 1, 1, false, act_type));
    conv2_ = register_module("conv2", conv_bn_act(channels, channels, 3, 1, 1, 1, false, "none"));
    act_ = register_module("act", std::make_shared<zh320::Activation>(act_type));
  }
  Tensor forward(const Tensor& x_l) override { return block(x_l); }
  Tensor forward2(const Tensor& x_l, const Tensor& x_v) {
    return observed_call({x_l, x_v}, [&] { return block(fn::add(x_l, x_v)); });
  }

 private:
  Tensor block(const Tensor& x) { return nn::activate_sum(*act_, (*conv2_)((*conv1_)(x)), x); }

  nn::ModulePtr conv1_, conv2_, act_;
};

}  // namespace

// Coarse to fine: SBlock the row, upsample it 2x into the next finer row's SBlock.
class DecoderBlock : public nn::Module {
 public:
  DecoderBlock(const std::vector<int64_t>& channels, const std::string& act_type) : nn::Module("DecoderBlock") {
    const auto up = [&](int i) {
      return std::make_shared<zh320::DeConvBNAct>(channels[i], channels[i - 1], 2, std::nullopt, std::nullopt,
                                                  act_type);
    };
    block_d_ = register_module("block_D", std::make_shared<SBlock>(channels[3], act_type));
    up_d_ = register_module("up_D", up(3));
    block_c_ = register_module("block_C", std::make_shared<SBlock>(channels[2], act_type));
    up_c_ = register_module("up_C", up(2));
    block_b_ = register_module("block_B", std::make_shared<SBlock>(channels[1], act_type));
    up_b_ = register_module("up_B", up(1));
    block_a_ = register_module("block_A", std::make_shared<SBlock>(channels[0], act_type));
  }
  // The rows A, B, C after the column (upstream's return_hid_feats; its
  // second decoder keeps only A).
  std::array<Tensor, 3> forward4(const Tensor& x_a, const Tensor& x_b, const Tensor& x_c, const Tensor& x_d) {
    return observed_call({x_a, x_b, x_c, x_d}, [&] {
      const Tensor c = block_c_->forward2(x_c, (*up_d_)((*block_d_)(x_d)));
      const Tensor b = block_b_->forward2(x_b, (*up_c_)(c));
      return std::array<Tensor, 3>{block_a_->forward2(x_a, (*up_b_)(b)), b, c};
    });
  }

 private:
  std::shared_ptr<SBlock> block_d_, block_c_, block_b_, block_a_;
  nn::ModulePtr up_d_, up_c_, up_b_;
};

// Fine to coarse: SBlock the row, downsample it (stride-2 ConvBNAct) into the next coarser row's SBlock.
class EncoderBlock : public nn::Module {
 public:
  EncoderBlock(const std::vector<int64_t>& channels, const std::string& act_type) : nn::Module("EncoderBlock") {
    const auto down = [&](int i) {
      return conv_bn_act(channels[i], channels[i + 1], 3, 2, 1, 1, false, act_type);
    };
    block_a_ = register_module("block_A", std::make_shared<SBlock>(channels[0], act_type));
    down_a_ = register_module("down_A", down(0));
    block_b_ = register_module("block_B", std::make_shared<SBlock>(channels[1], act_type));
    down_b_ = register_module("down_B", down(1));
    block_c_ = register_module("block_C", std::make_shared<SBlock>(channels[2], act_type));
    down_c_ = register_module("down_C", down(2));
  }
  // The rows A, B, C after the column and the new coarsest row D.
  std::array<Tensor, 4> forward3(const Tensor& x_a, const Tensor& x_b, const Tensor& x_c) {
    return observed_call({x_a, x_b, x_c}, [&] {
      const Tensor a = (*block_a_)(x_a);
      const Tensor b = block_b_->forward2(x_b, (*down_a_)(a));
      const Tensor c = block_c_->forward2(x_c, (*down_b_)(b));
      return std::array<Tensor, 4>{a, b, c, (*down_c_)(c)};
    });
  }

 private:
  std::shared_ptr<SBlock> block_a_, block_b_, block_c_;
  nn::ModulePtr down_a_, down_b_, down_c_;
};

}  // namespace shelfnet_parts

ShelfNet::ShelfNet(int64_t num_classes, int64_t n_channel, const std::string& backbone_type,
                   const std::vector<int64_t>& hid_channels, const std::string& act_type)
    : nn::SegNet("ShelfNet") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "ShelfNet: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  CUDASEG_CHECK(hid_channels.size() == 4 && hid_channels[0] > 0 && hid_channels[1] > 0 && hid_channels[2] > 0 &&
                    hid_channels[3] > 0,
                "ShelfNet: hid_channels must be 4 positive channel counts, got ", hid_channels.size(), " values");
  backbone_ = register_module("backbone", std::make_shared<ResNet>(backbone_type));
  const auto& channels = backbone_->channels();
  const auto project = [&](int i) {
    return zh320::conv_bn_act(channels[i], hid_channels[i], 1, 1, 1, 1, false, act_type);
  };
  conv_a_ = register_module("conv_A", project(0));
  conv_b_ = register_module("conv_B", project(1));
  conv_c_ = register_module("conv_C", project(2));
  conv_d_ = register_module("conv_D", project(3));
  decoder2_ = register_module("decoder2", std::make_shared<shelfnet_parts::DecoderBlock>(hid_channels, act_type));
  encoder3_ = register_module("encoder3", std::make_shared<shelfnet_parts::EncoderBlock>(hid_channels, act_type));
  decoder4_ = register_module("decoder4", std::make_shared<shelfnet_parts::DecoderBlock>(hid_channels, act_type));
  classifier_ = register_module("classifier", zh320::conv1x1(hid_channels[0], num_classes));
}

Tensor ShelfNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "ShelfNet: input ", x.str(), " must be [N, 3, H, W]");
  const auto f = backbone_->forward_features(x);
  for (size_t i = 0; i + 1 < f.size(); ++i)
    CUDASEG_CHECK(f[i].size(2) == 2 * f[i + 1].size(2) && f[i].size(3) == 2 * f[i + 1].size(3), "ShelfNet: input ",
                  x.str(), " gives backbone stages ", f[i].str(), " and ", f[i + 1].str(),
                  " that are not 2x apart; ceil(H/4) and ceil(W/4) must be multiples of 8 (e.g. H and W "
                  "multiples of 32)");
  const auto [a2, b2, c2] = decoder2_->forward4((*conv_a_)(f[0]), (*conv_b_)(f[1]), (*conv_c_)(f[2]), (*conv_d_)(f[3]));
  const auto [a3, b3, c3, d3] = encoder3_->forward3(a2, b2, c2);
  const Tensor a4 = decoder4_->forward4(a3, b3, c3, d3)[0];
  return zh320::resize_bilinear_ac((*classifier_)(a4), x.size(2), x.size(3));
}

CUDASEG_REGISTER_NETS(shelfnet) {
  nn::NetSpec spec;
  spec.name = "shelfnet";
  spec.summary = "ShelfNet (Zhuang et al. 2019), zh320 models/shelfnet.py: torchvision ResNet, 1x1 projections, "
                 "decoder / encoder / decoder columns of residual S-blocks";
  spec.args = {
      {"n_channel", 3, {}, "input channels (upstream accepts and ignores it: the backbone takes 3)"},
      {"backbone_type", "resnet18", {}, "torchvision ResNet encoder"},
      {"hid_channels", nn::Json::array({32, 64, 128, 256}), {}, "channels of the four rows, finest first"},
      {"act_type", "relu", {}, "activation of every ConvBNAct and S-block (zh320 Activation names)"},
  };
  for (const auto& name : resnet_types()) spec.args[1].choices.push_back(name);
  for (const auto& name : zh320::activation_names()) spec.args[3].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<ShelfNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                      a["backbone_type"].get<std::string>(),
                                      a["hid_channels"].get<std::vector<int64_t>>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
