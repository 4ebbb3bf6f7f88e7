#include "nets/espnet.h"

#include <array>
#include <utility>

#include "autograd/arith.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// The reinforcing image is resized with align_corners false (upstream's
// default), the logits with align_corners true.
Tensor resize_bilinear(const Tensor& x, int64_t h, int64_t w, bool align_corners) {
  return fn::interpolate(x, std::array<int64_t, 2>{h, w}, std::nullopt, "bilinear", align_corners);
}

// The ESP module (K = 5, 3x3 kernels). When out_channels is not a multiple of
// K the first branch gets the remainder channels from its own reduction
// conv_k1, and the hierarchical sum then starts at the third branch (the
// first two differ in width). A module that keeps its shape adds its input.
class ESPModule : public nn::Module {
 public:
  ESPModule(int64_t in_channels, int64_t out_channels, int64_t stride, const std::string& act_type)
      : nn::Module("ESPModule"), use_skip_(in_channels == out_channels && stride == 1) {
    const int64_t channel_kn = out_channels / K;
    const int64_t channel_k1 = out_channels - (K - 1) * channel_kn;
    CUDASEG_CHECK(channel_kn > 0, "ESPNet: an ESP module's out_channels (", out_channels, ") must be at least ", K);
    perfect_divisor_ = channel_k1 == channel_kn;
    conv_kn_ = register_module("conv_kn", zh320::conv1x1(in_channels, channel_kn, stride));
    if (!perfect_divisor_) conv_k1_ = register_module("conv_k1", zh320::conv1x1(in_channels, channel_k1, stride));
    auto layers = std::make_shared<nn::ModuleList>();
    for (int64_t k = 0; k < K; ++k) {
      const int64_t channels = k == 0 ? channel_k1 : channel_kn;
      auto layer = conv_bn_act(channels, channels, 3, 1, int64_t{1} << k, 1, false, act_type);
      layers->push_back(layer);
      layers_.push_back(layer);
    }
    register_module("layers", layers);
  }

  Tensor forward(const Tensor& x) override {
    std::vector<Tensor> feats;
    size_t first_sum = 1;
    if (perfect_divisor_) {
      const Tensor reduced = (*conv_kn_)(x);
      for (const auto& layer : layers_) feats.push_back((*layer)(reduced));
    } else {
      const Tensor x1 = (*conv_k1_)(x);
      const Tensor xn = (*conv_kn_)(x);
      feats.push_back((*layers_[0])(x1));
      for (size_t i = 1; i < layers_.size(); ++i) feats.push_back((*layers_[i])(xn));
      first_sum = 2;
    }
    for (size_t j = first_sum; j < feats.size(); ++j) feats[j] = fn::add(feats[j], feats[j - 1]);
    const Tensor y = fn::cat(feats, 1);
    return use_skip_ ? fn::add(y, x) : y;
  }

 private:
  static constexpr int64_t K = 5;
  bool use_skip_, perfect_divisor_ = true;
  nn::ModulePtr conv_kn_, conv_k1_;
  std::vector<nn::ModulePtr> layers_;
};

std::shared_ptr<nn::Sequential> esp_stack(int64_t channels, int64_t count, const std::string& act_type) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t i = 0; i < count; ++i) seq->push_back(std::make_shared<ESPModule>(channels, channels, 1, act_type));
  return seq;
}

// Level 3: a strided ESP module to 128 channels, alpha more, the skip
// concatenation, and the classifier conv_last (a ConvBNAct when the decoder
// follows, else a plain 1x1 conv).
class L3Block : public nn::Module {
 public:
  L3Block(int64_t in_channels, int64_t out_channels, int64_t alpha, bool use_skip, bool reinforce, bool use_decoder,
          const std::string& act_type)
      : nn::Module("L3Block"), use_skip_(use_skip) {
    if (reinforce) in_channels += 3;
    conv1_ = register_module("conv1", std::make_shared<ESPModule>(in_channels, 128, 2, act_type));
    layers_ = register_module("layers", esp_stack(128, alpha, act_type));
    if (use_decoder)
      conv_last_ = register_module("conv_last", conv_bn_act(256, out_channels, 1, 1, 1, 1, false, act_type));
    else
      conv_last_ = register_module("conv_last", zh320::conv1x1(use_skip ? 256 : 128, out_channels));
  }
  Tensor forward(const Tensor& input) override {
    const Tensor x = (*conv1_)(input);
    Tensor y = (*layers_)(x);
    if (use_skip_) y = fn::cat({y, x}, 1);
    return (*conv_last_)(y);
  }

