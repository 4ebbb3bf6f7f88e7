#include "nets/stdcseg.h"

#include <array>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/loss.h"
#include "autograd/pool.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/registry.h"
#include "nets/stdcnet.h"
#include "ops/compare.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using nn::ModulePtr;

std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1, int64_t groups = 1) {
  return std::make_shared<nn::Conv2d>(in, out, k, stride, k / 2, 1, groups, false);
}

// The backbone's norms are torch BatchNorm2d; the segmentation model's are
// InPlaceABNSync(activation='none'): the same maths, no num_batches_tracked.
std::shared_ptr<nn::BatchNorm2d> bn(int64_t channels, bool abn) {
  return std::make_shared<nn::BatchNorm2d>(channels, 1e-5, 0.1, true, true, !abn);
}

ModulePtr conv_bn_relu(int64_t in, int64_t out, int64_t k) {
  return std::make_shared<STDCConvBNReLU>("ConvBNReLU", in, out, k, 1, false);
}

// STDCNet813 / STDCNet1446 (base 64, block_num 4, type 'cat'): features =
// ConvX 3x3 s2 (3 -> 32), ConvX 3x3 s2 (-> 64), then per stage one stride-2
// CatBottleneck and layers[i] - 1 stride-1 ones (256, 512, 1024 channels).
class STDCNet : public nn::Module {
 public:
  STDCNet(const std::string& name, bool use_conv_last) : nn::Module(name), use_conv_last_(use_conv_last) {
    features_ = STDCFeatures::register_on(*this, 3, 64, stdcnet_layers(name), STDCNetOptions{});
    conv_last_ = register_module("conv_last", std::make_shared<STDCConvBNReLU>("ConvX", 1024, 1024, 1, 1, true));
    register_module("fc", std::make_shared<nn::Linear>(1024, 1024, false));
    register_module("bn", std::make_shared<nn::BatchNorm2d>(1024));
    register_module("linear", std::make_shared<nn::Linear>(1024, 1000, false));
  }

  // Strides 2, 4, 8, 16, 32.
  std::array<Tensor, 5> forward_features(const Tensor& x) const {
    return observed_call({x}, [&] {
      std::array<Tensor, 5> feats = features_.forward(x);
      if (use_conv_last_) feats[4] = (*conv_last_)(feats[4]);
      return feats;
    });
  }

  std::vector<std::pair<std::string, std::string>> aliases(const std::string& prefix) const {
    static const char* const names[5] = {"x2", "x4", "x8", "x16", "x32"};
    std::vector<std::pair<std::string, std::string>> out;
    int64_t begin = 0;
    for (size_t s = 0; s < 5; ++s) {
      for (int64_t i = begin; i < features_.ends[s]; ++i) {
        // A slice of a Sequential keeps its children's keys: x8 = Sequential(features[2:4]) holds x8.0.2, x8.0.3.
        const std::string index = std::to_string(i) + ".";
        out.emplace_back(prefix + names[s] + ".0." + index, prefix + "features." + index);
      }
      begin = features_.ends[s];
    }
    return out;
  }

 private:
  bool use_conv_last_;
  STDCFeatures features_;
  ModulePtr conv_last_;
};

// Global average of [N, C, H, W] as [N, C, 1, 1] (F.avg_pool2d over the whole map).
Tensor global_average(const Tensor& x) { return fn::adaptive_avg_pool2d(x, {1, 1}); }

// conv (ConvBNReLU 3x3), then feat * sigmoid(bn_atten(conv_atten(avg(feat)))).
class AttentionRefinementModule : public nn::Module {
 public:
  AttentionRefinementModule(int64_t in, int64_t out) : nn::Module("AttentionRefinementModule") {
    conv_ = register_module("conv", conv_bn_relu(in, out, 3));
    atten_.conv = register_module("conv_atten", conv(out, out, 1));
    atten_.bn = register_module("bn_atten", bn(out, true));
    atten_.act = register_module("sigmoid_atten", std::make_shared<nn::Activation>(nn::ActKind::sigmoid));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor feat = (*conv_)(x);
    const Tensor atten = (*atten_.act)((*atten_.bn)((*atten_.conv)(global_average(feat))));
    return fn::mul(feat, atten);
  }
  std::vector<nn::FusableChain> fusable_chains() const override { return {atten_}; }

 private:
  ModulePtr conv_;
  nn::FusableChain atten_;
};

Tensor nearest(const Tensor& x, const Tensor& like) {
  return fn::interpolate(x, std::array<int64_t, 2>{like.size(2), like.size(3)}, std::nullopt, "nearest");
}

