// smp's DeepLabV3 and DeepLabV3+ decoders (decoders/deeplabv3/decoder.py):
// ASPP with atrous rates 12, 24, 36 on the dilated encoder's last map, 256
// channels; DeepLabV3+ makes the ASPP separable and fuses it, 4x upsampled,
// with a 48-channel projection of layer1.
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nets/smp_blocks.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets::smp {
namespace {

constexpr int64_t kChannels = 256;
constexpr int64_t kRates[3] = {12, 24, 36};

using zh320::conv_bn_act;

// A Sequential whose conv -> BatchNorm2d -> ReLU chain starts in a
// SeparableConv2d child (a Sequential of depthwise and pointwise conv): the
// BatchNorm folds into the pointwise conv, which Sequential's own chain
// search, looking at direct children only, does not see.
class SeparableSequential : public nn::Sequential {
 public:
  std::vector<nn::FusableChain> fusable_chains() const override {
    std::vector<nn::FusableChain> chains;
    const auto c = named_children();
    for (size_t i = 0; i + 2 < c.size(); ++i) {
      const auto& sep = c[i].second;
      if (sep->type_name() != "Sequential" || c[i + 1].second->type_name() != "BatchNorm2d") continue;
      const auto parts = sep->named_children();
      if (parts.size() == 2 && parts[1].second->type_name() == "Conv2d")
        chains.push_back({parts[1].second, c[i + 1].second, c[i + 2].second});
    }
    return chains;
  }
};

// smp's SeparableConv2d: "0" depthwise conv (no bias), "1" pointwise conv
// (bias false wherever the decoders use it).
std::shared_ptr<nn::Sequential> separable_conv(int64_t in_channels, int64_t out_channels, int64_t dilation) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Conv2d>(in_channels, in_channels, 3, 1, dilation, dilation, in_channels, false));
  seq->push_back(std::make_shared<nn::Conv2d>(in_channels, out_channels, 1, 1, 0, 1, 1, false));
  return seq;
}

// SeparableConv2d -> BatchNorm2d -> ReLU.
std::shared_ptr<nn::Sequential> separable_bn_relu(int64_t in_channels, int64_t out_channels, int64_t dilation) {
  auto seq = std::make_shared<SeparableSequential>();
  seq->push_back(separable_conv(in_channels, out_channels, dilation));
  seq->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
  seq->push_back(std::make_shared<zh320::Activation>("relu"));
  return seq;
}

// Global average -> conv1x1 -> BatchNorm -> ReLU, children "0".."3", spread
// back over the map (bilinear, align_corners false, from one cell).
class ASPPPooling : public nn::Module {
 public:
  ASPPPooling(int64_t in_channels, int64_t out_channels) : nn::Module("ASPPPooling") {
    pool_ = register_module("0", std::make_shared<nn::AdaptiveAvgPool2d>(1));
    conv_ = register_module("1", std::make_shared<nn::Conv2d>(in_channels, out_channels, 1, 1, 0, 1, 1, false));
    bn_ = register_module("2", std::make_shared<nn::BatchNorm2d>(out_channels));
    relu_ = register_module("3", std::make_shared<zh320::Activation>("relu"));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor y = (*relu_)((*bn_)((*conv_)((*pool_)(x))));
    return fn::interpolate(y, std::array<int64_t, 2>{x.size(2), x.size(3)}, std::nullopt, "bilinear", false);
  }
  std::vector<nn::FusableChain> fusable_chains() const override { return {{conv_, bn_, relu_}}; }

 private:
  nn::ModulePtr pool_, conv_, bn_, relu_;
};

