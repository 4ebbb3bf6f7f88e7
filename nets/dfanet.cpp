#include "nets/dfanet.h"

#include <utility>
#include <vector>

#include "autograd/arith.h"
#include "autograd/pool.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "nets/zh320_separable.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// Two separable convs to out/expansion channels, a depth-wise conv widening
// to out (grouped, multiplier `expansion`, carrying the stride), then a 1x1
// conv and the activation; a strided block adds a strided 1x1 projection of
// its input, a same-shape block its input.
class XceptionBlock : public nn::Module {
 public:
  XceptionBlock(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t expansion,
                const std::string& act)
      : nn::Module("XceptionBlock"), use_skip_(in_channels == out_channels && stride == 1) {
    const int64_t hid_channels = out_channels / expansion;
    auto conv = std::make_shared<nn::Sequential>();
    conv->push_back(zh320::ds_conv_bn_act(in_channels, hid_channels, 3, 1, 1, act));
    conv->push_back(zh320::ds_conv_bn_act(hid_channels, hid_channels, 3, 1, 1, act));
    conv->push_back(zh320::dw_conv_bn_act(hid_channels, out_channels, 3, stride, 1, act));
    conv->push_back(zh320::conv1x1(out_channels, out_channels));
    conv->push_back(std::make_shared<zh320::Activation>(act));
    conv_ = register_module("conv", conv);
    if (stride > 1) conv_stride_ = register_module("conv_stride", zh320::conv1x1(in_channels, out_channels, 2));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*conv_)(x);
    if (conv_stride_) y = fn::add(y, (*conv_stride_)(x));
    return use_skip_ ? fn::add(y, x) : y;
  }

 private:
  bool use_skip_;
  nn::ModulePtr conv_, conv_stride_;
};

// The first block halves the size; the rest keep it.
class EncoderBlock : public nn::Module {
 public:
  EncoderBlock(int64_t in_channels, int64_t out_channels, int64_t expansion, int64_t repeat_times,
               const std::string& act)
      : nn::Module("EncoderBlock") {
    auto conv = std::make_shared<nn::Sequential>();
    conv->push_back(std::make_shared<XceptionBlock>(in_channels, out_channels, 2, expansion, act));
    for (int64_t i = 1; i < repeat_times; ++i) {
      conv->push_back(std::make_shared<XceptionBlock>(out_channels, out_channels, 1, expansion, act));
    }
    conv_ = register_module("conv", conv);
  }
  Tensor forward(const Tensor& x) override { return (*conv_)(x); }

 private:
  nn::ModulePtr conv_;
};

// Channel attention from the global max: Linear to 1000 features, a 1x1
// ConvBNAct back to the channels, multiplied into the map (no sigmoid, as upstream).
class FCAttention : public nn::Module {
 public:
  FCAttention(int64_t channels, const std::string& act, int64_t linear_channels = 1000)
      : nn::Module("FCAttention"), channels_(channels) {
    pool_ = register_module("pool", std::make_shared<nn::AdaptiveMaxPool2d>(1));
    linear_ = register_module("linear", std::make_shared<nn::Linear>(channels, linear_channels));
    conv_ = register_module("conv", conv_bn_act(linear_channels, channels, 1, 1, 1, 1, false, act));
  }
  Tensor forward(const Tensor& x) override {
    Tensor attention = fn::reshape((*pool_)(x), {-1, channels_});
    attention = (*linear_)(attention);
    attention = (*conv_)(fn::unsqueeze(fn::unsqueeze(attention, -1), -1));
    return fn::mul(x, attention);
  }

 private:
  int64_t channels_;
  nn::ModulePtr pool_, linear_, conv_;
};

}  // namespace

namespace dfanet_parts {

// Three EncoderBlocks and the FCAttention; a later backbone concatenates each
// stage's input with the previous backbone's output of that stage.
class Encoder : public nn::Module {
 public:
  Encoder(const std::array<int64_t, 3>& in_channels, const std::array<int64_t, 3>& channels, int64_t expansion,
          const std::array<int64_t, 3>& repeat_times, const std::string& act)
      : nn::Module("Encoder") {
    for (size_t i = 0; i < 3; ++i) {
      enc_[i] = register_module("enc" + std::to_string(i + 2),
                                std::make_shared<EncoderBlock>(in_channels[i], channels[i], expansion,
                                                               repeat_times[i], act));
    }
    fc_attention_ = register_module("fc_attention", std::make_shared<FCAttention>(channels[2], act));
  }

