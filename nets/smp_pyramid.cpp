// smp's pyramid decoders (decoders/fpn, pspnet, pan): FPN's top-down pathway
// summed from four GroupNorm segmentation branches at 1/4; PSPNet's pyramid
// pooling on layer2 (its encoder stops there); PAN's feature pyramid
// attention on the 1/16 map and three global attention upsamplings.
#include "autograd/arith.h"
#include "autograd/shape.h"
#include "nets/smp_blocks.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets::smp {
namespace {

using zh320::resize_bilinear_ac;

// ---------------------------------------------------------------- FPN

// Conv3x3GNReLU: "block" = conv3x3 (no bias), GroupNorm(32), ReLU, then a
// 2x bilinear (align_corners) upsampling when asked.
class Conv3x3GNReLU : public nn::Module {
 public:
  Conv3x3GNReLU(int64_t in_channels, int64_t out_channels, bool upsample)
      : nn::Module("Conv3x3GNReLU"), upsample_(upsample) {
    auto block = std::make_shared<nn::Sequential>();
    block->push_back(zh320::conv3x3(in_channels, out_channels));
    block->push_back(std::make_shared<nn::GroupNorm>(32, out_channels));
    block->push_back(std::make_shared<nn::Activation>(nn::ActKind::relu));
    block_ = register_module("block", block);
  }
  Tensor forward(const Tensor& x) override {
    const Tensor y = (*block_)(x);
    return upsample_ ? zh320::scale_bilinear_ac(y, 2.0) : y;
  }

 private:
  bool upsample_;
  nn::ModulePtr block_;
};

// FPNBlock: nearest 2x of the coarser level plus a 1x1 (with bias) of the skip.
class FPNBlock : public nn::Module {
 public:
  FPNBlock(int64_t pyramid_channels, int64_t skip_channels) : nn::Module("FPNBlock") {
    skip_conv_ = register_module("skip_conv", std::make_shared<nn::Conv2d>(skip_channels, pyramid_channels, 1));
  }
  Tensor forward(const Tensor& x, const Tensor& skip) {
    return observed_call({x, skip}, [&] { return fn::add(upsample_nearest_x2(x), (*skip_conv_)(skip)); });
  }

 private:
  nn::ModulePtr skip_conv_;
};

// SegmentationBlock: "block" = n_upsamples Conv3x3GNReLUs, each upsampling
// (one that does not when n_upsamples is 0).
class SegmentationBlock : public nn::Module {
 public:
  SegmentationBlock(int64_t in_channels, int64_t out_channels, int64_t n_upsamples)
      : nn::Module("SegmentationBlock") {
    auto block = std::make_shared<nn::Sequential>();
    block->push_back(std::make_shared<Conv3x3GNReLU>(in_channels, out_channels, n_upsamples > 0));
    for (int64_t i = 1; i < n_upsamples; ++i)
      block->push_back(std::make_shared<Conv3x3GNReLU>(out_channels, out_channels, true));
    block_ = register_module("block", block);
  }
  Tensor forward(const Tensor& x) override { return (*block_)(x); }

 private:
  nn::ModulePtr block_;
};

// p5 (1x1 of layer4) and p4..p2 top-down; each level to 128 channels at 1/4
// by its SegmentationBlock, summed ("add" merge), Dropout2d(0.2).
class FPNDecoder : public Decoder {
 public:
  FPNDecoder(const std::vector<int64_t>& encoder_channels, bool dropout) : Decoder("FPNDecoder", 128) {
    constexpr int64_t pyramid = 256;
    const auto& c = encoder_channels;
    p5_ = register_module("p5", std::make_shared<nn::Conv2d>(c[5], pyramid, 1));
    p4_ = register_module("p4", std::make_shared<FPNBlock>(pyramid, c[4]));
    p3_ = register_module("p3", std::make_shared<FPNBlock>(pyramid, c[3]));
    p2_ = register_module("p2", std::make_shared<FPNBlock>(pyramid, c[2]));
    seg_blocks_ = register_module("seg_blocks", std::make_shared<nn::ModuleList>());
    for (int64_t n_upsamples : {3, 2, 1, 0})
      seg_blocks_->push_back(std::make_shared<SegmentationBlock>(pyramid, out_channels(), n_upsamples));
    dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(dropout ? 0.2 : 0.0, true));
  }

 protected:
  Tensor run(const std::vector<Tensor>& features) override {
    const size_t n = features.size();
    const Tensor p5 = (*p5_)(features[n - 1]);
    const Tensor p4 = p4_->forward(p5, features[n - 2]);
    const Tensor p3 = p3_->forward(p4, features[n - 3]);
    const Tensor p2 = p2_->forward(p3, features[n - 4]);
    const Tensor levels[4] = {p5, p4, p3, p2};
    Tensor sum;
    for (size_t i = 0; i < 4; ++i) {
      const Tensor y = (*(*seg_blocks_)[i])(levels[i]);
      sum = sum.defined() ? fn::add(sum, y) : y;
    }
    return (*dropout_)(sum);
  }

