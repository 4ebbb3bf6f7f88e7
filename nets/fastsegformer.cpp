#include "nets/fastsegformer.h"

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/pool.h"
#include "autograd/reduce.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

Tensor resize_ac(const Tensor& x, int64_t h, int64_t w) {
  return fn::interpolate(x, std::array<int64_t, 2>{h, w}, std::nullopt, "bilinear", true);
}

// A module whose only child is the Sequential `conv` (upstream's _ConvBNReLU,
// _DWConv, _DSConv).
class ConvWrap : public nn::Module {
 public:
  ConvWrap(const std::string& type, std::shared_ptr<nn::Sequential> conv) : nn::Module(type) {
    conv_ = register_module("conv", std::move(conv));
  }
  Tensor forward(const Tensor& x) override { return (*conv_)(x); }

 private:
  nn::ModulePtr conv_;
};

void push_conv_bn_relu(nn::Sequential& s, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad,
                       int64_t groups) {
  s.push_back(std::make_shared<nn::Conv2d>(in, out, k, stride, pad, 1, groups, false));
  s.push_back(std::make_shared<nn::BatchNorm2d>(out));
  s.push_back(std::make_shared<nn::Activation>(nn::ActKind::relu));
}

nn::ModulePtr conv_bn_relu(int64_t in, int64_t out, int64_t k, int64_t pad) {
  auto s = std::make_shared<nn::Sequential>();
  push_conv_bn_relu(*s, in, out, k, 1, pad, 1);
  return std::make_shared<ConvWrap>("_ConvBNReLU", s);
}

nn::ModulePtr dw_conv(int64_t dw_channels, int64_t out) {
  auto s = std::make_shared<nn::Sequential>();
  push_conv_bn_relu(*s, dw_channels, out, 3, 1, 1, dw_channels);
  return std::make_shared<ConvWrap>("_DWConv", s);
}

nn::ModulePtr ds_conv(int64_t dw_channels, int64_t out) {
  auto s = std::make_shared<nn::Sequential>();
  push_conv_bn_relu(*s, dw_channels, dw_channels, 3, 1, 1, dw_channels);
  push_conv_bn_relu(*s, dw_channels, out, 1, 1, 0, 1);
  return std::make_shared<ConvWrap>("_DSConv", s);
}

class LinearBottleneck : public nn::Module {
 public:
  LinearBottleneck(int64_t in, int64_t out, int64_t t)
      : nn::Module("LinearBottleneck"), shortcut_(in == out) {
    auto block = std::make_shared<nn::Sequential>();
    block->push_back(conv_bn_relu(in, in * t, 1, 0));
    block->push_back(dw_conv(in * t, in * t));
    block->push_back(std::make_shared<nn::Conv2d>(in * t, out, 1, 1, 0, 1, 1, false));
    block->push_back(std::make_shared<nn::BatchNorm2d>(out));
    block_ = register_module("block", block);
  }
  Tensor forward(const Tensor& x) override {
    const Tensor y = (*block_)(x);
    return shortcut_ ? fn::add(x, y) : y;
  }

 private:
  bool shortcut_;
  nn::ModulePtr block_;
};

// Pooling pyramid (PPM): adaptive average pools 1, 2, 3, 6, each through a
// 1x1 ConvBNReLU and back to the input size (align_corners); multi-scale
// pyramid (MSP): ConvBNReLUs of kernels 1, 3, 5, 7 each followed by a 1x1 one.
// Both concatenate [x, branches] into `out`.
class Pyramid : public nn::Module {
 public:
  Pyramid(const std::string& kind, int64_t in, int64_t out)
      : nn::Module(kind == "pooling" ? "PyramidPooling" : "MultiscalePyramid"), pooling_(kind == "pooling") {
    const int64_t inter = in / 4;
    for (int64_t i = 0; i < 4; ++i) {
      const int64_t k = pooling_ ? 1 : 2 * i + 1;
      branches_.push_back(register_module("conv" + std::to_string(i + 1), conv_bn_relu(in, inter, k, k / 2)));
    }
    if (!pooling_)
      for (int64_t i = 0; i < 4; ++i)
        post_.push_back(register_module("conv" + std::to_string(i + 5), conv_bn_relu(inter, inter, 1, 0)));
    out_ = register_module("out", conv_bn_relu(in * 2, out, 1, 0));
  }
  Tensor forward(const Tensor& x) override {
    std::vector<Tensor> parts{x};
    const int64_t bins[4] = {1, 2, 3, 6};
    for (size_t i = 0; i < 4; ++i) {
      if (pooling_) {
        const Tensor p = fn::adaptive_avg_pool2d(x, {bins[i], bins[i]});
        parts.push_back(resize_ac((*branches_[i])(p), x.size(2), x.size(3)));
      } else {
        parts.push_back((*post_[i])((*branches_[i])(x)));
      }
    }
    return (*out_)(fn::cat(parts, 1));
  }