// "convs": a 1x1 branch, three 3x3 branches at the atrous rates (separable
// in DeepLabV3+), the pooling branch; "project": 1x1 over their
// concatenation, BatchNorm, ReLU, Dropout(0.5).
class ASPP : public nn::Module {
 public:
  ASPP(int64_t in_channels, int64_t out_channels, bool separable, bool dropout) : nn::Module("ASPP") {
    auto convs = std::make_shared<nn::ModuleList>();
    convs->push_back(conv_bn_act(in_channels, out_channels, 1, 1, 1, 1, false, "relu"));
    for (int64_t rate : kRates)
      convs->push_back(separable ? separable_bn_relu(in_channels, out_channels, rate)
                                 : conv_bn_act(in_channels, out_channels, 3, 1, rate, 1, false, "relu"));
    convs->push_back(std::make_shared<ASPPPooling>(in_channels, out_channels));
    convs_ = register_module("convs", convs);
    auto project = conv_bn_act(5 * out_channels, out_channels, 1, 1, 1, 1, false, "relu");
    project->push_back(std::make_shared<nn::Dropout>(dropout ? 0.5 : 0.0));
    project_ = register_module("project", project);
  }
  Tensor forward(const Tensor& x) override {
    std::vector<Tensor> branches;
    for (size_t i = 0; i < convs_->size(); ++i) branches.push_back((*(*convs_)[i])(x));
    return (*project_)(fn::cat(branches, 1));
  }

 private:
  std::shared_ptr<nn::ModuleList> convs_;
  nn::ModulePtr project_;
};

// nn.Sequential(ASPP, conv3x3, BatchNorm, ReLU) on the last feature.
class DeepLabV3Decoder : public Decoder {
 public:
  DeepLabV3Decoder(int64_t in_channels, bool dropout) : Decoder("DeepLabV3Decoder", kChannels) {
    aspp_ = register_module("0", std::make_shared<ASPP>(in_channels, kChannels, false, dropout));
    conv_ = register_module("1", zh320::conv3x3(kChannels, kChannels));
    bn_ = register_module("2", std::make_shared<nn::BatchNorm2d>(kChannels));
    relu_ = register_module("3", std::make_shared<zh320::Activation>("relu"));
  }
  std::vector<nn::FusableChain> fusable_chains() const override { return {{conv_, bn_, relu_}}; }

 protected:
  Tensor run(const std::vector<Tensor>& features) override {
    return (*relu_)((*bn_)((*conv_)((*aspp_)(features.back()))));
  }

 private:
  nn::ModulePtr aspp_, conv_, bn_, relu_;
};

// aspp: separable ASPP, separable conv3x3, BatchNorm, ReLU at stride 16,
// upsampled 4x (bilinear, align_corners) to layer1's stride 4; block1
// projects layer1 to 48 channels; block2 fuses both (separable conv3x3).
class DeepLabV3PlusDecoder : public Decoder {
 public:
  DeepLabV3PlusDecoder(const std::vector<int64_t>& encoder_channels, bool dropout)
      : Decoder("DeepLabV3PlusDecoder", kChannels) {
    constexpr int64_t highres_channels = 48;
    auto aspp = std::make_shared<SeparableSequential>();
    aspp->push_back(std::make_shared<ASPP>(encoder_channels.back(), kChannels, true, dropout));
    aspp->push_back(separable_conv(kChannels, kChannels, 1));
    aspp->push_back(std::make_shared<nn::BatchNorm2d>(kChannels));
    aspp->push_back(std::make_shared<zh320::Activation>("relu"));
    aspp_ = register_module("aspp", aspp);
    up_ = register_module("up", std::make_shared<nn::Upsample>(std::nullopt, std::array<double, 2>{4.0, 4.0},
                                                               "bilinear", true));
    const int64_t highres_in = encoder_channels[encoder_channels.size() - 4];
    block1_ = register_module("block1", conv_bn_act(highres_in, highres_channels, 1, 1, 1, 1, false, "relu"));
    block2_ = register_module("block2", separable_bn_relu(highres_channels + kChannels, kChannels, 1));
  }

 protected:
  Tensor run(const std::vector<Tensor>& features) override {
    const Tensor aspp = (*up_)((*aspp_)(features.back()));
    const Tensor high_res = (*block1_)(features[features.size() - 4]);
    return (*block2_)(fn::cat({aspp, high_res}, 1));
  }

 private:
  nn::ModulePtr aspp_, up_, block1_, block2_;
};

}  // namespace

DecoderPtr deeplabv3_decoder(const std::vector<int64_t>& encoder_channels, bool dropout) {
  return std::make_shared<DeepLabV3Decoder>(encoder_channels.back(), dropout);
}

DecoderPtr deeplabv3plus_decoder(const std::vector<int64_t>& encoder_channels, bool dropout) {
  return std::make_shared<DeepLabV3PlusDecoder>(encoder_channels, dropout);
}

}  // namespace cudaseg::nets::smp
