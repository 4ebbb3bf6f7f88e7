#include "nets/bisenetv2.h"

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
using zh320::dw_conv_bn_act;
using zh320::pw_conv_bn_act;

std::shared_ptr<nn::Sequential> detail_branch(int64_t in_channels, int64_t out_channels,
                                              const std::string& act) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(conv_bn_act(in_channels, 64, 3, 2, 1, 1, false, act));
  seq->push_back(conv_bn_act(64, 64, 3, 1, 1, 1, false, act));
  seq->push_back(conv_bn_act(64, 64, 3, 2, 1, 1, false, act));
  seq->push_back(conv_bn_act(64, 64, 3, 1, 1, 1, false, act));
  seq->push_back(conv_bn_act(64, 128, 3, 1, 1, 1, false, act));
  seq->push_back(conv_bn_act(128, 128, 3, 2, 1, 1, false, act));
  seq->push_back(conv_bn_act(128, 128, 3, 1, 1, 1, false, act));
  seq->push_back(conv_bn_act(128, out_channels, 3, 1, 1, 1, false, act));
  return seq;
}

// Stride 4: a 3x3/2 conv, then a conv branch (1x1 halving, 3x3/2) beside a
// 3x3/2 max pool, concatenated and fused by a 3x3 conv.
class StemBlock : public nn::Module {
 public:
  StemBlock(int64_t in_channels, int64_t out_channels, const std::string& act) : nn::Module("StemBlock") {
    conv_init_ = register_module("conv_init", conv_bn_act(in_channels, out_channels, 3, 2, 1, 1, false, act));
    auto left = std::make_shared<nn::Sequential>();
    left->push_back(conv_bn_act(out_channels, out_channels / 2, 1, 1, 1, 1, false, act));
    left->push_back(conv_bn_act(out_channels / 2, out_channels, 3, 2, 1, 1, false, act));
    left_branch_ = register_module("left_branch", left);
    right_branch_ = register_module("right_branch", std::make_shared<nn::MaxPool2d>(3, 2, 1));
    conv_last_ = register_module("conv_last", conv_bn_act(out_channels * 2, out_channels, 3, 1, 1, 1, false, act));
  }
  Tensor forward(const Tensor& input) override {
    const Tensor x = (*conv_init_)(input);
    return (*conv_last_)(fn::cat({(*left_branch_)(x), (*right_branch_)(x)}, 1));
  }

 private:
  nn::ModulePtr conv_init_, left_branch_, right_branch_, conv_last_;
};

// Gather-and-expansion layer: 3x3 conv, depth-wise expansion x6 (two
// depth-wise convs when striding), 1x1 projection, plus a shortcut (a
// strided depth-wise + 1x1 conv when striding), then the activation.
class GatherExpansionLayer : public nn::Module {
 public:
  GatherExpansionLayer(int64_t in_channels, int64_t out_channels, int64_t stride, const std::string& act)
      : nn::Module("GatherExpansionLayer"), stride_(stride) {
    CUDASEG_CHECK(stride == 1 || stride == 2, "GatherExpansionLayer: stride must be 1 or 2, got ", stride);
    CUDASEG_CHECK(stride == 2 || in_channels == out_channels, "GatherExpansionLayer: stride 1 needs in_channels (",
                  in_channels, ") == out_channels (", out_channels, ") for the identity shortcut");
    const int64_t hid_channels = in_channels * 6;
    auto left = std::make_shared<nn::Sequential>();
    left->push_back(conv_bn_act(in_channels, in_channels, 3, 1, 1, 1, false, act));
    if (stride == 2) {
      left->push_back(dw_conv_bn_act(in_channels, hid_channels, 3, 2, 1, "none"));
      left->push_back(dw_conv_bn_act(hid_channels, hid_channels, 3, 1, 1, "none"));
      // Upstream assigns right_branch before left_branch, which fixes the state_dict order.
      auto right = std::make_shared<nn::Sequential>();
      right->push_back(dw_conv_bn_act(in_channels, in_channels, 3, 2, 1, "none"));
      right->push_back(pw_conv_bn_act(in_channels, out_channels, "none"));
      right_branch_ = register_module("right_branch", right);
    } else {
      left->push_back(dw_conv_bn_act(in_channels, hid_channels, 3, 1, 1, "none"));
    }
    left->push_back(pw_conv_bn_act(hid_channels, out_channels, "none"));
    left_branch_ = register_module("left_branch", left);
    act_ = register_module("act", std::make_shared<zh320::Activation>(act));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor res = (*left_branch_)(x);
    const Tensor shortcut = stride_ == 2 ? (*right_branch_)(x) : x;
    return nn::activate_sum(*act_, shortcut, res);
  }

