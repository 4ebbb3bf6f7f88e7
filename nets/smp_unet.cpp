// smp's U-shaped decoders (decoders/unet, unetplusplus, manet, linknet):
// five blocks from the 1/32 map back to full resolution, each doubling the
// size, with the stem (1/2) and layer1..layer3 as skips. Unet's, Unet++'s
// and MAnet's blocks upsample (nearest), concatenate the skip and run two
// Conv2dReLUs, decoder_channels (256, 128, 64, 32, 16); Linknet's add the
// skip after a 1x1 / transposed conv / 1x1 block.
#include <algorithm>
#include <map>
#include <string>

#include "autograd/arith.h"
#include "autograd/linalg.h"
#include "autograd/shape.h"
#include "autograd/softmax.h"
#include "nets/smp_blocks.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets::smp {
namespace {

const std::vector<int64_t> kDecoderChannels = {256, 128, 64, 32, 16};

// smp's Conv2dReLU with BatchNorm (conv without bias, padding k // 2) is
// zh320's ConvBNAct tree: "0" conv, "1" BatchNorm2d, "2" ReLU.
std::shared_ptr<nn::Sequential> conv2d_relu(int64_t in_channels, int64_t out_channels, int64_t kernel) {
  return zh320::conv_bn_act(in_channels, out_channels, kernel, 1, 1, 1, false, "relu");
}

// The blocks' channels: skips are features[1:] reversed past the head.
struct UChannels {
  int64_t head;
  std::vector<int64_t> in, skip, out;
};

UChannels u_channels(const std::vector<int64_t>& encoder_channels) {
  CUDASEG_CHECK(encoder_channels.size() == 6, "smp: U-shaped decoders need encoder depth 5, got ",
                encoder_channels.size() - 1);
  UChannels c;
  c.head = encoder_channels[5];
  c.in = {c.head};
  for (size_t i = 0; i + 1 < kDecoderChannels.size(); ++i) c.in.push_back(kDecoderChannels[i]);
  c.skip = {encoder_channels[4], encoder_channels[3], encoder_channels[2], encoder_channels[1], 0};
  c.out = kDecoderChannels;
  return c;
}

// A block call's tensor arguments, as a hook sees them: x, and skip when given.
std::vector<Tensor> call_inputs(const Tensor& x, const Tensor& skip) {
  return skip.defined() ? std::vector<Tensor>{x, skip} : std::vector<Tensor>{x};
}

// Unet's DecoderBlock (its attention1/attention2 are Attention(None):
// parameter-free identities) and MAnet's last, skip-less block.
class UnetBlock : public nn::Module {
 public:
  UnetBlock(int64_t in_channels, int64_t skip_channels, int64_t out_channels) : nn::Module("DecoderBlock") {
    conv1_ = register_module("conv1", conv2d_relu(in_channels + skip_channels, out_channels, 3));
    conv2_ = register_module("conv2", conv2d_relu(out_channels, out_channels, 3));
  }
  // skip may be undefined (the last block).
  Tensor forward(const Tensor& x, const Tensor& skip) {
    return observed_call(call_inputs(x, skip), [&] {
      Tensor y = upsample_nearest_x2(x);
      if (skip.defined()) y = fn::cat({y, skip}, 1);
      return (*conv2_)((*conv1_)(y));
    });
  }

 private:
  nn::ModulePtr conv1_, conv2_;
};

// features[1:] reversed: the head (layer4), then the skips layer3..stem.
std::vector<Tensor> reversed_features(const std::vector<Tensor>& features) {
  return std::vector<Tensor>(features.rbegin(), features.rend() - 1);
}

class UnetDecoder : public Decoder {
 public:
  explicit UnetDecoder(const std::vector<int64_t>& encoder_channels) : Decoder("UnetDecoder", 16) {
    const UChannels c = u_channels(encoder_channels);
    center_ = register_module("center", std::make_shared<nn::Identity>());
    auto blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
    for (size_t i = 0; i < c.out.size(); ++i) {
      blocks_.push_back(std::make_shared<UnetBlock>(c.in[i], c.skip[i], c.out[i]));
      blocks->push_back(blocks_.back());
    }
  }