 private:
  nn::ModulePtr p5_, dropout_;
  std::shared_ptr<FPNBlock> p4_, p3_, p2_;
  std::shared_ptr<nn::ModuleList> seg_blocks_;
};

// ---------------------------------------------------------------- PSPNet

// PSPBlock: "pool" = AdaptiveAvgPool2d(size) and Conv2dReLU 1x1 (with
// BatchNorm, except on the 1x1 pool, where smp uses a biased conv and no
// norm), bilinear (align_corners) back to the input size.
class PSPBlock : public nn::Module {
 public:
  PSPBlock(int64_t in_channels, int64_t out_channels, int64_t pool_size) : nn::Module("PSPBlock") {
    auto conv = std::make_shared<nn::Sequential>();
    if (pool_size == 1) {
      conv->push_back(std::make_shared<nn::Conv2d>(in_channels, out_channels, 1));
      conv->push_back(std::make_shared<nn::Identity>());
      conv->push_back(std::make_shared<nn::Activation>(nn::ActKind::relu));
    } else {
      conv = zh320::conv_bn_act(in_channels, out_channels, 1, 1, 1, 1, false, "relu");
    }
    auto pool = std::make_shared<nn::Sequential>();
    pool->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(pool_size));
    pool->push_back(conv);
    pool_ = register_module("pool", pool);
  }
  Tensor forward(const Tensor& x) override { return resize_bilinear_ac((*pool_)(x), x); }

 private:
  nn::ModulePtr pool_;
};

// psp: four PSPBlocks (1, 2, 3, 6 cells, in / 4 channels each) concatenated
// before the input; conv: Conv2dReLU 1x1 to 512; Dropout2d(0.2).
class PSPDecoder : public Decoder {
 public:
  PSPDecoder(int64_t in_channels, bool dropout) : Decoder("PSPDecoder", 512) {
    auto psp = std::make_shared<nn::Module>("PSPModule");
    blocks_ = psp->register_module("blocks", std::make_shared<nn::ModuleList>());
    for (int64_t size : {1, 2, 3, 6})
      blocks_->push_back(std::make_shared<PSPBlock>(in_channels, in_channels / 4, size));
    register_module("psp", psp);
    conv_ = register_module("conv", zh320::conv_bn_act(2 * in_channels, out_channels(), 1, 1, 1, 1, false, "relu"));
    dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(dropout ? 0.2 : 0.0, true));
  }

 protected:
  Tensor run(const std::vector<Tensor>& features) override {
    const Tensor& x = features.back();
    std::vector<Tensor> pyramid;
    for (size_t i = 0; i < blocks_->size(); ++i) pyramid.push_back((*(*blocks_)[i])(x));
    pyramid.push_back(x);
    return (*dropout_)((*conv_)(fn::cat(pyramid, 1)));
  }

 private:
  std::shared_ptr<nn::ModuleList> blocks_;
  nn::ModulePtr conv_, dropout_;
};

// ---------------------------------------------------------------- PAN

// PAN's ConvBnRelu: children conv (with bias), bn, activation (ReLU, skipped
// when add_relu is false).
class ConvBnRelu : public nn::Module {
 public:
  ConvBnRelu(int64_t in_channels, int64_t out_channels, int64_t kernel, bool add_relu = true)
      : nn::Module("ConvBnRelu"), add_relu_(add_relu) {
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(in_channels, out_channels, kernel, 1, kernel / 2));
    bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(out_channels));
    activation_ = register_module("activation", std::make_shared<nn::Activation>(nn::ActKind::relu));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor y = (*bn_)((*conv_)(x));
    return add_relu_ ? (*activation_)(y) : y;
  }
  std::vector<nn::FusableChain> fusable_chains() const override {
    return {{conv_, bn_, add_relu_ ? activation_ : nullptr}};
  }

 private:
  bool add_relu_;
  nn::ModulePtr conv_, bn_, activation_;
};

std::shared_ptr<nn::Sequential> sequential(std::initializer_list<nn::ModulePtr> modules) {
  auto seq = std::make_shared<nn::Sequential>();
  for (const auto& m : modules) seq->push_back(m);
  return seq;
}

nn::ModulePtr max_pool2() { return std::make_shared<nn::MaxPool2d>(2, 2); }