// ContextPath: arm32(x32) + conv_avg(avg(x32)), nearest to stride 16,
// conv_head32; + arm16(x16), nearest to stride 8, conv_head16. (Upstream's
// BiSeNet names the stride-8 result feat_cp8 and the stride-16 one feat_cp16.)
class ContextPath : public nn::Module {
 public:
  ContextPath(const std::string& backbone, bool use_conv_last) : nn::Module("ContextPath") {
    backbone_ = register_module("backbone", std::make_shared<STDCNet>(backbone, use_conv_last));
    arm16_ = register_module("arm16", std::make_shared<AttentionRefinementModule>(512, 128));
    arm32_ = register_module("arm32", std::make_shared<AttentionRefinementModule>(1024, 128));
    conv_head32_ = register_module("conv_head32", conv_bn_relu(128, 128, 3));
    conv_head16_ = register_module("conv_head16", conv_bn_relu(128, 128, 3));
    conv_avg_ = register_module("conv_avg", conv_bn_relu(1024, 128, 1));
  }

  // {feat2, feat4, feat8, feat16, feat_cp8 (stride 8), feat_cp16 (stride 16)}.
  std::array<Tensor, 6> run(const Tensor& x) const {
    return observed_call({x}, [&] {
      const auto [feat2, feat4, feat8, feat16, feat32] = backbone_->forward_features(x);
      const Tensor avg_up = nearest((*conv_avg_)(global_average(feat32)), feat32);
      const Tensor feat32_up = (*conv_head32_)(nearest(fn::add((*arm32_)(feat32), avg_up), feat16));
      const Tensor feat16_up = (*conv_head16_)(nearest(fn::add((*arm16_)(feat16), feat32_up), feat8));
      return std::array<Tensor, 6>{feat2, feat4, feat8, feat16, feat16_up, feat32_up};
    });
  }

  std::vector<std::pair<std::string, std::string>> aliases(const std::string& prefix) const {
    return backbone_->aliases(prefix + "backbone.");
  }

 private:
  std::shared_ptr<STDCNet> backbone_;
  ModulePtr arm16_, arm32_, conv_head32_, conv_head16_, conv_avg_;
};

// convblk (1x1 ConvBNReLU) on cat[fsp, fcp], then feat + feat * SE(feat) with
// SE = sigmoid(conv2(relu(conv1(avg(feat))))), conv1/conv2 1x1 without bias.
class FeatureFusionModule : public nn::Module {
 public:
  FeatureFusionModule(int64_t in, int64_t out) : nn::Module("FeatureFusionModule") {
    convblk_ = register_module("convblk", conv_bn_relu(in, out, 1));
    conv1_ = register_module("conv1", conv(out, out / 4, 1));
    conv2_ = register_module("conv2", conv(out / 4, out, 1));
    relu_ = register_module("relu", std::make_shared<nn::Activation>(nn::ActKind::relu));
    sigmoid_ = register_module("sigmoid", std::make_shared<nn::Activation>(nn::ActKind::sigmoid));
  }
  Tensor fuse(const Tensor& fsp, const Tensor& fcp) const {
    return observed_call({fsp, fcp}, [&] {
      const Tensor feat = (*convblk_)(fn::cat({fsp, fcp}, 1));
      const Tensor atten = (*sigmoid_)((*conv2_)((*relu_)((*conv1_)(global_average(feat)))));
      return fn::add(fn::mul(feat, atten), feat);
    });
  }
  std::vector<nn::FusableChain> fusable_chains() const override {
    return {{conv1_, nullptr, relu_}, {conv2_, nullptr, sigmoid_}};
  }

 private:
  ModulePtr convblk_, conv1_, conv2_, relu_, sigmoid_;
};

// BiSeNetOutput: conv (ConvBNReLU 3x3, in -> mid), conv_out (1x1, no bias).
class BiSeNetOutput : public nn::Module {
 public:
  BiSeNetOutput(int64_t in, int64_t mid, int64_t classes) : nn::Module("BiSeNetOutput") {
    conv_ = register_module("conv", conv_bn_relu(in, mid, 3));
    conv_out_ = register_module("conv_out", conv(mid, classes, 1));
  }
  Tensor forward(const Tensor& x) override { return (*conv_out_)((*conv_)(x)); }

 private:
  ModulePtr conv_, conv_out_;
};

Tensor resize_to_input(const Tensor& logits, const Tensor& x) {
  return fn::interpolate(logits, std::array<int64_t, 2>{x.size(2), x.size(3)}, std::nullopt, "bilinear", true);
}

}  // namespace

