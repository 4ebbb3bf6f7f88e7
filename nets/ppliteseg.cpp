#include "nets/ppliteseg.h"

#include <algorithm>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/reduce.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/stdc_backbone.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using Size2 = std::array<int64_t, 2>;

Size2 spatial_size(const Tensor& x) { return {x.size(2), x.size(3)}; }

}  // namespace

namespace ppliteseg_parts {

// Upstream's Encoder wrapper: its only child "encoder" is the STDCBackbone.
class Encoder : public nn::Module {
 public:
  Encoder(int64_t in_channels, const std::array<int64_t, 5>& channels, const std::string& encoder_type)
      : nn::Module("Encoder") {
    stdc_ = register_module("encoder", std::make_shared<STDCBackbone>(in_channels, channels, encoder_type));
  }
  std::array<Tensor, 3> forward_features(const Tensor& x) const {
    return observed_call({x}, [&] { return stdc_->forward_features(x); });
  }

 private:
  std::shared_ptr<STDCBackbone> stdc_;
};

namespace {

// SPPM: average pools to 1x1, 2x2 and 4x4, each ConvBNAct 1x1 (in -> in/4),
// upsampled back (bilinear, align_corners), summed, then a plain conv3x3.
class SPPM : public nn::Module {
 public:
  SPPM(int64_t in_channels, int64_t out_channels, const std::string& act_type) : nn::Module("SPPM") {
    const int64_t hid = in_channels / 4;
    const int64_t pool_sizes[3] = {1, 2, 4};
    for (int i = 0; i < 3; ++i) {
      auto seq = std::make_shared<nn::Sequential>();
      seq->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(pool_sizes[i]));
      seq->push_back(zh320::conv_bn_act(in_channels, hid, 1, 1, 1, 1, false, act_type));
      pools_[i] = register_module("pool" + std::to_string(i + 1), seq);
    }
    conv_ = register_module("conv", zh320::conv3x3(hid, out_channels));
  }
  Tensor forward(const Tensor& x) override {
    const Size2 size = spatial_size(x);
    Tensor sum = zh320::resize_bilinear_ac((*pools_[0])(x), size);
    sum = fn::add(sum, zh320::resize_bilinear_ac((*pools_[1])(x), size));
    sum = fn::add(sum, zh320::resize_bilinear_ac((*pools_[2])(x), size));
    return (*conv_)(sum);
  }

 private:
  std::array<nn::ModulePtr, 3> pools_;
  nn::ModulePtr conv_;
};

// The two UAFM attentions, alpha from (x_up, x_low).
class Attention : public nn::Module {
 public:
  using nn::Module::Module;
  Tensor alpha(const Tensor& x_up, const Tensor& x_low) {
    return observed_call({x_up, x_low}, [&] { return compute_alpha(x_up, x_low); });
  }

 private:
  virtual Tensor compute_alpha(const Tensor& x_up, const Tensor& x_low) = 0;
};

// Spatial: per-pixel channel mean and max of both inputs, conv1x1 4 -> 1, sigmoid: [N, 1, H, W].
class SpatialAttentionModule : public Attention {
 public:
  SpatialAttentionModule() : Attention("SpatialAttentionModule") {
    conv_ = register_module("conv", zh320::conv1x1(4, 1));
  }

 private:
  Tensor compute_alpha(const Tensor& x_up, const Tensor& x_low) override {
    Tensor x = fn::cat({fn::mean(x_up, {1}, true), fn::max(x_up, 1, true).values, fn::mean(x_low, {1}, true),
                        fn::max(x_low, 1, true).values},
                       1);
    return fn::sigmoid((*conv_)(x));
  }

  nn::ModulePtr conv_;
};

// Channel: global average and max of both inputs, conv1x1 4C -> C, sigmoid: [N, C, 1, 1].
class ChannelAttentionModule : public Attention {
 public:
  explicit ChannelAttentionModule(int64_t channels) : Attention("ChannelAttentionModule") {
    avg_pool_ = register_module("avg_pool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    max_pool_ = register_module("max_pool", std::make_shared<nn::AdaptiveMaxPool2d>(1));
    conv_ = register_module("conv", zh320::conv1x1(4 * channels, channels));
  }

 private:
  Tensor compute_alpha(const Tensor& x_up, const Tensor& x_low) override {
    Tensor x = fn::cat({(*avg_pool_)(x_up), (*max_pool_)(x_up), (*avg_pool_)(x_low),
                        (*max_pool_)(x_low)},
                       1);
    return fn::sigmoid((*conv_)(x));
  }

  nn::ModulePtr avg_pool_, max_pool_, conv_;
};

// UAFM: x_low projected by conv1x1 to the decoder width, x_high upsampled to
// its size; alpha * x_up + (1 - alpha) * x_low.
class UAFM : public nn::Module {
 public:
  UAFM(int64_t in_channels, int64_t out_channels, const std::string& fusion_type) : nn::Module("UAFM") {
    conv_ = register_module("conv", zh320::conv1x1(in_channels, out_channels));
    if (fusion_type == "spatial")
      attention_ = register_module("attention", std::make_shared<SpatialAttentionModule>());
    else if (fusion_type == "channel")
      attention_ = register_module("attention", std::make_shared<ChannelAttentionModule>(out_channels));
    else
      CUDASEG_FAIL("ppliteseg: unsupported fusion type '", fusion_type, "' (spatial, channel)");
  }
  Tensor fuse(const Tensor& x_high, const Tensor& x_low_in) {
    return observed_call({x_high, x_low_in}, [&] {
      Tensor x_low = (*conv_)(x_low_in);
      Tensor x_up = zh320::resize_bilinear_ac(x_high, spatial_size(x_low_in));
      Tensor alpha = attention_->alpha(x_up, x_low);
      return fn::add(fn::mul(alpha, x_up), fn::mul(fn::rsub(alpha, 1.0), x_low));
    });
  }