// Feature pyramid attention on the 1/16 map (h x w): a 7-5-3 pyramid of
// one-channel maps at h/2, h/4, h/8 merged back up (bilinear, align_corners,
// to floor sizes), multiplying a 1x1 projection, plus the global branch.
class FPABlock : public nn::Module {
 public:
  FPABlock(int64_t in_channels, int64_t out_channels) : nn::Module("FPABlock") {
    branch1_ = register_module("branch1", sequential({std::make_shared<nn::AdaptiveAvgPool2d>(1),
                                                      std::make_shared<ConvBnRelu>(in_channels, out_channels, 1)}));
    mid_ = register_module("mid", sequential({std::make_shared<ConvBnRelu>(in_channels, out_channels, 1)}));
    down1_ = register_module("down1", sequential({max_pool2(), std::make_shared<ConvBnRelu>(in_channels, 1, 7)}));
    down2_ = register_module("down2", sequential({max_pool2(), std::make_shared<ConvBnRelu>(1, 1, 5)}));
    down3_ = register_module("down3", sequential({max_pool2(), std::make_shared<ConvBnRelu>(1, 1, 3),
                                                  std::make_shared<ConvBnRelu>(1, 1, 3)}));
    conv2_ = register_module("conv2", std::make_shared<ConvBnRelu>(1, 1, 5));
    conv1_ = register_module("conv1", std::make_shared<ConvBnRelu>(1, 1, 7));
  }
  Tensor forward(const Tensor& x) override {
    const int64_t h = x.size(2), w = x.size(3);
    CUDASEG_CHECK(h >= 8 && w >= 8, "smp pan: the FPA's input ", x.str(),
                  " must be at least 8x8 (it max-pools by 2 three times; input H, W >= 128)");
    const Tensor b1 = resize_bilinear_ac((*branch1_)(x), h, w);
    const Tensor mid = (*mid_)(x);
    const Tensor x1 = (*down1_)(x);
    const Tensor x2 = (*down2_)(x1);
    const Tensor x3 = resize_bilinear_ac((*down3_)(x2), h / 4, w / 4);
    Tensor y = resize_bilinear_ac(fn::add((*conv2_)(x2), x3), h / 2, w / 2);
    y = resize_bilinear_ac(fn::add(y, (*conv1_)(x1)), h, w);
    return fn::add(fn::mul(y, mid), b1);
  }

 private:
  nn::ModulePtr branch1_, mid_, down1_, down2_, down3_, conv2_, conv1_;
};

// Global attention upsample: the high-level map y, upsampled (bilinear,
// align_corners) to the low-level x, plus x's 3x3 projection weighted by
// sigmoid(BN(1x1(global average of y))).
class GAUBlock : public nn::Module {
 public:
  GAUBlock(int64_t in_channels, int64_t out_channels) : nn::Module("GAUBlock") {
    conv1_ = register_module(
        "conv1", sequential({std::make_shared<nn::AdaptiveAvgPool2d>(1),
                             std::make_shared<ConvBnRelu>(out_channels, out_channels, 1, false),
                             std::make_shared<nn::Activation>(nn::ActKind::sigmoid)}));
    conv2_ = register_module("conv2", std::make_shared<ConvBnRelu>(in_channels, out_channels, 3));
  }
  Tensor forward(const Tensor& x, const Tensor& y) {
    return observed_call({x, y}, [&] {
      const Tensor y_up = resize_bilinear_ac(y, x);
      return fn::add(y_up, fn::mul((*conv2_)(x), (*conv1_)(y)));
    });
  }

 private:
  nn::ModulePtr conv1_, conv2_;
};

class PANDecoder : public Decoder {
 public:
  explicit PANDecoder(const std::vector<int64_t>& encoder_channels) : Decoder("PANDecoder", 32) {
    const auto& c = encoder_channels;
    fpa_ = register_module("fpa", std::make_shared<FPABlock>(c[5], out_channels()));
    gau3_ = register_module("gau3", std::make_shared<GAUBlock>(c[4], out_channels()));
    gau2_ = register_module("gau2", std::make_shared<GAUBlock>(c[3], out_channels()));
    gau1_ = register_module("gau1", std::make_shared<GAUBlock>(c[2], out_channels()));
  }

 protected:
  Tensor run(const std::vector<Tensor>& features) override {
    const size_t n = features.size();
    const Tensor x5 = (*fpa_)(features[n - 1]);
    const Tensor x4 = gau3_->forward(features[n - 2], x5);
    const Tensor x3 = gau2_->forward(features[n - 3], x4);
    return gau1_->forward(features[n - 4], x3);
  }

 private:
  nn::ModulePtr fpa_;
  std::shared_ptr<GAUBlock> gau3_, gau2_, gau1_;
};

}  // namespace

DecoderPtr fpn_decoder(const std::vector<int64_t>& encoder_channels, bool dropout) {
  return std::make_shared<FPNDecoder>(encoder_channels, dropout);
}

DecoderPtr psp_decoder(const std::vector<int64_t>& encoder_channels, bool dropout) {
  return std::make_shared<PSPDecoder>(encoder_channels.back(), dropout);
}

DecoderPtr pan_decoder(const std::vector<int64_t>& encoder_channels) {
  return std::make_shared<PANDecoder>(encoder_channels);
}

}  // namespace cudaseg::nets::smp
