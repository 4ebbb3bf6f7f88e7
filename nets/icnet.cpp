#include "nets/icnet.h"

#include <utility>

#include "autograd/arith.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/resnet.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {

namespace icnet_parts {

// act(conv1(up2(x1)) + conv2(x2)), and the aux classifier on up2(x1).
class CascadeFeatureFusionUnit : public nn::Module {
 public:
  CascadeFeatureFusionUnit(int64_t channel1, int64_t channel2, int64_t out_channels, int64_t num_classes,
                           const std::string& act_type, bool use_aux)
      : nn::Module("CascadeFeatureFusionUnit") {
    conv1_ = register_module("conv1", zh320::conv_bn_act(channel1, out_channels, 3, 1, 2, 1, false, "none"));
    conv2_ = register_module("conv2", zh320::conv_bn_act(channel2, out_channels, 1, 1, 1, 1, false, "none"));
    act_ = register_module("act", std::make_shared<zh320::Activation>(act_type));
    if (use_aux) classifier_ = register_module("classifier", zh320::seg_head(channel1, num_classes, act_type));
  }
  // {fused, aux} with with_aux, else {fused, undefined}: upstream computes the
  // aux logits in eval too and drops them, so eval skips them.
  std::pair<Tensor, Tensor> forward2(const Tensor& x1, const Tensor& x2, bool with_aux) {
    CUDASEG_CHECK(!with_aux || classifier_, "CascadeFeatureFusionUnit: built without use_aux, asked for aux logits");
    const auto body = [&] {
      const Tensor up = zh320::scale_bilinear_ac(x1, 2.0);
      Tensor aux;
      if (with_aux) aux = (*classifier_)(up);
      return std::make_pair(nn::activate_sum(*act_, (*conv1_)(up), (*conv2_)(x2)), aux);
    };
    if (with_aux) return observed_call({x1, x2}, body);
    return std::make_pair(observed_call({x1, x2}, [&] { return body().first; }), Tensor());
  }

 private:
  nn::ModulePtr conv1_, conv2_, act_, classifier_;
};

}  // namespace icnet_parts

namespace {

ResNetOptions dilated_layer3_layer4() {
  ResNetOptions options;
  options.strides = {1, 2, 1, 1};
  options.first_dilations = {1, 1, 2, 4};
  return options;
}

}  // namespace

ICNet::ICNet(int64_t num_classes, int64_t n_channel, const std::string& backbone_type, const std::string& act_type,
             bool use_aux)
    : nn::SegNet("ICNet"), use_aux_(use_aux) {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "ICNet: num_classes (", num_classes, ") and n_channel (", n_channel,
                ") must be positive");
  CUDASEG_CHECK(backbone_type != "resnet152", "ICNet: backbone_type 'resnet152' is not in icnet.py's ResNet hub "
                                              "(resnet18, resnet34, resnet50, resnet101)");
  auto backbone = register_module("backbone", std::make_shared<ResNet>(backbone_type, dilated_layer3_layer4()));
  backbone_ = backbone;
  const int64_t ch1 = backbone->channels()[3], ch2 = backbone->channels()[1];
  auto bottom = std::make_shared<nn::Sequential>();
  bottom->push_back(zh320::conv_bn_act(n_channel, 32, 3, 2, 1, 1, false, act_type));
  bottom->push_back(zh320::conv_bn_act(32, 64, 3, 2, 1, 1, false, act_type));
  bottom->push_back(zh320::conv_bn_act(64, 128, 3, 2, 1, 1, false, act_type));
  bottom_branch_ = register_module("bottom_branch", bottom);
  ppm_ = register_module("ppm", std::make_shared<zh320::PyramidPoolingModule>(ch1, 256, act_type));
  cff42_ = register_module("cff42", std::make_shared<icnet_parts::CascadeFeatureFusionUnit>(
                                        256, ch2, 128, num_classes, act_type, use_aux));
  cff21_ = register_module("cff21", std::make_shared<icnet_parts::CascadeFeatureFusionUnit>(
                                        128, 128, 128, num_classes, act_type, use_aux));
  seg_head_ = register_module("seg_head", zh320::seg_head(128, num_classes, act_type));
}

// In training the backbone runs whole on both scales, as upstream: its
// BatchNorms update their running statistics on both passes, in this order.
// In eval the half-scale pass stops at layer2, the only output used: layer3
// and layer4 (dilated, so at 1/16 of the input) would be 40% of the work for
// nothing.
std::vector<Tensor> ICNet::run(const Tensor& x, bool with_aux) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "ICNet: input ", x.str(),
                " must be [N, C, H, W] with H and W multiples of 32");
  const auto& backbone = static_cast<const ResNet&>(*backbone_);
  const Tensor x_d2 = zh320::scale_bilinear_ac(x, 0.5);
  const Tensor x_d4 = zh320::scale_bilinear_ac(x, 0.25);
  const Tensor y_d4 = (*ppm_)(backbone.forward_features(x_d4)[3]);
  const Tensor y_d2 = is_training() ? backbone.forward_features(x_d2)[1] : backbone.forward_stages(x_d2, 2)[2];
  const Tensor y = (*bottom_branch_)(x);
  const auto [f_d2, aux2] = cff42_->forward2(y_d4, y_d2, with_aux);
  const auto [f, aux3] = cff21_->forward2(f_d2, y, with_aux);
  const Tensor logits = zh320::resize_bilinear_ac((*seg_head_)(zh320::scale_bilinear_ac(f, 2.0)), x.size(2),
                                                  x.size(3));
  if (with_aux) return {logits, aux2, aux3};
  return {logits};
}

Tensor ICNet::forward(const Tensor& x) { return run(x, false)[0]; }

std::vector<Tensor> ICNet::forward_train(const Tensor& x) { return run(x, use_aux_); }

CUDASEG_REGISTER_NETS(icnet) {
  nn::NetSpec spec;
  spec.name = "icnet";
  spec.summary = "ICNet (Zhao et al. 2018), zh320 models/icnet.py: dilated torchvision ResNet on 1/4 and 1/2 scales, "
                 "pyramid pooling, full-scale conv branch, cascade feature fusion, optional aux heads";
  spec.args = {
      {"n_channel", 3, {}, "input channels of the full-scale branch (the ResNet stem takes 3, as upstream)"},
      {"backbone_type", "resnet18", {"resnet18", "resnet34", "resnet50", "resnet101"}, "torchvision ResNet"},
      {"act_type", "relu", {}, "activation of the ConvBNActs, pyramid pooling and fusion units"},
      {"use_aux", true, {}, "auxiliary SegHeads in both fusion units (training outputs only)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[2].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<ICNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                   a["backbone_type"].get<std::string>(), a["act_type"].get<std::string>(),
                                   a["use_aux"].get<bool>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