 private:
  bool use_skip_;
  nn::ModulePtr conv1_, layers_, conv_last_;
};

}  // namespace

namespace espnet_parts {

// Level 2: a strided ESP module, alpha more, the skip concatenation, and with
// reinforcement the image resized to the level's size concatenated last.
class L2Block : public nn::Module {
 public:
  L2Block(int64_t in_channels, int64_t hid_channels, int64_t alpha, bool use_skip, bool reinforce,
          const std::string& act_type)
      : nn::Module("L2Block"), use_skip_(use_skip), reinforce_(reinforce) {
    if (reinforce) in_channels += 3;
    conv1_ = register_module("conv1", std::make_shared<ESPModule>(in_channels, hid_channels, 2, act_type));
    layers_ = register_module("layers", esp_stack(hid_channels, alpha, act_type));
  }
  Tensor forward(const Tensor& x) override {
    CUDASEG_CHECK(!reinforce_, "ESPNet L2Block: a reinforced block needs the input image (forward2)");
    return body(x, Tensor());
  }
  Tensor forward2(const Tensor& x, const Tensor& image) {
    return observed_call({x, image}, [&] { return body(x, image); });
  }

 private:
  Tensor body(const Tensor& input, const Tensor& image) {
    const Tensor x = (*conv1_)(input);
    Tensor y = (*layers_)(x);
    if (use_skip_) y = fn::cat({y, x}, 1);
    if (reinforce_) y = fn::cat({y, resize_bilinear(image, y.size(2), y.size(3), false)}, 1);
    return y;
  }

  bool use_skip_, reinforce_;
  nn::ModulePtr conv1_, layers_;
};

// Three x2 transposed-conv upsamplings from stride 8, after the first two the
// level-2 / level-1 features projected to num_classes are concatenated and
// merged by an ESP module. As upstream, the projections and the last
// upsampling use ReLU and the two ESP modules PReLU, whatever act_type is.
class Decoder : public nn::Module {
 public:
  Decoder(int64_t num_class, int64_t l1_channel, int64_t l2_channel, const std::string& act_type)
      : nn::Module("Decoder") {
    upconv_l3_ = register_module("upconv_l3", std::make_shared<zh320::DeConvBNAct>(num_class, num_class, 2, std::nullopt, std::nullopt,
                                                                                    act_type));
    conv_cat_l2_ = register_module("conv_cat_l2", conv_bn_act(l2_channel, num_class, 1));
    conv_l2_ = register_module("conv_l2", std::make_shared<ESPModule>(2 * num_class, num_class, 1, "prelu"));
    upconv_l2_ = register_module("upconv_l2", std::make_shared<zh320::DeConvBNAct>(num_class, num_class, 2, std::nullopt, std::nullopt,
                                                                                    act_type));
    conv_cat_l1_ = register_module("conv_cat_l1", conv_bn_act(l1_channel, num_class, 1));
    conv_l1_ = register_module("conv_l1", std::make_shared<ESPModule>(2 * num_class, num_class, 1, "prelu"));
    upconv_l1_ = register_module("upconv_l1", std::make_shared<zh320::DeConvBNAct>(num_class, num_class));
  }
  Tensor forward3(const Tensor& x, const Tensor& x_l1, const Tensor& x_l2) {
    return observed_call({x, x_l1, x_l2}, [&] {
      Tensor y = (*conv_l2_)(fn::cat({(*upconv_l3_)(x), (*conv_cat_l2_)(x_l2)}, 1));
      y = (*conv_l1_)(fn::cat({(*upconv_l2_)(y), (*conv_cat_l1_)(x_l1)}, 1));
      return (*upconv_l1_)(y);
    });
  }

 private:
  nn::ModulePtr upconv_l3_, conv_cat_l2_, conv_l2_, upconv_l2_, conv_cat_l1_, conv_l1_, upconv_l1_;
};

}  // namespace espnet_parts

