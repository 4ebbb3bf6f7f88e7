#include "nets/fanet.h"

#include "autograd/arith.h"
#include "autograd/linalg.h"
#include "autograd/norm.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/resnet.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {

Tensor fast_attention_product(const Tensor& q, const Tensor& k, const Tensor& v) {
  CUDASEG_CHECK(q.dim() == 3 && q.shape() == k.shape() && q.shape() == v.shape(), "fast_attention_product: q ",
                q.str(), ", k ", k.str(), " and v ", v.str(), " must all be [B, C, n]");
  const Tensor qn = fn::normalize(q, 2.0, 1);
  const Tensor kt = fn::transpose(fn::normalize(k, 2.0, 1), 1, 2);
  return fn::div(fn::matmul(fn::matmul(qn, kt), v), static_cast<double>(q.size(2)));
}

namespace {

using zh320::conv_bn_act;

class FastAttention : public nn::Module {
 public:
  FastAttention(int64_t in_channels, int64_t out_channels, const std::string& act_type)
      : nn::Module("FastAttention") {
    conv_q_ = register_module("conv_q", conv_bn_act(in_channels, out_channels, 3, 1, 1, 1, false, "none"));
    conv_k_ = register_module("conv_k", conv_bn_act(in_channels, out_channels, 3, 1, 1, 1, false, "none"));
    conv_v_ = register_module("conv_v", conv_bn_act(in_channels, out_channels, 3, 1, 1, 1, false, "none"));
    conv_fuse_ = register_module("conv_fuse", conv_bn_act(out_channels, out_channels, 3, 1, 1, 1, false, act_type));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor q = (*conv_q_)(x);
    const Tensor k = (*conv_k_)(x);
    const Tensor v = (*conv_v_)(x);
    const Shape flat{v.size(0), v.size(1), v.size(2) * v.size(3)};
    const Tensor y = fast_attention_product(fn::reshape(q, flat), fn::reshape(k, flat), fn::reshape(v, flat));
    return fn::add((*conv_fuse_)(fn::reshape(y, v.shape())), v);
  }

 private:
  nn::ModulePtr conv_q_, conv_k_, conv_v_, conv_fuse_;
};

}  // namespace

namespace fanet_parts {

// conv(x_fa + up(x_up)), or conv(x_fa) for the deepest stage (has_up false).
class FuseUp : public nn::Module {
 public:
  FuseUp(int64_t in_channels, int64_t out_channels, bool has_up, const std::string& act_type)
      : nn::Module("FuseUp") {
    if (has_up) {
      up_ = register_module("up", std::make_shared<zh320::DeConvBNAct>(in_channels, in_channels, 2, std::nullopt,
                                                                        std::nullopt, act_type));
    }
    conv_ = register_module("conv", conv_bn_act(in_channels, out_channels, 3, 1, 1, 1, false, act_type));
  }
  Tensor forward(const Tensor& x_fa) override {
    CUDASEG_CHECK(!up_, "FuseUp: missing input from the Up layer");
    return (*conv_)(x_fa);
  }
  Tensor forward2(const Tensor& x_fa, const Tensor& x_up) {
    return observed_call({x_fa, x_up}, [&] {
      CUDASEG_CHECK(up_, "FuseUp: built without an Up layer, called with its input");
      return (*conv_)(fn::add(x_fa, (*up_)(x_up)));
    });
  }

 private:
  nn::ModulePtr up_, conv_;
};

}  // namespace fanet_parts

FANet::FANet(int64_t num_classes, int64_t n_channel, int64_t att_channel, const std::string& backbone_type,
             bool cat_feat, const std::string& act_type)
    : nn::SegNet("FANet"), cat_feat_(cat_feat) {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0 && att_channel > 0, "FANet: num_classes (", num_classes,
                "), n_channel (", n_channel, ") and att_channel (", att_channel, ") must be positive");
  CUDASEG_CHECK(backbone_type == "resnet18" || backbone_type == "resnet34", "FANet: backbone_type '", backbone_type,
                "' is not implemented upstream (resnet18 or resnet34)");
  ResNetOptions options;
  options.strides[0] = 2;
  auto backbone = register_module("backbone", std::make_shared<ResNet>(backbone_type, options));
  backbone_ = backbone;
  auto fast_attention = register_module("fast_attention", std::make_shared<nn::ModuleList>());
  auto fuse_up = register_module("fuse_up", std::make_shared<nn::ModuleList>());
  for (int i = 0; i < 4; ++i) {
    fast_attention_.push_back(std::make_shared<FastAttention>(backbone->channels()[i], att_channel, act_type));
    fast_attention->push_back(fast_attention_.back());
    fuse_up_.push_back(std::make_shared<fanet_parts::FuseUp>(att_channel, att_channel, i < 3, act_type));
    fuse_up->push_back(fuse_up_.back());
  }
  seg_head_ = register_module("seg_head", zh320::seg_head(cat_feat ? 4 * att_channel : att_channel, num_classes,
                                                         act_type));
}

Tensor FANet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(2) % 64 == 0 && x.size(3) % 64 == 0, "FANet: input ", x.str(),
                " must be [N, 3, H, W] with H and W multiples of 64");
  const auto feats = static_cast<const ResNet&>(*backbone_).forward_features(x);
  const Tensor x4 = (*fuse_up_[3])((*fast_attention_[3])(feats[3]));
  const Tensor x3 = fuse_up_[2]->forward2((*fast_attention_[2])(feats[2]), x4);
  const Tensor x2 = fuse_up_[1]->forward2((*fast_attention_[1])(feats[1]), x3);
  const Tensor x1 = fuse_up_[0]->forward2((*fast_attention_[0])(feats[0]), x2);
  Tensor y;
  if (cat_feat_) {
    y = (*seg_head_)(fn::cat({x1, zh320::resize_bilinear_ac(x2, x1), zh320::resize_bilinear_ac(x3, x1),
                              zh320::resize_bilinear_ac(x4, x1)},
                             1));
  } else {
    y = (*seg_head_)(x1);
  }
  return zh320::resize_bilinear_ac(y, x.size(2), x.size(3));
}

CUDASEG_REGISTER_NETS(fanet) {
  nn::NetSpec spec;
  spec.name = "fanet";
  spec.summary = "FANet (Hu et al. 2021), zh320 models/fanet.py: torchvision ResNet-18/34 with a strided layer1, "
                 "fast attention per stage (linear-memory order), top-down FuseUp path, SegHead";
  spec.args = {
      {"n_channel", 3, {}, "input channels (upstream accepts and ignores it: the backbone takes 3)"},
      {"att_channel", 32, {}, "channels of the fast attention blocks and the top-down path"},
      {"backbone_type", "resnet18", {"resnet18", "resnet34"}, "torchvision ResNet"},
      {"cat_feat", true, {}, "SegHead on all four stages concatenated at stride 8 (else on the stride-8 one)"},
      {"act_type", "relu", {}, "activation of the ConvBNActs (the FuseUp ones are built inplace upstream)"},
  };
  for (const auto& name : zh320::inplace_activation_names()) spec.args[4].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<FANet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                   a["att_channel"].get<int64_t>(), a["backbone_type"].get<std::string>(),
                                   a["cat_feat"].get<bool>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 64; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