 private:
  bool pooling_;
  std::vector<nn::ModulePtr> branches_, post_;
  nn::ModulePtr out_;
};

class GlobalFeatureExtractor : public nn::Module {
 public:
  GlobalFeatureExtractor(int64_t in, const std::vector<int64_t>& block_channels, int64_t out, int64_t t,
                         const std::vector<int64_t>& num_blocks, const std::string& pyramid)
      : nn::Module("GlobalFeatureExtractor") {
    for (size_t b = 0; b < block_channels.size(); ++b) {
      auto layer = std::make_shared<nn::Sequential>();
      for (int64_t i = 0; i < num_blocks[b]; ++i) {
        layer->push_back(std::make_shared<LinearBottleneck>(in, block_channels[b], t));
        in = block_channels[b];
      }
      bottlenecks_.push_back(register_module("bottleneck" + std::to_string(b + 1), layer));
    }
    ppm_ = register_module("ppm", std::make_shared<Pyramid>(pyramid, in, out));
  }
  Tensor forward(const Tensor& input) override {
    Tensor x = input;
    for (const auto& b : bottlenecks_) x = (*b)(x);
    return (*ppm_)(x);
  }

 private:
  std::vector<nn::ModulePtr> bottlenecks_;
  nn::ModulePtr ppm_;
};

std::shared_ptr<nn::Sequential> conv_bn(int64_t in, int64_t out) {
  auto s = std::make_shared<nn::Sequential>();
  s->push_back(std::make_shared<nn::Conv2d>(in, out, 1));
  s->push_back(std::make_shared<nn::BatchNorm2d>(out));
  return s;
}

// The 1/32 features upsampled x4 (align_corners) through a depth-wise conv and
// a 1x1 conv, added to the 1/8 features' 1x1 conv, then ReLU.
class FeatureFusionModule : public nn::Module {
 public:
  FeatureFusionModule(int64_t higher_in, int64_t lower_in, int64_t out) : nn::Module("FeatureFusionModule") {
    dwconv_ = register_module("dwconv", dw_conv(lower_in, out));
    conv_lower_res_ = register_module("conv_lower_res", conv_bn(out, out));
    conv_higher_res_ = register_module("conv_higher_res", conv_bn(higher_in, out));
    relu_ = register_module("relu", std::make_shared<nn::Activation>(nn::ActKind::relu));
  }
  Tensor forward2(const Tensor& higher, const Tensor& lower) {
    return observed_call({higher, lower}, [&] {
      const Tensor up =
          fn::interpolate(lower, std::nullopt, std::array<double, 2>{4.0, 4.0}, "bilinear", true);
      CUDASEG_CHECK(up.size(2) == higher.size(2) && up.size(3) == higher.size(3), "FastSegFormer FFM: the 1/32 "
                    "features x4 (", up.str(), ") must match the 1/8 features (", higher.str(),
                    "): input sides must be multiples of 32");
      const Tensor low = (*conv_lower_res_)((*dwconv_)(up));
      return nn::activate_sum(*relu_, (*conv_higher_res_)(higher), low);
    });
  }

 private:
  nn::ModulePtr dwconv_, conv_lower_res_, conv_higher_res_, relu_;
};