  // (attention output, stage 2, 3 and 4 outputs); `previous` empty for the first backbone.
  std::array<Tensor, 4> forward4(const Tensor& x, const std::vector<Tensor>& previous) {
    std::vector<Tensor> inputs{x};
    inputs.insert(inputs.end(), previous.begin(), previous.end());
    return observed_call(inputs, [&] {
      std::array<Tensor, 4> out;
      Tensor y = x;
      for (size_t i = 0; i < 3; ++i) {
        if (!previous.empty()) y = fn::cat({y, previous[i]}, 1);
        y = (*enc_[i])(y);
        out[i + 1] = y;
      }
      out[0] = (*fc_attention_)(y);
      return out;
    });
  }

 private:
  std::array<nn::ModulePtr, 3> enc_;
  nn::ModulePtr fc_attention_;
};

// Stride-4 sum of the three backbones' first stages (3x3 ConvBNAct each, to
// 48 channels, then one 1x1 conv to the classes) and of their attention
// outputs' SegHeads, all resized by scale factors, then scaled by 4.
class Decoder : public nn::Module {
 public:
  Decoder(int64_t enc_channels, int64_t fc_channels, int64_t num_class, const std::string& act,
          int64_t hid_channels = 48)
      : nn::Module("Decoder") {
    for (size_t i = 0; i < 3; ++i) {
      enc_conv_[i] = register_module("enc_conv" + std::to_string(i + 1),
                                     conv_bn_act(enc_channels, hid_channels, 3, 1, 1, 1, false, act));
    }
    conv_enc_ = register_module("conv_enc", zh320::conv1x1(hid_channels, num_class));
    for (size_t i = 0; i < 3; ++i) {
      fc_conv_[i] = register_module("fc_conv" + std::to_string(i + 1), zh320::seg_head(fc_channels, num_class, act));
    }
  }

  Tensor forward6(const std::array<Tensor, 3>& enc, const std::array<Tensor, 3>& fc) {
    return observed_call({enc[0], enc[1], enc[2], fc[0], fc[1], fc[2]}, [&] {
      const double enc_scale[3] = {1.0, 2.0, 4.0};
      const double fc_scale[3] = {4.0, 8.0, 16.0};
      Tensor enc_x;
      for (size_t i = 0; i < 3; ++i) {
        Tensor e = (*enc_conv_[i])(enc[i]);
        if (i > 0) e = zh320::scale_bilinear_ac(e, enc_scale[i]);
        enc_x = i == 0 ? e : fn::add(enc_x, e);
      }
      Tensor x = (*conv_enc_)(enc_x);
      for (size_t i = 0; i < 3; ++i) x = fn::add(x, zh320::scale_bilinear_ac((*fc_conv_[i])(fc[i]), fc_scale[i]));
      return zh320::scale_bilinear_ac(x, 4.0);
    });
  }

 private:
  std::array<nn::ModulePtr, 3> enc_conv_, fc_conv_;
  nn::ModulePtr conv_enc_;
};

}  // namespace dfanet_parts

