#include "nets/stdc.h"

#include "autograd/arith.h"
#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/loss.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "ops/compare.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

// BiSeNetV1's ARM (zh320 models/bisenetv1.py): the global average is
// broadcast back to H x W *before* the 1x1 ConvBN + sigmoid, as upstream
// does, so the train-mode BatchNorm sees H*W copies of each value. In eval
// every pixel would get the same value: the ConvBN + sigmoid run on the 1x1
// map and the product broadcasts (as nets/bisenetv1.cpp).
class AttentionRefinementModule : public nn::Module {
 public:
  explicit AttentionRefinementModule(int64_t channels) : nn::Module("AttentionRefinementModule") {
    pool_ = register_module("pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    conv_ = register_module("conv", zh320::conv_bn_act(channels, channels, 1, 1, 1, 1, false, "sigmoid"));
  }
  Tensor forward(const Tensor& x) override {
    Tensor att = (*pool_)(x);
    if (is_training()) att = fn::contiguous(fn::expand(att, x.shape()));
    return fn::mul(x, (*conv_)(att));
  }

 private:
  nn::ModulePtr pool_, conv_;
};

}  // namespace

namespace stdc_parts {

// BiSeNetV1's FFM: ConvBNAct 3x3 on cat[x_low, x_high], then x + x * SE(x),
// the SE branch again run on the H x W broadcast of the global average.
class FeatureFusionModule : public nn::Module {
 public:
  FeatureFusionModule(int64_t in_channels, int64_t out_channels, const std::string& act_type)
      : nn::Module("FeatureFusionModule") {
    conv1_ = register_module("conv1", zh320::conv_bn_act(in_channels, out_channels, 3, 1, 1, 1, false, act_type));
    pool_ = register_module("pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    auto se = std::make_shared<nn::Sequential>();
    se->push_back(zh320::conv1x1(out_channels, out_channels));
    se->push_back(std::make_shared<nn::Activation>(nn::ActKind::relu));
    se->push_back(zh320::conv1x1(out_channels, out_channels));
    se->push_back(std::make_shared<nn::Activation>(nn::ActKind::sigmoid));
    conv2_ = register_module("conv2", se);
  }
  Tensor fuse(const Tensor& x_low, const Tensor& x_high) {
    return observed_call({x_low, x_high}, [&] {
      Tensor x = (*conv1_)(fn::cat({x_low, x_high}, 1));
      // The SE branch on the 1x1 average in eval, as the ARM above.
      Tensor att = (*pool_)(x);
      if (is_training()) att = fn::contiguous(fn::expand(att, x.shape()));
      att = (*conv2_)(att);
      return fn::add(x, fn::mul(x, att));
    });
  }

 private:
  nn::ModulePtr conv1_, pool_, conv2_;
};

}  // namespace stdc_parts

STDC::STDC(int64_t num_classes, int64_t n_channel, const std::string& encoder_type, bool use_detail_head,
           bool use_aux, const std::string& act_type)
    : nn::SegNet("STDC"), use_detail_head_(use_detail_head), use_aux_(use_aux) {
  CUDASEG_CHECK(!(use_detail_head && use_aux), "stdc: use_aux and use_detail_head are exclusive (as upstream)");
  stages_ = STDCStages::register_on(*this, n_channel, {32, 64, 256, 512, 1024}, encoder_type);
  if (use_aux) {
    aux_head3_ = register_module("aux_head3", zh320::seg_head(256, num_classes, act_type));
    aux_head4_ = register_module("aux_head4", zh320::seg_head(512, num_classes, act_type));
    aux_head5_ = register_module("aux_head5", zh320::seg_head(1024, num_classes, act_type));
  }
  pool_ = register_module("pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
  arm4_ = register_module("arm4", std::make_shared<AttentionRefinementModule>(512));
  arm5_ = register_module("arm5", std::make_shared<AttentionRefinementModule>(1024));
  conv4_ = register_module("conv4", zh320::conv1x1(512, 256));
  conv5_ = register_module("conv5", zh320::conv1x1(1024, 256));
  ffm_ = register_module("ffm", std::make_shared<stdc_parts::FeatureFusionModule>(256 + 256, 128, act_type));
  seg_head_ = register_module("seg_head", zh320::seg_head(128, num_classes, act_type));
  if (use_detail_head) {
    detail_head_ = register_module("detail_head", zh320::seg_head(256, 1, act_type));
    detail_conv_ = register_module("detail_conv", zh320::conv1x1(3, 1));
  }
}

const nn::Conv2d& STDC::detail_conv() const {
  CUDASEG_CHECK(detail_conv_ != nullptr, "stdc: detail_conv exists only with use_detail_head");
  return *detail_conv_;
}

std::vector<Tensor> STDC::run(const Tensor& x, bool training_outputs) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "stdc: input ", x.str(),
                " must be [N, C, H, W] with H and W multiples of 32");
  const std::array<int64_t, 2> size{x.size(2), x.size(3)};
  auto [x3, x4, x5] = stages_.forward(x);
  // Upstream evaluates the aux heads whenever use_aux; only in training mode
  // does that matter without returning them (their BatchNorm statistics move).
  const bool aux = use_aux_ && (training_outputs || is_training());
  std::vector<Tensor> auxs;
  if (aux) auxs = {(*aux_head3_)(x3), (*aux_head4_)(x4), (*aux_head5_)(x5)};