STDCSeg::STDCSeg(int64_t num_classes, const STDCSegOptions& o) : nn::SegNet("BiSeNet"), options_(o) {
  CUDASEG_CHECK(o.backbone == "STDCNet813" || o.backbone == "STDCNet1446", "stdcseg: unknown backbone '",
                o.backbone, "' (STDCNet813, STDCNet1446)");
  const bool b2 = o.use_boundary_2, b4 = o.use_boundary_4, b8 = o.use_boundary_8;
  CUDASEG_CHECK((!b2 || (b4 && b8)) && (!b4 || b8), "stdcseg: use_boundary_2/4/8 = ", b2, "/", b4, "/", b8,
                " has no training outputs upstream (its forward returns None): use none, 8, 4 and 8, or 2, 4 and 8");
  cp_ = register_module("cp", std::make_shared<ContextPath>(o.backbone, o.use_conv_last));
  ffm_ = register_module("ffm", std::make_shared<FeatureFusionModule>(256 + 128, 256));
  conv_out_ = register_module("conv_out", std::make_shared<BiSeNetOutput>(256, 256, num_classes));
  conv_out16_ = register_module("conv_out16", std::make_shared<BiSeNetOutput>(128, 64, num_classes));
  conv_out32_ = register_module("conv_out32", std::make_shared<BiSeNetOutput>(128, 64, num_classes));
  conv_out_sp16_ = register_module("conv_out_sp16", std::make_shared<BiSeNetOutput>(512, 64, 1));
  conv_out_sp8_ = register_module("conv_out_sp8", std::make_shared<BiSeNetOutput>(256, 64, 1));
  conv_out_sp4_ = register_module("conv_out_sp4", std::make_shared<BiSeNetOutput>(64, 64, 1));
  conv_out_sp2_ = register_module("conv_out_sp2", std::make_shared<BiSeNetOutput>(32, 64, 1));
}

int64_t STDCSeg::num_detail_outputs() const {
  return int64_t{options_.use_boundary_2} + int64_t{options_.use_boundary_4} + int64_t{options_.use_boundary_8};
}

std::vector<Tensor> STDCSeg::run(const Tensor& x, bool training_outputs) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == 3, "stdcseg: input ", x.str(), " must be [N, 3, H, W]");
  const auto [feat2, feat4, feat8, feat16, feat_cp8, feat_cp16] =
      std::static_pointer_cast<ContextPath>(cp_)->run(x);
  // Upstream runs every head in every forward; in training mode that moves
  // the heads' BatchNorm statistics even when their output is not returned.
  const bool all_heads = training_outputs || is_training();
  std::array<Tensor, 4> sp;  // sp2, sp4, sp8, sp16
  if (all_heads) {
    sp = {(*conv_out_sp2_)(feat2), (*conv_out_sp4_)(feat4), (*conv_out_sp8_)(feat8), (*conv_out_sp16_)(feat16)};
  }
  const Tensor feat_fuse = std::static_pointer_cast<FeatureFusionModule>(ffm_)->fuse(feat8, feat_cp8);
  std::vector<Tensor> outs{resize_to_input((*conv_out_)(feat_fuse), x)};
  if (!all_heads) return outs;
  outs.push_back(resize_to_input((*conv_out16_)(feat_cp8), x));
  outs.push_back(resize_to_input((*conv_out32_)(feat_cp16), x));
  if (!training_outputs) return {outs[0]};
  if (options_.use_boundary_2) outs.push_back(sp[0]);
  if (options_.use_boundary_4) outs.push_back(sp[1]);
  if (options_.use_boundary_8) outs.push_back(sp[2]);
  return outs;
}

Tensor STDCSeg::forward(const Tensor& x) { return run(x, false)[0]; }

std::vector<Tensor> STDCSeg::forward_train(const Tensor& x) { return run(x, true); }

std::vector<std::pair<std::string, std::string>> STDCSeg::state_dict_aliases() const {
  return std::static_pointer_cast<ContextPath>(cp_)->aliases("cp.");
}

std::vector<nn::NetLoss> STDCSeg::net_losses(const nn::NetLossOptions& options) const {
  const int64_t n = num_detail_outputs();
  if (n == 0) return {};
  auto detail = [n, options](const std::vector<Tensor>& outputs, const Tensor& labels) {
    CUDASEG_CHECK(static_cast<int64_t>(outputs.size()) == 3 + n, "detail loss: stdcseg returned ", outputs.size(),
                  " outputs, expected ", 3 + n);
    const Tensor targets = stdcseg_detail_targets(labels, outputs[3].dtype(), options.detail_thresh);
    Tensor total;
    for (int64_t i = 0; i < n; ++i) {
      const DetailAggregateTerms t = stdcseg_detail_loss(outputs[static_cast<size_t>(3 + i)], targets);
      const Tensor term = fn::add(fn::mul(t.bce, options.bce_coef), fn::mul(t.dice, options.dice_coef));
      total = total.defined() ? fn::add(total, term) : term;
    }
    return total;
  };
  return {{"detail", options.detail_coef, 3, detail}};
}