class Classifer : public nn::Module {
 public:
  Classifer(int64_t dw_channels, int64_t num_classes, double dropout) : nn::Module("Classifer") {
    dsconv1_ = register_module("dsconv1", ds_conv(dw_channels, dw_channels));
    dsconv2_ = register_module("dsconv2", ds_conv(dw_channels, dw_channels));
    auto conv = std::make_shared<nn::Sequential>();
    conv->push_back(std::make_shared<nn::Dropout>(dropout));
    conv->push_back(std::make_shared<nn::Conv2d>(dw_channels, num_classes, 1));
    conv_ = register_module("conv", conv);
  }
  Tensor forward(const Tensor& x) override { return (*conv_)((*dsconv2_)((*dsconv1_)(x))); }

 private:
  nn::ModulePtr dsconv1_, dsconv2_, conv_;
};

constexpr int64_t kIrbSide = 112;  // upstream hard-codes the IRB at 112x112

// The IRB's head: Upsample (2x, bilinear, align_corners) then a 1x1
// convolution to the classes. Both are linear in each pixel's channels and
// the interpolation's weights sum to 1, so at inference they run in the
// other order: the convolution on the 112x112 map, then the upsampling of
// its num_classes planes instead of 32 (8x less interpolation, a quarter of
// the products; 1.0 ms of FastSegFormer-E's 15 at 1 thread). The logits
// agree within float rounding. Training, a gradient or a forward hook (which
// must see the upsampled map) keep upstream's order.
Tensor irb_head(nn::Sequential& up, const Tensor& y) {
  bool keep = up.is_training() || nn::active_forward_hook() != nullptr || up.bypassed();
  if (autograd::grad_mode_enabled()) {
    keep = keep || y.requires_grad();
    for (const Tensor& p : up.parameters()) keep = keep || p.requires_grad();
  }
  if (keep) return up(y);
  return (*up[0])((*up[1])(y));
}

}  // namespace

FastSegFormer::FastSegFormer(int64_t num_classes, const std::string& backbone, const std::string& pyramid,
                             bool fork_feat, bool cnn_branch, bool dropout)
    : nn::SegNet("FastSegFormer"), fork_feat_(fork_feat), cnn_branch_(cnn_branch) {
  CUDASEG_CHECK(num_classes > 0, "FastSegFormer: num_classes ", num_classes, " must be positive");
  CUDASEG_CHECK(pyramid == "pooling" || pyramid == "multiscale", "FastSegFormer: Pyramid '", pyramid,
                "' (pooling, multiscale)");
  if (cnn_branch) {
    auto cnn1 = std::make_shared<nn::Sequential>();
    cnn1->push_back(std::make_shared<nn::Conv2d>(3, 32, 3, 1, 1, 1, 1, false));
    cnn1->push_back(std::make_shared<nn::BatchNorm2d>(32));
    cnn1_ = register_module("cnn1", cnn1);
    cnn2_ = register_module("cnn2", ds_conv(32, 32));
    auto up = std::make_shared<nn::Sequential>();
    up->push_back(std::make_shared<nn::Upsample>(std::nullopt, std::array<double, 2>{2.0, 2.0}, "bilinear", true));
    up->push_back(std::make_shared<nn::Conv2d>(32, num_classes, 1));
    cnn_up_ = register_module("cnn_up", up);
  }
  int64_t top = 0, higher = 0, lower = 0;
  if (backbone == "poolformer_s12") {
    poolformer_ = register_module("common_backbone", std::make_shared<PoolFormer>(poolformer_config("s12")));
    top = 512, higher = 128, lower = 512;
    convert_channel_ = register_module("convert_channel", conv_bn_relu(512, 256, 1, 0));
    global_feature_ = register_module(
        "global_feature", std::make_shared<GlobalFeatureExtractor>(256, std::vector<int64_t>{256}, 512, 3,
                                                                   std::vector<int64_t>{2}, pyramid));
  } else if (backbone == "efficientformerV2_s0") {
    efficientformer_ =
        register_module("common_backbone", std::make_shared<EfficientFormerV2>(efficientformerv2_config("s0")));
    top = 320, higher = 48, lower = 320;
    convert_channel_ = register_module("convert_channel", conv_bn_relu(176, 128, 1, 0));
    global_feature_ = register_module(
        "global_feature", std::make_shared<GlobalFeatureExtractor>(128, std::vector<int64_t>{128, 160}, 320, 3,
                                                                   std::vector<int64_t>{3, 3}, pyramid));
  } else {
    CUDASEG_FAIL("FastSegFormer: backbone '", backbone, "' (efficientformerV2_s0, poolformer_s12)");
  }
  ffm_ = register_module("FFM", std::make_shared<FeatureFusionModule>(higher, lower, top));
  classify_ = register_module("classify", std::make_shared<Classifer>(top, cnn_branch ? 32 : num_classes, dropout ? 0.1 : 0.0));
}

