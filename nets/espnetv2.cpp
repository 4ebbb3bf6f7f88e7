#include "nets/espnetv2.h"

#include <array>
#include <utility>

#include "autograd/arith.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "nets/zh320_separable.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace espnetv2_parts {

// The EESP unit with upstream's K = 4 branches and 3x3 kernels.
class EESPModule : public nn::Module {
 public:
  EESPModule(int64_t channels, int64_t stride, const std::string& act_type)
      : nn::Module("EESPModule"), use_skip_(stride == 1) {
    CUDASEG_CHECK(channels % K == 0, "ESPNetv2: an EESP unit's channels (", channels, ") must be a multiple of ", K);
    const int64_t channel_k = channels / K;
    conv_init_ = register_module("conv_init",
                                 std::make_shared<nn::Conv2d>(channels, channel_k, 1, 1, 0, 1, K, false));
    auto layers = std::make_shared<nn::ModuleList>();
    for (int64_t k = 0; k < K; ++k) {
      auto layer = zh320::ds_conv_bn_act(channel_k, channel_k, 3, stride, int64_t{1} << k, act_type);
      layers->push_back(layer);
      layers_.push_back(layer);
    }
    register_module("layers", layers);
    conv_last_ = register_module("conv_last", std::make_shared<nn::Conv2d>(channels, channels, 1, 1, 0, 1, K, false));
    if (!use_skip_) {
      pool_ = register_module("pool", std::make_shared<nn::AvgPool2d>(3, 2, 1));
      auto conv_stride = std::make_shared<nn::Sequential>();
      conv_stride->push_back(zh320::conv_bn_act(3, 3, 3));
      conv_stride->push_back(zh320::conv1x1(3, channels * 2));
      conv_stride_ = register_module("conv_stride", conv_stride);
    }
  }

  Tensor forward(const Tensor& x) override {
    CUDASEG_CHECK(use_skip_, "ESPNetv2: a strided EESP unit needs the downsampled image (forward2)");
    return fn::add(transform(x), x);
  }

  // Strided unit: [transform(x), avgpool(x)] + conv_stride(image).
  Tensor forward2(const Tensor& x, const Tensor& image) {
    CUDASEG_CHECK(!use_skip_, "ESPNetv2: an unstrided EESP unit takes no image");
    return observed_call({x, image}, [&] {
      const Tensor y = fn::cat({transform(x), (*pool_)(x)}, 1);
      return fn::add(y, (*conv_stride_)(image));
    });
  }

 private:
  Tensor transform(const Tensor& x) {
    const Tensor reduced = (*conv_init_)(x);
    std::vector<Tensor> feats;
    for (const auto& layer : layers_) feats.push_back((*layer)(reduced));
    for (size_t j = 1; j < feats.size(); ++j) feats[j] = fn::add(feats[j], feats[j - 1]);
    return (*conv_last_)(fn::cat(feats, 1));
  }

  static constexpr int64_t K = 4;
  bool use_skip_;
  nn::ModulePtr conv_init_, conv_last_, pool_, conv_stride_;
  std::vector<nn::ModulePtr> layers_;
};

}  // namespace espnetv2_parts

namespace {

using espnetv2_parts::EESPModule;

std::shared_ptr<nn::Sequential> build_blocks(int64_t channels, int64_t num_block, const std::string& act_type) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t i = 0; i < num_block; ++i) seq->push_back(std::make_shared<EESPModule>(channels, 1, act_type));
  return seq;
}

}  // namespace

ESPNetv2::ESPNetv2(int64_t num_classes, int64_t n_channel, int64_t alpha3, int64_t alpha4,
                   const std::string& act_type)
    : nn::SegNet("ESPNetv2") {
  CUDASEG_CHECK(num_classes > 0, "ESPNetv2: num_classes (", num_classes, ") must be positive");
  // The strided units project the pooled image with a conv built for 3 channels.
  CUDASEG_CHECK(n_channel == 3, "ESPNetv2: n_channel (", n_channel,
                ") must be 3: the strided units' image branch takes 3 channels");
  pool_ = register_module("pool", std::make_shared<nn::AvgPool2d>(3, 2, 1));
  l1_block_ = register_module("l1_block", zh320::conv_bn_act(n_channel, 32, 3, 2, 1, 1, false, act_type));
  l2_block_ = register_module("l2_block", std::make_shared<EESPModule>(32, 2, act_type));
  l3_block1_ = register_module("l3_block1", std::make_shared<EESPModule>(64, 2, act_type));
  l3_block2_ = register_module("l3_block2", build_blocks(128, alpha3, act_type));
  l4_block1_ = register_module("l4_block1", std::make_shared<EESPModule>(128, 2, act_type));
  l4_block2_ = register_module("l4_block2", build_blocks(256, alpha4, act_type));
  convl4_l3_ = register_module("convl4_l3", zh320::conv_bn_act(256, 128, 1));
  ppm_ = register_module("ppm", std::make_shared<zh320::PyramidPoolingModule>(256, 256, act_type, true));
  decoder_ = register_module("decoder", zh320::seg_head(256, num_classes, act_type));
}

Tensor ESPNetv2::forward(const Tensor& input) {
  CUDASEG_CHECK(input.dim() == 4, "ESPNetv2: input ", input.str(), " must be [N, C, H, W]");
  const Tensor x_d4 = (*pool_)((*pool_)(input));
  const Tensor x_d8 = (*pool_)(x_d4);
  const Tensor x_d16 = (*pool_)(x_d8);
  Tensor x = l2_block_->forward2((*l1_block_)(input), x_d4);
  const Tensor x3 = (*l3_block2_)(l3_block1_->forward2(x, x_d8));
  x = (*l4_block2_)(l4_block1_->forward2(x3, x_d16));
  x = (*convl4_l3_)(zh320::resize_bilinear_ac(x, x3.size(2), x3.size(3)));
  x = (*decoder_)((*ppm_)(fn::cat({x, x3}, 1)));
  return zh320::resize_bilinear_ac(x, input.size(2), input.size(3));
}

CUDASEG_REGISTER_NETS(espnetv2) {
  nn::NetSpec spec;
  spec.name = "espnetv2";
  spec.summary = "ESPNetv2 (Mehta et al. 2019), zh320 models/espnetv2.py: EESP units, pyramid pooling, SegHead";
  spec.args = {
      {"n_channel", 3, {3}, "input channels (only 3: the strided units' image branch takes 3 channels)"},
      {"K", 4, {4}, "accepted as upstream, which ignores it: every EESP unit has 4 branches"},
      {"alpha3", 3, {}, "unstrided EESP units of level 3"},
      {"alpha4", 7, {}, "unstrided EESP units of level 4"},
      {"act_type", "prelu", {}, "activation (zh320 Activation names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[4].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<ESPNetv2>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                      a["alpha3"].get<int64_t>(), a["alpha4"].get<int64_t>(),
                                      a["act_type"].get<std::string>());
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