Tensor stdcseg_detail_targets(const Tensor& labels, DType dtype, double threshold) {
  CUDASEG_CHECK(labels.dim() == 3, "stdcseg_detail_targets: labels must be [N, H, W], got ", labels.str());
  autograd::NoGradGuard no_grad;
  // PyTorch compares a float32 tensor with a Python float in float32.
  auto rounded = [dtype](double v) { return dtype == DType::f32 ? static_cast<double>(static_cast<float>(v)) : v; };
  const Tensor lbl = labels.to(dtype).unsqueeze(1);
  const Tensor kernel =
      Tensor::from_vector({-1, -1, -1, -1, 8, -1, -1, -1, -1}, {1, 1, 3, 3}, dtype).to(labels.device());
  const std::array<int64_t, 2> size{labels.size(1), labels.size(2)};
  std::vector<Tensor> levels;
  for (int64_t stride : {1, 2, 4}) {
    ops::Conv2dParams p;
    p.stride = {stride, stride};
    p.padding = {1, 1};
    Tensor m = ops::gt(fn::conv2d(lbl, kernel, Tensor(), p), rounded(threshold)).to(dtype);
    if (stride != 1) m = fn::interpolate(m, size, std::nullopt, "nearest");
    levels.push_back(m);
  }
  const Tensor fuse_kernel = Tensor::from_vector({0.6f, 0.3f, 0.1f}, {1, 3, 1, 1}, DType::f32).to(dtype);
  const Tensor fused = fn::conv2d(fn::cat(levels, 1), fuse_kernel.to(labels.device()), Tensor(), {});
  return ops::gt(fused, rounded(threshold)).to(dtype);
}

DetailAggregateTerms stdcseg_detail_loss(const Tensor& detail_logits, const Tensor& targets) {
  CUDASEG_CHECK(detail_logits.dim() == 4 && targets.dim() == 4 && detail_logits.size(1) == 1 &&
                    targets.size(1) == 1,
                "stdcseg_detail_loss: logits ", detail_logits.str(), " and targets ", targets.str(),
                " must be [N, 1, h, w] and [N, 1, H, W]");
  Tensor pred = detail_logits;
  if (pred.size(3) != targets.size(3)) pred = resize_to_input(pred, targets);
  fn::DiceOptions dice;
  dice.smooth = 1.0;
  dice.apply_sigmoid = true;
  return {fn::binary_cross_entropy_with_logits(pred, targets), fn::dice_loss(pred, targets, dice)};
}

CUDASEG_REGISTER_NETS(stdcseg) {
  nn::NetSpec spec;
  spec.name = "stdcseg";
  spec.summary = "STDC-Seg (Fan et al. 2021), MichaelFan01/STDC-Seg models/model_stages.py BiSeNet: "
                 "STDC1/2 (STDCNet813/1446) encoder, ARM + FFM decoder, aux and detail heads";
  spec.args = {
      {"backbone", "STDCNet813", {"STDCNet813", "STDCNet1446"}, "STDC1 (STDCNet813) or STDC2 (STDCNet1446)"},
      {"use_boundary_2", false, {}, "detail head sp2 among the training outputs (needs 4 and 8)"},
      {"use_boundary_4", false, {}, "detail head sp4 among the training outputs (needs 8)"},
      {"use_boundary_8", false, {}, "detail head sp8 among the training outputs (upstream's training scripts)"},
      {"use_boundary_16", false, {}, "accepted as upstream; changes nothing"},
      {"use_conv_last", false, {}, "the backbone's conv_last on the stride-32 features"},
  };
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    STDCSegOptions o;
    o.backbone = a["backbone"].get<std::string>();
    o.use_boundary_2 = a["use_boundary_2"].get<bool>();
    o.use_boundary_4 = a["use_boundary_4"].get<bool>();
    o.use_boundary_8 = a["use_boundary_8"].get<bool>();
    o.use_boundary_16 = a["use_boundary_16"].get<bool>();
    o.use_conv_last = a["use_conv_last"].get<bool>();
    return std::make_shared<STDCSeg>(a["num_classes"].get<int64_t>(), o);
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