 private:
  nn::ModulePtr conv_;
  std::shared_ptr<Attention> attention_;
};

}  // namespace

// FLD: stage6 -> fusion1 (with x4) -> stage7 -> fusion2 (with x3) -> stage8
// -> seg_head (ConvBNAct 3x3 with act_type, as upstream) -> resize to input.
class FLD : public nn::Module {
 public:
  FLD(const std::array<int64_t, 5>& enc, const std::array<int64_t, 3>& dec, int64_t num_classes,
      const std::string& fusion_type, const std::string& act_type)
      : nn::Module("FLD") {
    stage6_ = register_module("stage6", zh320::conv_bn_act(dec[0], dec[0]));
    fusion1_ = register_module("fusion1", std::make_shared<UAFM>(enc[3], dec[0], fusion_type));
    stage7_ = register_module("stage7", zh320::conv_bn_act(dec[0], dec[1]));
    fusion2_ = register_module("fusion2", std::make_shared<UAFM>(enc[2], dec[1], fusion_type));
    stage8_ = register_module("stage8", zh320::conv_bn_act(dec[1], dec[2]));
    seg_head_ = register_module("seg_head", zh320::conv_bn_act(dec[2], num_classes, 3, 1, 1, 1, false, act_type));
  }
  Tensor decode(const Tensor& x3, const Tensor& x4, const Tensor& x5, Size2 size) {
    return observed_call({x3, x4, x5}, [&] {
      Tensor x = fusion1_->fuse((*stage6_)(x5), x4);
      x = fusion2_->fuse((*stage7_)(x), x3);
      x = (*seg_head_)((*stage8_)(x));
      return zh320::resize_bilinear_ac(x, size);
    });
  }

 private:
  nn::ModulePtr stage6_, stage7_, stage8_, seg_head_;
  std::shared_ptr<UAFM> fusion1_, fusion2_;
};

}  // namespace ppliteseg_parts

namespace {

std::array<int64_t, 3> decoder_channels(const std::string& encoder_type) {
  if (encoder_type == "stdc1") return {32, 64, 128};
  if (encoder_type == "stdc2") return {64, 96, 128};
  CUDASEG_FAIL("ppliteseg: unsupported encoder type '", encoder_type, "' (stdc1, stdc2)");
}

}  // namespace

PPLiteSeg::PPLiteSeg(int64_t num_classes, int64_t n_channel, const std::array<int64_t, 5>& encoder_channels,
                     const std::string& encoder_type, const std::string& fusion_type, const std::string& act_type)
    : nn::SegNet("PPLiteSeg") {
  const auto dec = decoder_channels(encoder_type);
  using namespace ppliteseg_parts;
  encoder_ = register_module("encoder", std::make_shared<Encoder>(n_channel, encoder_channels, encoder_type));
  sppm_ = register_module("sppm", std::make_shared<SPPM>(encoder_channels[4], dec[0], act_type));
  decoder_ =
      register_module("decoder", std::make_shared<FLD>(encoder_channels, dec, num_classes, fusion_type, act_type));
}

Tensor PPLiteSeg::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "ppliteseg: input ", x.str(), " must be [N, C, H, W]");
  auto [x3, x4, x5] = encoder_->forward_features(x);
  return decoder_->decode(x3, x4, (*sppm_)(x5), spatial_size(x));
}

CUDASEG_REGISTER_NETS(ppliteseg) {
  nn::NetSpec spec;
  spec.name = "ppliteseg";
  spec.summary = "PP-LiteSeg (Peng et al. 2022), zh320 models/pp_liteseg.py: STDC1/2 encoder, SPPM, FLD with UAFM";
  spec.args = {
      {"encoder_type", "stdc1", {"stdc1", "stdc2"}, "STDC1 or STDC2 encoder (and decoder widths)"},
      {"encoder_channels", nn::Json::array({32, 64, 256, 512, 1024}), {}, "widths of the five encoder stages"},
      {"fusion_type", "spatial", {"spatial", "channel"}, "UAFM attention"},
      {"act_type", "relu", {}, "activation of the SPPM pools and the seg head (zh320 Activation names)"},
      {"n_channel", 3, {}, "input channels"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[3].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    const nn::Json& ch = a["encoder_channels"];
    CUDASEG_CHECK(ch.size() == 5 && std::all_of(ch.begin(), ch.end(), [](const nn::Json& v) {
                    return v.is_number_integer() && v.get<int64_t>() > 0;
                  }),
                  "ppliteseg: encoder_channels must be 5 positive integers, got ", ch.dump());
    std::array<int64_t, 5> channels{};
    for (size_t i = 0; i < 5; ++i) channels[i] = ch[i].get<int64_t>();
    return std::make_shared<PPLiteSeg>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(), channels,
                                       a["encoder_type"].get<std::string>(), a["fusion_type"].get<std::string>(),
                                       a["act_type"].get<std::string>());
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