 protected:
  Tensor run(const std::vector<Tensor>& features) override {
    const std::vector<Tensor> f = reversed_features(features);
    Tensor x = (*center_)(f[0]);
    for (size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->forward(x, i + 1 < f.size() ? f[i + 1] : Tensor());
    return x;
  }

 private:
  nn::ModulePtr center_;
  std::vector<std::shared_ptr<UnetBlock>> blocks_;
};

// Unet++'s nested blocks "x_{depth}_{layer}": x_d_l upsamples x_d_(l-1) and
// concatenates every x_k_l (d < k <= l) and the skip of its resolution;
// x_0_4 finishes without a skip.
class UnetPlusPlusDecoder : public Decoder {
 public:
  explicit UnetPlusPlusDecoder(const std::vector<int64_t>& encoder_channels)
      : Decoder("UnetPlusPlusDecoder", 16) {
    const UChannels c = u_channels(encoder_channels);
    depth_ = static_cast<int64_t>(c.in.size()) - 1;
    center_ = register_module("center", std::make_shared<nn::Identity>());
    auto blocks = std::make_shared<nn::Module>("ModuleDict");
    for (int64_t layer = 0; layer < depth_; ++layer)
      for (int64_t d = 0; d <= layer; ++d) {
        int64_t in_ch, skip_ch, out_ch;
        if (d == 0) {
          in_ch = c.in[layer];
          skip_ch = c.skip[layer] * (layer + 1);
          out_ch = c.out[layer];
        } else {
          out_ch = c.skip[layer];
          skip_ch = c.skip[layer] * (layer + 1 - d);
          in_ch = c.skip[layer - 1];
        }
        blocks_[name(d, layer)] =
            blocks->register_module(name(d, layer), std::make_shared<UnetBlock>(in_ch, skip_ch, out_ch));
      }
    blocks_[name(0, depth_)] =
        blocks->register_module(name(0, depth_), std::make_shared<UnetBlock>(c.in[depth_], 0, c.out[depth_]));
    register_module("blocks", blocks);
  }

 protected:
  Tensor run(const std::vector<Tensor>& features) override {
    const std::vector<Tensor> f = reversed_features(features);
    std::map<std::string, Tensor> dense;
    for (int64_t layer = 0; layer < depth_; ++layer)
      for (int64_t d = 0; d < depth_ - layer; ++d) {
        if (layer == 0) {
          dense[name(d, d)] = blocks_.at(name(d, d))->forward(f[d], f[d + 1]);
          continue;
        }
        const int64_t l = d + layer;
        std::vector<Tensor> cat;
        for (int64_t k = d + 1; k <= l; ++k) cat.push_back(dense.at(name(k, l)));
        cat.push_back(f[l + 1]);
        dense[name(d, l)] = blocks_.at(name(d, l))->forward(dense.at(name(d, l - 1)), fn::cat(cat, 1));
      }
    return blocks_.at(name(0, depth_))->forward(dense.at(name(0, depth_ - 1)), Tensor());
  }