 private:
  int64_t stride_;
  nn::ModulePtr left_branch_, right_branch_, act_;
};

// Global context: the BatchNorm'd global average, through a 1x1 ConvBNAct,
// broadcast-added to the features, then a bias-free 3x3 conv.
class ContextEmbeddingBlock : public nn::Module {
 public:
  ContextEmbeddingBlock(int64_t in_channels, int64_t out_channels, const std::string& act)
      : nn::Module("ContextEmbeddingBlock") {
    auto pool = std::make_shared<nn::Sequential>();
    pool->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
    pool->push_back(std::make_shared<nn::BatchNorm2d>(in_channels));
    pool_ = register_module("pool", pool);
    conv_mid_ = register_module("conv_mid", conv_bn_act(in_channels, in_channels, 1, 1, 1, 1, false, act));
    conv_last_ = register_module("conv_last", zh320::conv3x3(in_channels, out_channels));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor res = (*conv_mid_)((*pool_)(x));
    return (*conv_last_)(fn::add(res, x));
  }

 private:
  nn::ModulePtr pool_, conv_mid_, conv_last_;
};

std::shared_ptr<nn::Sequential> sequential(std::initializer_list<nn::ModulePtr> modules) {
  return std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>(modules));
}

}  // namespace

namespace bisenetv2_parts {

class SemanticBranch : public nn::Module {
 public:
  SemanticBranch(int64_t in_channels, int64_t out_channels, int64_t num_classes, const std::string& act,
                 bool use_aux)
      : nn::Module("SemanticBranch"), use_aux_(use_aux) {
    auto ge = [&](int64_t in, int64_t out, int64_t stride) -> nn::ModulePtr {
      return std::make_shared<GatherExpansionLayer>(in, out, stride, act);
    };
    stages_.push_back(register_module("stage1to2", std::make_shared<StemBlock>(in_channels, 16, act)));
    stages_.push_back(register_module("stage3", sequential({ge(16, 32, 2), ge(32, 32, 1)})));
    stages_.push_back(register_module("stage4", sequential({ge(32, 64, 2), ge(64, 64, 1)})));
    stages_.push_back(register_module(
        "stage5_1to4", sequential({ge(64, 128, 2), ge(128, 128, 1), ge(128, 128, 1), ge(128, 128, 1)})));
    stage5_5_ = register_module("stage5_5", std::make_shared<ContextEmbeddingBlock>(128, out_channels, act));
    if (use_aux) {
      const int64_t channels[4] = {16, 32, 64, 128};
      for (int i = 0; i < 4; ++i)
        heads_.push_back(register_module("seg_head" + std::to_string(i + 2),
                                         zh320::seg_head(channels[i], num_classes, act)));
    }
  }

  // {features} or, with_aux, {features, aux2, aux3, aux4, aux5}.
  std::vector<Tensor> run(const Tensor& input, bool with_aux) {
    CUDASEG_CHECK(!with_aux || use_aux_, "SemanticBranch: aux outputs requested but built with use_aux false");
    return observed_call({input}, [&] {
      std::vector<Tensor> out(1);
      Tensor x = input;
      for (size_t i = 0; i < stages_.size(); ++i) {
        x = (*stages_[i])(x);
        if (with_aux) out.push_back((*heads_[i])(x));
      }
      out[0] = (*stage5_5_)(x);
      return out;
    });
  }