  // The 1/32 and 1/16 paths are released as soon as they are consumed, not
  // at the end of run(): alive through the FFM they were 32 of the 176 MiB
  // that STDC1's memory plan needs at 1024x2048.
  Tensor y5 = fn::add((*pool_)(x5), (*arm5_)(x5));
  x5 = Tensor();
  y5 = fn::interpolate((*conv5_)(y5), std::nullopt, std::array<double, 2>{2.0, 2.0}, "bilinear", true);
  Tensor y4 = fn::add((*conv4_)((*arm4_)(x4)), y5);
  x4 = y5 = Tensor();
  y4 = fn::interpolate(y4, std::nullopt, std::array<double, 2>{2.0, 2.0}, "bilinear", true);
  Tensor y = ffm_->fuse(y4, x3);
  Tensor out = zh320::resize_bilinear_ac((*seg_head_)(y), size);

  if (training_outputs && use_detail_head_) return {out, (*detail_head_)(x3)};
  if (training_outputs && use_aux_) return {out, auxs[0], auxs[1], auxs[2]};
  return {out};
}

Tensor STDC::forward(const Tensor& x) { return run(x, false)[0]; }

std::vector<Tensor> STDC::forward_train(const Tensor& x) { return run(x, true); }

std::vector<nn::NetLoss> STDC::net_losses(const nn::NetLossOptions& options) const {
  if (!use_detail_head_) return {};
  auto detail = [this, options](const std::vector<Tensor>& outputs, const Tensor& labels) {
    CUDASEG_CHECK(outputs.size() >= 2, "detail loss: STDC returned no detail logits");
    const Tensor targets = stdc_detail_targets(labels, detail_conv(), options.detail_thresh);
    return stdc_detail_loss(outputs[1], targets, options.dice_coef, options.bce_coef).total;
  };
  return {{"detail", options.detail_coef, 1, detail}};
}

Tensor stdc_laplacian_labels(const Tensor& labels, DType dtype) {
  CUDASEG_CHECK(labels.dim() == 3, "stdc_laplacian_labels: labels must be [N, H, W], got ", labels.str());
  const Tensor lbl = labels.to(dtype).unsqueeze(1);
  const Tensor kernel =
      Tensor::from_vector({-1, -1, -1, -1, 8, -1, -1, -1, -1}, {1, 1, 3, 3}, dtype).to(labels.device());
  const std::array<int64_t, 2> size{labels.size(1), labels.size(2)};
  std::vector<Tensor> maps;
  for (int64_t stride : {1, 2, 4}) {
    ops::Conv2dParams p;
    p.stride = {stride, stride};
    p.padding = {1, 1};
    Tensor m = fn::conv2d(lbl, kernel, Tensor(), p);
    if (stride != 1) m = fn::interpolate(m, size, std::nullopt, "nearest");
    maps.push_back(m);
  }
  return fn::cat(maps, 1);
}

Tensor stdc_detail_targets(const Tensor& labels, const nn::Conv2d& detail_conv, double threshold) {
  autograd::NoGradGuard no_grad;
  const DType dtype = detail_conv.weight.dtype();
  const Tensor fused = fn::conv2d(stdc_laplacian_labels(labels, dtype), detail_conv.weight, detail_conv.bias,
                                  detail_conv.params());
  return ops::gt(fused, threshold).to(dtype);
}

DetailLoss stdc_detail_loss(const Tensor& detail_logits, const Tensor& targets, double dice_coef,
                            double bce_coef) {
  CUDASEG_CHECK(detail_logits.dim() == 4 && targets.dim() == 4 && detail_logits.size(1) == targets.size(1),
                "stdc_detail_loss: logits ", detail_logits.str(), " and targets ", targets.str(),
                " must be [N, 1, h, w] and [N, 1, H, W]");
  const Tensor pred = zh320::resize_bilinear_ac(detail_logits, {targets.size(2), targets.size(3)});
  fn::DiceOptions dice_options;
  dice_options.smooth = 1.0;
  dice_options.apply_sigmoid = false;
  DetailLoss loss;
  loss.dice = fn::dice_loss(pred, targets, dice_options);
  loss.bce = fn::binary_cross_entropy_with_logits(pred, targets);
  loss.total = fn::add(fn::mul(loss.dice, dice_coef), fn::mul(loss.bce, bce_coef));
  return loss;
}

CUDASEG_REGISTER_NETS(stdc) {
  nn::NetSpec spec;
  spec.name = "stdc";
  spec.summary = "STDC-Seg (Fan et al. 2021), zh320 models/stdc.py: STDC1/2 encoder, ARM + FFM decoder, aux or detail heads";
  spec.args = {
      {"encoder_type", "stdc1", {"stdc1", "stdc2"}, "STDC1 or STDC2 encoder"},
      {"use_aux", false, {}, "aux SegHeads on stages 3, 4, 5 (training outputs)"},
      {"use_detail_head", false, {}, "detail SegHead on stage 3 (training output); exclusive with use_aux"},
      {"act_type", "relu", {}, "activation of the heads and the FFM (zh320 Activation names)"},
      {"n_channel", 3, {}, "input channels"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[3].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<STDC>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                  a["encoder_type"].get<std::string>(), a["use_detail_head"].get<bool>(),
                                  a["use_aux"].get<bool>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