 private:
  static std::string name(int64_t d, int64_t l) { return "x_" + std::to_string(d) + "_" + std::to_string(l); }
  int64_t depth_;
  nn::ModulePtr center_;
  std::map<std::string, std::shared_ptr<UnetBlock>> blocks_;
};

// MAnet's position-wise attention block on the head: a softmax over all
// (h*w)^2 products of two 64-channel 1x1 projections (one softmax per
// sample, not per row), applied to a 3x3 projection.
class PAB : public nn::Module {
 public:
  PAB(int64_t channels, int64_t pab_channels) : nn::Module("PAB"), channels_(channels) {
    top_conv_ = register_module("top_conv", std::make_shared<nn::Conv2d>(channels, pab_channels, 1));
    center_conv_ = register_module("center_conv", std::make_shared<nn::Conv2d>(channels, pab_channels, 1));
    bottom_conv_ = register_module("bottom_conv", std::make_shared<nn::Conv2d>(channels, channels, 3, 1, 1));
    out_conv_ = register_module("out_conv", std::make_shared<nn::Conv2d>(channels, channels, 3, 1, 1));
  }
  Tensor forward(const Tensor& x) override {
    const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
    const Tensor top = fn::flatten((*top_conv_)(x), 2);
    const Tensor center = fn::transpose(fn::flatten((*center_conv_)(x), 2), 1, 2);
    const Tensor bottom = fn::transpose(fn::flatten((*bottom_conv_)(x), 2), 1, 2);
    Tensor sp_map = fn::matmul(center, top);
    sp_map = fn::reshape(fn::softmax(fn::reshape(sp_map, {n, h * w * h * w}), 1), {n, h * w, h * w});
    // upstream reshapes the [N, HW, C] product to [N, C, H, W] without a transpose
    sp_map = fn::reshape(fn::matmul(sp_map, bottom), {n, channels_, h, w});
    return (*out_conv_)(fn::add(x, sp_map));
  }

 private:
  int64_t channels_;
  nn::ModulePtr top_conv_, center_conv_, bottom_conv_, out_conv_;
};

// Squeeze-excitation: global average, 1x1 to max(1, C / 16), ReLU, 1x1 back, sigmoid.
std::shared_ptr<nn::Sequential> squeeze_excite(int64_t channels, int64_t reduction) {
  const int64_t reduced = std::max<int64_t>(1, channels / reduction);
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
  seq->push_back(std::make_shared<nn::Conv2d>(channels, reduced, 1));
  seq->push_back(std::make_shared<nn::Activation>(nn::ActKind::relu));
  seq->push_back(std::make_shared<nn::Conv2d>(reduced, channels, 1));
  seq->push_back(std::make_shared<nn::Activation>(nn::ActKind::sigmoid));
  return seq;
}

// MAnet's multi-scale fusion attention block: the head path (3x3, then 1x1
// to the skip's channels, nearest 2x) weighted by the sum of both paths'
// squeeze-excitations, concatenated with the skip, two Conv2dReLUs.
class MFAB : public nn::Module {
 public:
  MFAB(int64_t in_channels, int64_t skip_channels, int64_t out_channels) : nn::Module("MFAB") {
    constexpr int64_t reduction = 16;
    auto hl = std::make_shared<nn::Sequential>();
    hl->push_back(conv2d_relu(in_channels, in_channels, 3));
    hl->push_back(conv2d_relu(in_channels, skip_channels, 1));
    hl_conv_ = register_module("hl_conv", hl);
    se_ll_ = register_module("SE_ll", squeeze_excite(skip_channels, reduction));
    se_hl_ = register_module("SE_hl", squeeze_excite(skip_channels, reduction));
    conv1_ = register_module("conv1", conv2d_relu(2 * skip_channels, out_channels, 3));
    conv2_ = register_module("conv2", conv2d_relu(out_channels, out_channels, 3));
  }
  Tensor forward(const Tensor& x, const Tensor& skip) {
    return observed_call({x, skip}, [&] {
      const Tensor y = upsample_nearest_x2((*hl_conv_)(x));
      const Tensor attention = fn::add((*se_hl_)(y), (*se_ll_)(skip));
      return (*conv2_)((*conv1_)(fn::cat({fn::mul(y, attention), skip}, 1)));
    });
  }

 private:
  nn::ModulePtr hl_conv_, se_ll_, se_hl_, conv1_, conv2_;
};

class MAnetDecoder : public Decoder {
 public:
  explicit MAnetDecoder(const std::vector<int64_t>& encoder_channels) : Decoder("MAnetDecoder", 16) {
    const UChannels c = u_channels(encoder_channels);
    center_ = register_module("center", std::make_shared<PAB>(c.head, 64));
    auto blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
    for (size_t i = 0; i < c.out.size(); ++i) {
      if (c.skip[i] > 0) {
        mfabs_.push_back(std::make_shared<MFAB>(c.in[i], c.skip[i], c.out[i]));
        blocks->push_back(mfabs_.back());
      } else {
        last_ = std::make_shared<UnetBlock>(c.in[i], 0, c.out[i]);
        blocks->push_back(last_);
      }
    }
  }