 private:
  bool use_aux_;
  std::vector<nn::ModulePtr> stages_, heads_;
  nn::ModulePtr stage5_5_;
};

// Each branch gates the other at its own resolution: detail (stride 8) x
// sigmoid(semantic upsampled x4), and detail pooled to stride 32 x
// sigmoid(semantic); the low-resolution product is upsampled and added.
class BilateralGuidedAggregationLayer : public nn::Module {
 public:
  BilateralGuidedAggregationLayer(int64_t in_channels, int64_t out_channels, const std::string& act)
      : nn::Module("BilateralGuidedAggregationLayer") {
    const int64_t c = in_channels;
    auto sigmoid = [] { return std::make_shared<nn::Activation>(nn::ActKind::sigmoid); };
    detail_high_ = register_module("detail_high", sequential({dw_conv_bn_act(c, c, 3, 1, 1, act),
                                                              zh320::conv1x1(c, c)}));
    detail_low_ = register_module("detail_low", sequential({dw_conv_bn_act(c, c, 3, 2, 1, act),
                                                            std::make_shared<nn::AvgPool2d>(3, 2, 1)}));
    semantic_high_ = register_module(
        "semantic_high",
        sequential({conv_bn_act(c, c, 3, 1, 1, 1, false, act),
                    std::make_shared<nn::Upsample>(std::nullopt, std::array<double, 2>{4.0, 4.0}, "bilinear", true),
                    sigmoid()}));
    semantic_low_ = register_module("semantic_low", sequential({dw_conv_bn_act(c, c, 3, 1, 1, act),
                                                                zh320::conv1x1(c, c), sigmoid()}));
    conv_last_ = register_module("conv_last", conv_bn_act(c, out_channels, 3, 1, 1, 1, false, act));
  }

  Tensor forward2(const Tensor& x_d, const Tensor& x_s) {
    return observed_call({x_d, x_s}, [&] {
      const Tensor x_high = fn::mul((*detail_high_)(x_d), (*semantic_high_)(x_s));
      const Tensor x_low = fn::mul((*detail_low_)(x_d), (*semantic_low_)(x_s));
      const Tensor res = fn::add(x_high, zh320::resize_bilinear_ac(x_low, x_high.size(2), x_high.size(3)));
      return (*conv_last_)(res);
    });
  }

 private:
  nn::ModulePtr detail_high_, detail_low_, semantic_high_, semantic_low_, conv_last_;
};

}  // namespace bisenetv2_parts

BiSeNetv2::BiSeNetv2(int64_t num_classes, int64_t n_channel, const std::string& act_type, bool use_aux)
    : nn::SegNet("BiSeNetv2"), use_aux_(use_aux) {
  CUDASEG_CHECK(num_classes > 0 && n_channel > 0, "BiSeNetv2: num_classes (", num_classes, ") and n_channel (",
                n_channel, ") must be positive");
  detail_branch_ = register_module("detail_branch", detail_branch(n_channel, 128, act_type));
  semantic_branch_ = register_module(
      "semantic_branch", std::make_shared<bisenetv2_parts::SemanticBranch>(n_channel, 128, num_classes, act_type,
                                                                           use_aux));
  bga_layer_ = register_module("bga_layer",
                               std::make_shared<bisenetv2_parts::BilateralGuidedAggregationLayer>(128, 128, act_type));
  seg_head_ = register_module("seg_head", zh320::seg_head(128, num_classes, act_type));
}

std::vector<Tensor> BiSeNetv2::run(const Tensor& x, bool with_aux) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(2) % 32 == 0 && x.size(3) % 32 == 0, "BiSeNetv2: input ", x.str(),
                " must be [N, C, H, W] with H and W multiples of 32");
  const Tensor x_d = (*detail_branch_)(x);
  std::vector<Tensor> outs = semantic_branch_->run(x, with_aux);
  const Tensor y = (*seg_head_)(bga_layer_->forward2(x_d, outs[0]));
  outs[0] = zh320::resize_bilinear_ac(y, x.size(2), x.size(3));
  return outs;
}

// Upstream runs the aux heads on every forward with use_aux; in training mode
// that updates their BatchNorm statistics, so they run here too (in eval they
// have no effect and are skipped).
Tensor BiSeNetv2::forward(const Tensor& x) { return run(x, use_aux_ && is_training())[0]; }

std::vector<Tensor> BiSeNetv2::forward_train(const Tensor& x) { return run(x, use_aux_); }

CUDASEG_REGISTER_NETS(bisenetv2) {
  nn::NetSpec spec;
  spec.name = "bisenetv2";
  spec.summary = "BiSeNet V2 (Yu et al. 2021), zh320 models/bisenetv2.py: detail + semantic branches, "
                 "guided aggregation, four aux heads";
  spec.args = {
      {"use_aux", true, {}, "aux SegHeads after semantic stages 2, 3, 4, 5 (training outputs)"},
      {"act_type", "relu", {}, "activation of every ConvBNAct (zh320 Activation names)"},
      {"n_channel", 3, {}, "input channels"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[1].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<BiSeNetv2>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                       a["act_type"].get<std::string>(), a["use_aux"].get<bool>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 32; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