ESPNet::ESPNet(const ESPNetOptions& options) : nn::SegNet("ESPNet"), options_(options) {
  const std::string& arch = options_.arch_type;
  CUDASEG_CHECK(arch == "espnet" || arch == "espnet-a" || arch == "espnet-b" || arch == "espnet-c",
                "ESPNet: unsupported arch_type '", arch, "' (accepted: espnet, espnet-a, espnet-b, espnet-c)");
  CUDASEG_CHECK(options_.num_classes > 0, "ESPNet: num_classes (", options_.num_classes, ") must be positive");
  auto& bc = options_.block_channel;
  CUDASEG_CHECK(bc.size() == 3, "ESPNet: block_channel must hold 3 widths, got ", bc.size());
  const bool use_skip = arch != "espnet-a";
  reinforce_ = arch == "espnet" || arch == "espnet-c";
  use_decoder_ = arch == "espnet";
  if (arch == "espnet-a") bc[2] = bc[1];
  // Level 3 is built for block_channel[2] (+3) inputs, level 2 yields
  // block_channel[1] (doubled by the skip, +3 with reinforcement); the decoder
  // is built for upstream's widths, 16 + 3 and 2 * 64 + 3.
  CUDASEG_CHECK(bc[2] == (use_skip ? 2 * bc[1] : bc[1]), "ESPNet: block_channel[2] (", bc[2],
                ") must equal the level-2 output width ", use_skip ? 2 * bc[1] : bc[1]);
  CUDASEG_CHECK(!use_decoder_ || (bc[0] == 16 && bc[1] == 64), "ESPNet: arch_type 'espnet' needs block_channel ",
                "[16, 64, 128]: its decoder is built for 19 and 131 input channels");
  CUDASEG_CHECK(!reinforce_ || options_.n_channel == 3, "ESPNet: n_channel (", options_.n_channel, ") must be 3 ",
                "for arch_type '", arch, "': the image is concatenated as 3 channels");
  const std::string& act = options_.act_type;
  l1_block_ = register_module("l1_block", conv_bn_act(options_.n_channel, bc[0], 3, 2, 1, 1, false, act));
  l2_block_ = register_module("l2_block", std::make_shared<espnet_parts::L2Block>(bc[0], bc[1], options_.alpha2,
                                                                                   use_skip, reinforce_, act));
  l3_block_ = register_module("l3_block", std::make_shared<L3Block>(bc[2], options_.num_classes, options_.alpha3,
                                                                     use_skip, reinforce_, use_decoder_, act));
  if (use_decoder_)
    decoder_ = register_module("decoder",
                               std::make_shared<espnet_parts::Decoder>(options_.num_classes, 19, 131, act));
}

Tensor ESPNet::forward(const Tensor& input) {
  CUDASEG_CHECK(input.dim() == 4, "ESPNet: input ", input.str(), " must be [N, C, H, W]");
  Tensor x = (*l1_block_)(input);
  if (reinforce_) x = fn::cat({x, resize_bilinear(input, x.size(2), x.size(3), false)}, 1);
  const Tensor x_l1 = x;
  x = reinforce_ ? l2_block_->forward2(x, input) : (*l2_block_)(x);
  const Tensor x_l2 = x;
  x = (*l3_block_)(x);
  if (use_decoder_) return decoder_->forward3(x, x_l1, x_l2);
  return resize_bilinear(x, input.size(2), input.size(3), true);
}

CUDASEG_REGISTER_NETS(espnet) {
  nn::NetSpec spec;
  spec.name = "espnet";
  spec.summary = "ESPNet (Mehta et al. 2018), zh320 models/espnet.py: ESP modules, variants espnet-a/b/c and the "
                 "full net with its decoder";
  spec.args = {
      {"n_channel", 3, {}, "input channels (3 for espnet and espnet-c, which concatenate the image)"},
      {"arch_type", "espnet", {"espnet", "espnet-a", "espnet-b", "espnet-c"}, "ESPNet variant"},
      {"K", 5, {5}, "accepted as upstream, which ignores it: every ESP module has 5 branches"},
      {"alpha2", 2, {}, "ESP modules of level 2 after its strided one"},
      {"alpha3", 8, {}, "ESP modules of level 3 after its strided one"},
      {"block_channel", nn::Json::array({16, 64, 128}), {}, "widths of level 1, level 2, level 3's input"},
      {"act_type", "prelu", {}, "activation of the encoder's ConvBNActs (zh320 Activation names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[6].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    ESPNetOptions o;
    o.num_classes = a.at("num_classes").get<int64_t>();
    o.n_channel = a.at("n_channel").get<int64_t>();
    o.arch_type = a.at("arch_type").get<std::string>();
    o.alpha2 = a.at("alpha2").get<int64_t>();
    o.alpha3 = a.at("alpha3").get<int64_t>();
    o.block_channel = a.at("block_channel").get<std::vector<int64_t>>();
    o.act_type = a.at("act_type").get<std::string>();
    return std::make_shared<ESPNet>(o);
  };
  // The full net's decoder doubles the stride-8 map back to each skip; the variants only resize.
  spec.size_divisor = [](const nn::Json& a) -> int64_t { return a.at("arch_type") == "espnet" ? 8 : 1; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