 protected:
  Tensor run(const std::vector<Tensor>& features) override {
    const std::vector<Tensor> f = reversed_features(features);
    Tensor x = (*center_)(f[0]);
    for (size_t i = 0; i < mfabs_.size(); ++i) x = mfabs_[i]->forward(x, f[i + 1]);
    return last_->forward(x, Tensor());
  }

 private:
  nn::ModulePtr center_;
  std::vector<std::shared_ptr<MFAB>> mfabs_;
  std::shared_ptr<UnetBlock> last_;
};

// Linknet's DecoderBlock: "block" = Conv2dReLU 1x1 to in / 4, TransposeX2
// (ConvTranspose2d k4 s2 p1 with bias, BatchNorm, ReLU), Conv2dReLU 1x1 to
// out; the skip is added after.
class LinknetBlock : public nn::Module {
 public:
  LinknetBlock(int64_t in_channels, int64_t out_channels) : nn::Module("DecoderBlock") {
    const int64_t mid = in_channels / 4;
    nn::ConvTranspose2dOptions options;
    options.kernel_size = {4, 4};
    options.stride = {2, 2};
    options.padding = {1, 1};
    auto transpose = std::make_shared<nn::Sequential>();
    transpose->push_back(std::make_shared<nn::ConvTranspose2d>(mid, mid, options));
    transpose->push_back(std::make_shared<nn::BatchNorm2d>(mid));
    transpose->push_back(std::make_shared<nn::Activation>(nn::ActKind::relu));
    auto block = std::make_shared<nn::Sequential>();
    block->push_back(conv2d_relu(in_channels, mid, 1));
    block->push_back(transpose);
    block->push_back(conv2d_relu(mid, out_channels, 1));
    block_ = register_module("block", block);
  }
  Tensor forward(const Tensor& x, const Tensor& skip) {
    return observed_call(call_inputs(x, skip), [&] {
      const Tensor y = (*block_)(x);
      return skip.defined() ? fn::add(y, skip) : y;
    });
  }

 private:
  nn::ModulePtr block_;
};

class LinknetDecoder : public Decoder {
 public:
  explicit LinknetDecoder(const std::vector<int64_t>& encoder_channels) : Decoder("LinknetDecoder", 32) {
    const UChannels c = u_channels(encoder_channels);
    std::vector<int64_t> channels{c.head, c.skip[0], c.skip[1], c.skip[2], c.skip[3], out_channels()};
    auto blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
    for (size_t i = 0; i + 1 < channels.size(); ++i) {
      blocks_.push_back(std::make_shared<LinknetBlock>(channels[i], channels[i + 1]));
      blocks->push_back(blocks_.back());
    }
  }

 protected:
  Tensor run(const std::vector<Tensor>& features) override {
    const std::vector<Tensor> f = reversed_features(features);
    Tensor x = f[0];
    for (size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->forward(x, i + 1 < f.size() ? f[i + 1] : Tensor());
    return x;
  }

 private:
  std::vector<std::shared_ptr<LinknetBlock>> blocks_;
};

}  // namespace

DecoderPtr unet_decoder(const std::vector<int64_t>& encoder_channels) {
  return std::make_shared<UnetDecoder>(encoder_channels);
}

DecoderPtr unetplusplus_decoder(const std::vector<int64_t>& encoder_channels) {
  return std::make_shared<UnetPlusPlusDecoder>(encoder_channels);
}

DecoderPtr manet_decoder(const std::vector<int64_t>& encoder_channels) {
  return std::make_shared<MAnetDecoder>(encoder_channels);
}

DecoderPtr linknet_decoder(const std::vector<int64_t>& encoder_channels) {
  return std::make_shared<LinknetDecoder>(encoder_channels);
}

}  // namespace cudaseg::nets::smp
