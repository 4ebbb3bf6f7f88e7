#include "nets/fastscnn.h"

#include "autograd/arith.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
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

class GlobalFeatureExtractor : public nn::Module {
 public:
  GlobalFeatureExtractor(int64_t in_channels, int64_t out_channels, const std::string& act)
      : nn::Module("GlobalFeatureExtractor") {
    struct Setting {
      int64_t t, c, n, s;  // expansion, channels, repeats, first stride
    };
    const Setting settings[3] = {{6, 64, 3, 2}, {6, 96, 2, 2}, {6, 128, 3, 1}};
    auto bottlenecks = std::make_shared<nn::Sequential>();
    for (const auto& st : settings) {
      for (int64_t i = 0; i < st.n; ++i) {
        bottlenecks->push_back(std::make_shared<InvertedResidual>(in_channels, st.c, i == 0 ? st.s : 1, st.t, act));
        in_channels = st.c;
      }
    }
    bottlenecks_ = register_module("bottlenecks", bottlenecks);
    ppm_ = register_module("ppm", std::make_shared<zh320::PyramidPoolingModule>(in_channels, out_channels, act, true));
  }
  Tensor forward(const Tensor& x) override { return (*ppm_)((*bottlenecks_)(x)); }

 private:
  nn::ModulePtr bottlenecks_, ppm_;
};

}  // namespace

namespace fastscnn_parts {

// The low-resolution features are upsampled to the skip's size before their
// depth-wise conv, summed with the skip's 1x1 conv, then BatchNorm + act.
class FeatureFusionModule : public nn::Module {
 public:
  FeatureFusionModule(int64_t higher_channels, int64_t lower_channels, int64_t out_channels,
                      const std::string& act)
      : nn::Module("FeatureFusionModule") {
    higher_res_conv_ = register_module("higher_res_conv", zh320::conv1x1(higher_channels, out_channels));
    auto lower = std::make_shared<nn::Sequential>();
    lower->push_back(dw_conv_bn_act(lower_channels, lower_channels, 3, 1, 1, act));
    lower->push_back(zh320::conv1x1(lower_channels, out_channels));
    lower_res_conv_ = register_module("lower_res_conv", lower);
    auto non_linear = std::make_shared<nn::Sequential>();
    non_linear->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
    non_linear->push_back(std::make_shared<zh320::Activation>(act));
    non_linear_ = register_module("non_linear", non_linear);
  }
  Tensor forward2(const Tensor& higher_res_feat, const Tensor& lower_res_feat) {
    return observed_call({higher_res_feat, lower_res_feat}, [&] {
      const Tensor high = (*higher_res_conv_)(higher_res_feat);
      const Tensor low = (*lower_res_conv_)(
          zh320::resize_bilinear_ac(lower_res_feat, higher_res_feat.size(2), higher_res_feat.size(3)));
      return nn::activate_sum(*non_linear_, high, low);
    });
  }

 private:
  nn::ModulePtr higher_res_conv_, lower_res_conv_, non_linear_;
};

}  // namespace fastscnn_parts

FastSCNN::FastSCNN(int64_t num_classes, int64_t n_channel, const std::string& act_type) : nn::SegNet("FastSCNN") {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "FastSCNN: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  auto downsample = std::make_shared<nn::Sequential>();
  downsample->push_back(conv_bn_act(n_channel, 32, 3, 2, 1, 1, false, act_type));
  downsample->push_back(ds_conv_bn_act(32, 48, 3, 2, 1, act_type));
  downsample->push_back(ds_conv_bn_act(48, 64, 3, 2, 1, act_type));
  learning_to_downsample_ = register_module("learning_to_downsample", downsample);
  global_feature_extractor_ =
      register_module("global_feature_extractor", std::make_shared<GlobalFeatureExtractor>(64, 128, act_type));
  feature_fusion_ = register_module("feature_fusion",
                                    std::make_shared<fastscnn_parts::FeatureFusionModule>(64, 128, 128, act_type));
  auto classifier = std::make_shared<nn::Sequential>();
  classifier->push_back(ds_conv_bn_act(128, 128, 3, 1, 1, act_type));
  classifier->push_back(ds_conv_bn_act(128, 128, 3, 1, 1, act_type));
  classifier->push_back(pw_conv_bn_act(128, num_classes, act_type));
  classifier_ = register_module("classifier", classifier);
}

Tensor FastSCNN::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "FastSCNN: input ", x.str(), " must be [N, C, H, W]");
  const Tensor higher_res_feat = (*learning_to_downsample_)(x);
  const Tensor lower_res_feat = (*global_feature_extractor_)(higher_res_feat);
  const Tensor y = (*classifier_)(feature_fusion_->forward2(higher_res_feat, lower_res_feat));
  return zh320::resize_bilinear_ac(y, x.size(2), x.size(3));
}

CUDASEG_REGISTER_NETS(fastscnn) {
  nn::NetSpec spec;
  spec.name = "fastscnn";
  spec.summary = "Fast-SCNN (Poudel et al. 2019), zh320 models/fastscnn.py: learning to downsample, "
                 "global feature extractor with PPM, feature fusion, classifier";
  spec.args = {
      {"act_type", "relu", {}, "activation of every ConvBNAct (zh320 Activation names)"},
      {"n_channel", 3, {}, "input channels"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[0].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<FastSCNN>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                      a["act_type"].get<std::string>());
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