std::vector<Tensor> FastSegFormer::backbone_features(const Tensor& x) {
  return efficientformer_ ? efficientformer_->forward_features(x) : poolformer_->forward_features(x);
}

std::vector<Tensor> FastSegFormer::fork_features(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == 3, "FastSegFormer: input ", x.str(), " must be [N, 3, H, W]");
  std::vector<Tensor> outs = backbone_features(x);
  const Tensor feat2 = outs[1];
  Tensor y = (*global_feature_)((*convert_channel_)(outs[3]));
  outs.push_back(y);
  y = static_cast<FeatureFusionModule&>(*ffm_).forward2(feat2, y);
  outs.push_back(y);
  y = (*classify_)(y);
  if (cnn_branch_) {
    const Tensor half_input = resize_ac(x, kIrbSide, kIrbSide);
    y = (*cnn2_)(fn::add(resize_ac(y, kIrbSide, kIrbSide), (*cnn1_)(half_input)));
    outs.push_back(y);
    outs.push_back(irb_head(static_cast<nn::Sequential&>(*cnn_up_), y));
  } else {
    outs.push_back(resize_ac(y, x.size(2), x.size(3)));
  }
  return outs;
}

Tensor FastSegFormer::forward(const Tensor& x) { return fork_features(x).back(); }

std::vector<Tensor> FastSegFormer::forward_train(const Tensor& x) {
  std::vector<Tensor> feats = fork_features(x);
  if (!fork_feat_) return {feats.back()};
  std::vector<Tensor> outs{feats.back()};
  outs.insert(outs.end(), feats.begin(), feats.end() - 1);
  return outs;
}

std::vector<nn::NetLoss> FastSegFormer::net_losses(const nn::NetLossOptions& options) const {
  (void)options;
  if (!fork_feat_) return {};
  nn::NetLoss term;
  term.name = "fork_feat";
  term.coef = 0.0;
  term.first_output = 1;
  term.value = [](const std::vector<Tensor>& outputs, const Tensor&) {
    return fn::mul(fn::sum(outputs.at(1)), 0.0);
  };
  return {term};
}

CUDASEG_REGISTER_NETS(fastsegformer) {
  nn::NetSpec spec;
  spec.name = "fastsegformer";
  spec.summary = "FastSegFormer (Cai et al. 2024), caixiongjiang nets/FastSegFormer/fast_segformer.py: "
                 "EfficientFormerV2-S0 (-E) or PoolFormer-S12 (-P), MSP/PPM, FFM, image reconstruction branch";
  spec.args = {
      {"pretrained", false, {}, "accepted as upstream, which ignores it (backbone weights come by conversion)"},
      {"backbone", "poolformer_s12", {"efficientformerV2_s0", "poolformer_s12"}, "efficientformerV2_s0: -E; -P"},
      {"Pyramid", "pooling", {"pooling", "multiscale"}, "PPM or the paper's multi-scale pyramid (MSP)"},
      {"fork_feat", false, {}, "forward_train also returns the distillation features"},
      {"cnn_branch", false, {}, "image reconstruction branch (IRB): logits at 224x224"},
      {"dropout", true, {}, "not upstream's: false sets the classifier's Dropout(0.1) to p = 0"},
  };
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<FastSegFormer>(a["num_classes"].get<int64_t>(), a["backbone"].get<std::string>(),
                                           a["Pyramid"].get<std::string>(), a["fork_feat"].get<bool>(),
                                           a["cnn_branch"].get<bool>(), a["dropout"].get<bool>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
