#include "nets/bisenetv1.h"

#include "autograd/arith.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/resnet.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// x * sigmoid(BN(conv1x1(global average of x))). Upstream expands the
// average to x's size before the ConvBNAct; in training that matters (the
// BatchNorm's unbiased running variance counts N*H*W values, not N), so the
// train path expands too; in eval every pixel gets the same value, so the
// ConvBNAct runs on the 1x1 map and the product broadcasts.
class AttentionRefinementModule : public nn::Module {
 public:
  explicit AttentionRefinementModule(int64_t channels) : nn::Module("AttentionRefinementModule") {
    pool_ = register_module("pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    conv_ = register_module("conv", conv_bn_act(channels, channels, 1, 1, 1, 1, false, "sigmoid"));
  }
  Tensor forward(const Tensor& x) override {
    Tensor x_pool = (*pool_)(x);
    if (is_training()) x_pool = fn::expand(x_pool, x.shape());
    return fn::mul(x, (*conv_)(x_pool));
  }

 private:
  nn::ModulePtr pool_, conv_;
};

class ContextPath : public nn::Module {
 public:
  ContextPath(int64_t out_channels, const std::string& backbone_type, const std::string& act_type)
      : nn::Module("ContextPath") {
    (void)act_type;  // upstream takes it and uses it nowhere
    backbone_ = register_module("backbone", std::make_shared<ResNet>(backbone_type));
    const bool basic = backbone_type.find("18") != std::string::npos || backbone_type.find("34") != std::string::npos;
    const int64_t c16 = basic ? 256 : 1024, c32 = basic ? 512 : 2048;
    pool_ = register_module("pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    arm_16_ = register_module("arm_16", std::make_shared<AttentionRefinementModule>(c16));
    arm_32_ = register_module("arm_32", std::make_shared<AttentionRefinementModule>(c32));
    conv_16_ = register_module("conv_16", zh320::conv1x1(c16, out_channels));
    conv_32_ = register_module("conv_32", zh320::conv1x1(c32, out_channels));
  }
  Tensor forward(const Tensor& x) override {
    const auto feats = backbone_->forward_features(x);
    const Tensor& x_32 = feats[3];
    Tensor y32 = fn::add((*arm_32_)(x_32), (*pool_)(x_32));
    y32 = zh320::scale_bilinear_ac((*conv_32_)(y32), 2.0);
    const Tensor y16 = fn::add((*conv_16_)((*arm_16_)(feats[2])), y32);
    return zh320::scale_bilinear_ac(y16, 2.0);
  }

 private:
  std::shared_ptr<ResNet> backbone_;
  nn::ModulePtr pool_, arm_16_, arm_32_, conv_16_, conv_32_;
};

}  // namespace

namespace bisenetv1_parts {

// x = ConvBNAct(cat[x_low, x_high]); x + x * attention(global average of x),
// the attention conv1x1 -> ReLU -> conv1x1 -> Sigmoid without BatchNorm: on
// the pooled 1x1 map, the same values upstream computes on its expansion.
class FeatureFusionModule : public nn::Module {
 public:
  FeatureFusionModule(int64_t in_channels, int64_t out_channels, const std::string& act_type)
      : nn::Module("FeatureFusionModule") {
    conv1_ = register_module("conv1", conv_bn_act(in_channels, out_channels, 3, 1, 1, 1, false, act_type));
    pool_ = register_module("pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    auto conv2 = std::make_shared<nn::Sequential>();
    conv2->push_back(zh320::conv1x1(out_channels, out_channels));
    conv2->push_back(std::make_shared<nn::Activation>(nn::ActKind::relu));
    conv2->push_back(zh320::conv1x1(out_channels, out_channels));
    conv2->push_back(std::make_shared<nn::Activation>(nn::ActKind::sigmoid));
    conv2_ = register_module("conv2", conv2);
  }
  Tensor forward2(const Tensor& x_low, const Tensor& x_high) {
    return observed_call({x_low, x_high}, [&] {
      const Tensor x = (*conv1_)(fn::cat({x_low, x_high}, 1));
      return fn::add(x, fn::mul(x, (*conv2_)((*pool_)(x))));
    });
  }

 private:
  nn::ModulePtr conv1_, pool_, conv2_;
};

}  // namespace bisenetv1_parts

BiSeNetv1::BiSeNetv1(int64_t num_classes, int64_t n_channel, const std::string& backbone_type,
                     const std::string& act_type)
    : nn::SegNet("BiSeNetv1") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "BiSeNetv1: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  auto spatial = std::make_shared<nn::Sequential>();
  spatial->push_back(conv_bn_act(n_channel, 128, 3, 2, 1, 1, false, act_type));
  spatial->push_back(conv_bn_act(128, 128, 3, 2, 1, 1, false, act_type));
  spatial->push_back(conv_bn_act(128, 128, 3, 2, 1, 1, false, act_type));
  spatial_path_ = register_module("spatial_path", spatial);
  context_path_ = register_module("context_path", std::make_shared<ContextPath>(256, backbone_type, act_type));
  ffm_ = register_module("ffm", std::make_shared<bisenetv1_parts::FeatureFusionModule>(384, 256, act_type));
  seg_head_ = register_module("seg_head", zh320::seg_head(256, num_classes, act_type));
}

Tensor BiSeNetv1::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "BiSeNetv1: input ", x.str(),
                " must be [N, C, H, W] with H and W multiples of 32");
  const Tensor x_s = (*spatial_path_)(x);
  const Tensor x_c = (*context_path_)(x);
  const Tensor y = (*seg_head_)(ffm_->forward2(x_s, x_c));
  return zh320::resize_bilinear_ac(y, x.size(2), x.size(3));
}

CUDASEG_REGISTER_NETS(bisenetv1) {
  nn::NetSpec spec;
  spec.name = "bisenetv1";
  spec.summary = "BiSeNet (Yu et al. 2018), zh320 models/bisenetv1.py: spatial path, torchvision ResNet context "
                 "path with attention refinement, feature fusion module, SegHead";
  spec.args = {
      {"n_channel", 3, {}, "input channels of the spatial path (the ResNet stem takes 3, as upstream)"},
      {"backbone_type", "resnet18", {}, "torchvision ResNet of the context path"},
      {"act_type", "relu", {}, "activation of the ConvBNActs (zh320 Activation names)"},
  };
  for (const auto& name : resnet_types()) spec.args[1].choices.push_back(name);
  for (const auto& name : zh320::activation_names()) spec.args[2].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<BiSeNetv1>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                       a["backbone_type"].get<std::string>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