DFANet::DFANet(const DFANetOptions& o) : nn::SegNet("DFANet"), options_(o) {
  CUDASEG_CHECK(o.num_classes > 0 && o.n_channel > 0, "DFANet: num_classes (", o.num_classes, ") and n_channel (",
                o.n_channel, ") must be positive");
  CUDASEG_CHECK(o.expansion > 0, "DFANet: expansion (", o.expansion, ") must be positive");
  for (const int64_t r : o.repeat_times) {
    CUDASEG_CHECK(r > 0, "DFANet: repeat_times [", o.repeat_times[0], ", ", o.repeat_times[1], ", ",
                  o.repeat_times[2], "] must be positive");
  }
  std::array<int64_t, 3> channels;
  if (o.backbone_type == "XceptionA") {
    channels = {48, 96, 192};
  } else if (o.backbone_type == "XceptionB") {
    channels = {32, 64, 128};
  } else {
    CUDASEG_FAIL("DFANet: backbone_type '", o.backbone_type, "' is not XceptionA or XceptionB");
  }
  conv1_ = register_module("conv1", conv_bn_act(o.n_channel, 8, 3, 2, 1, 1, false, o.act_type));
  backbone1_ = register_module("backbone1", std::make_shared<dfanet_parts::Encoder>(
                                                std::array<int64_t, 3>{8, channels[0], channels[1]}, channels,
                                                o.expansion, o.repeat_times, o.act_type));
  if (o.use_extra_backbone) {
    // Each stage also takes the previous backbone's output of that stage:
    // stage 2 the attention output (channels[2]), stages 3 and 4 the
    // previous stages' (channels[0], channels[1]).
    const std::array<int64_t, 3> in_channels = {channels[0] + channels[2], channels[1] + channels[0],
                                                channels[2] + channels[1]};
    backbone2_ = register_module("backbone2", std::make_shared<dfanet_parts::Encoder>(
                                                  in_channels, channels, o.expansion, o.repeat_times, o.act_type));
    backbone3_ = register_module("backbone3", std::make_shared<dfanet_parts::Encoder>(
                                                  in_channels, channels, o.expansion, o.repeat_times, o.act_type));
    decoder_ = register_module("decoder", std::make_shared<dfanet_parts::Decoder>(channels[0], channels[2],
                                                                                 o.num_classes, o.act_type));
  } else {
    seg_head_ = register_module("seg_head", zh320::seg_head(channels[2], o.num_classes, o.act_type));
  }
}

Tensor DFANet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4, "DFANet: input ", x.str(), " must be [N, C, H, W]");
  const Tensor stem = (*conv1_)(x);
  auto [fc1, enc2, enc3, enc4] = backbone1_->forward4(stem, {});
  if (!options_.use_extra_backbone) return zh320::scale_bilinear_ac((*seg_head_)(fc1), 16.0);
  CUDASEG_CHECK(x.size(2) % 64 == 0 && x.size(3) % 64 == 0, "DFANet: input ", x.str(),
                ": with use_extra_backbone H and W must be multiples of 64");
  const Tensor enc_x1 = enc2;
  const auto b2 = backbone2_->forward4(zh320::scale_bilinear_ac(fc1, 4.0), {enc2, enc3, enc4});
  const auto b3 = backbone3_->forward4(zh320::scale_bilinear_ac(b2[0], 4.0), {b2[1], b2[2], b2[3]});
  return decoder_->forward6({enc_x1, b2[1], b3[1]}, {fc1, b2[0], b3[0]});
}

CUDASEG_REGISTER_NETS(dfanet) {
  nn::NetSpec spec;
  spec.name = "dfanet";
  spec.summary = "DFANet (Li et al. 2019), zh320 models/dfanet.py: three aggregated Xception-like backbones "
                 "with FC attention, multi-level decoder";
  spec.args = {
      {"n_channel", 3, {}, "input channels"},
      {"backbone_type", "XceptionA", {"XceptionA", "XceptionB"}, "encoder widths: 48/96/192 or 32/64/128"},
      {"expansion", 4, {}, "each XceptionBlock's inner width is its output width / expansion"},
      {"repeat_times", nn::Json::array({4, 6, 4}), {}, "XceptionBlocks of enc2, enc3 and enc4"},
      {"use_extra_backbone", true, {}, "backbones 2 and 3 and the aggregating decoder (else one SegHead)"},
      {"act_type", "relu", {}, "activation (zh320 names that take inplace, as upstream passes it)"},
  };
  for (const auto& name : zh320::inplace_activation_names()) spec.args[5].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    DFANetOptions o;
    o.num_classes = a.at("num_classes").get<int64_t>();
    o.n_channel = a.at("n_channel").get<int64_t>();
    o.backbone_type = a.at("backbone_type").get<std::string>();
    o.expansion = a.at("expansion").get<int64_t>();
    const nn::Json& r = a.at("repeat_times");
    CUDASEG_CHECK(r.size() == 3, "dfanet: repeat_times ", r.dump(), " must have 3 entries");
    for (size_t i = 0; i < 3; ++i) o.repeat_times[i] = r[i].get<int64_t>();
    o.use_extra_backbone = a.at("use_extra_backbone").get<bool>();
    o.act_type = a.at("act_type").get<std::string>();
    return std::make_shared<DFANet>(o);
  };
  spec.size_divisor = [](const nn::Json& a) -> int64_t { return a.at("use_extra_backbone").get<bool>() ? 64 : 16; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
