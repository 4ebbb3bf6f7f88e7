#include "nets/contextnet.h"

#include "autograd/arith.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "nets/zh320_separable.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;
using zh320::ds_conv_bn_act;
using zh320::dw_conv_bn_act;
using zh320::InvertedResidual;
using zh320::pw_conv_bn_act;

// Upstream's Branch_1: the depth-wise convs stay linear (act 'none'), only
// the point-wise ones that follow them activate.
std::shared_ptr<nn::Sequential> full_res_branch(int64_t in_channels, const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(conv_bn_act(in_channels, 32, 3, 2, 1, 1, false, act));
  seq->push_back(dw_conv_bn_act(32, 32, 3, 1, 1, "none"));
  seq->push_back(pw_conv_bn_act(32, 64, act));
  seq->push_back(dw_conv_bn_act(64, 64, 3, 1, 1, "none"));
  seq->push_back(pw_conv_bn_act(64, 128, act));
  seq->push_back(dw_conv_bn_act(128, 128, 3, 1, 1, "none"));
  seq->push_back(pw_conv_bn_act(128, 128, act));
  return seq;
}

// Upstream's Branch_4, on the 1/4 image: stem (stride 2), bottlenecks
// (stride 4 more), a 3x3 ConvBNAct.
class LowerResBranch : public nn::Module {
 public:
  LowerResBranch(int64_t in_channels, int64_t out_channels, const std::string& act) : nn::Module("Branch_4") {
    conv_init_ = register_module("conv_init", conv_bn_act(in_channels, 32, 3, 2, 1, 1, false, act));
    struct Setting {
      int64_t t, c, n, s;  // expansion, channels, repeats, first stride
    };
    const Setting settings[6] = {{1, 32, 1, 1}, {6, 32, 1, 1}, {6, 48, 3, 2},
                                 {6, 64, 3, 2}, {6, 96, 2, 1}, {6, 128, 2, 1}};
    auto bottlenecks = std::make_shared<nn::Sequential>();
    int64_t channels = 32;
    for (const auto& st : settings) {
      for (int64_t i = 0; i < st.n; ++i) {
        bottlenecks->push_back(std::make_shared<InvertedResidual>(channels, st.c, i == 0 ? st.s : 1, st.t, act));
        channels = st.c;
      }
    }
    bottlenecks_ = register_module("bottlenecks", bottlenecks);
    conv_last_ = register_module("conv_last", conv_bn_act(channels, out_channels, 3, 1, 1, 1, false, act));
  }
  Tensor forward(const Tensor& x) override { return (*conv_last_)((*bottlenecks_)((*conv_init_)(x))); }

 private:
  nn::ModulePtr conv_init_, bottlenecks_, conv_last_;
};

}  // namespace

namespace contextnet_parts {

// The context features are upsampled to the detail's size before their
// dilated separable conv; the two 1x1 projections are summed, then act (no
// BatchNorm after the sum, unlike Fast-SCNN's fusion).
class FeatureFusion : public nn::Module {
 public:
  FeatureFusion(int64_t branch_1_channels, int64_t branch_4_channels, int64_t out_channels, const std::string& act)
      : nn::Module("FeatureFusion") {
    branch_1_conv_ = register_module("branch_1_conv", zh320::conv1x1(branch_1_channels, out_channels));
    auto branch_4 = std::make_shared<nn::Sequential>();
    branch_4->push_back(ds_conv_bn_act(branch_4_channels, out_channels, 3, 1, 4, "none"));
    branch_4->push_back(zh320::conv1x1(out_channels, out_channels));
    branch_4_conv_ = register_module("branch_4_conv", branch_4);
    act_ = register_module("act", std::make_shared<zh320::Activation>(act));
  }
  Tensor forward2(const Tensor& branch_1_feat, const Tensor& branch_4_feat) {
    return observed_call({branch_1_feat, branch_4_feat}, [&] {
      const Tensor detail = (*branch_1_conv_)(branch_1_feat);
      const Tensor context = (*branch_4_conv_)(zh320::resize_bilinear_ac(branch_4_feat, branch_1_feat));
      return nn::activate_sum(*act_, detail, context);
    });
  }

 private:
  nn::ModulePtr branch_1_conv_, branch_4_conv_, act_;
};

}  // namespace contextnet_parts

ContextNet::ContextNet(int64_t num_classes, int64_t n_channel, const std::string& act_type)
    : nn::SegNet("ContextNet") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "ContextNet: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  full_res_branch_ = register_module("full_res_branch", full_res_branch(n_channel, act_type));
  lower_res_branch_ = register_module("lower_res_branch", std::make_shared<LowerResBranch>(n_channel, 128, act_type));
  feature_fusion_ = register_module("feature_fusion",
                                    std::make_shared<contextnet_parts::FeatureFusion>(128, 128, 128, act_type));
  classifier_ = register_module("classifier", conv_bn_act(128, num_classes, 1, 1, 1, 1, false, act_type));
}

Tensor ContextNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "ContextNet: input ", x.str(), " must be [N, C, H, W]");
  const Tensor x_lower = zh320::scale_bilinear_ac(x, 0.25);
  const Tensor full_res_feat = (*full_res_branch_)(x);
  const Tensor lower_res_feat = (*lower_res_branch_)(x_lower);
  const Tensor y = (*classifier_)(feature_fusion_->forward2(full_res_feat, lower_res_feat));
  return zh320::resize_bilinear_ac(y, x.size(2), x.size(3));
}

CUDASEG_REGISTER_NETS(contextnet) {
  nn::NetSpec spec;
  spec.name = "contextnet";
  spec.summary = "ContextNet (Poudel et al. 2018), zh320 models/contextnet.py: full-resolution detail branch, "
                 "1/4-image MobileNetV2 context branch, additive fusion";
  spec.args = {
      {"act_type", "relu", {}, "activation of every ConvBNAct (zh320 Activation names)"},
      {"n_channel", 3, {}, "input channels"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[0].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<ContextNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                        a["act_type"].get<std::string>());
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
