#include "nets/enet.h"

#include <array>
#include <utility>

#include "autograd/arith.h"
#include "autograd/pool.h"
#include "autograd/shape.h"
#include "nn/fuse.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace enet {
namespace {

using nn::ModulePtr;
using zh320::conv_bn_act;

// Upstream's default ConvBNAct is 3x3 with ReLU; only the bottleneck outputs,
// the initial block and fullconv use act_type.
std::shared_ptr<nn::Sequential> cba(int64_t in, int64_t out, int64_t k = 3, int64_t stride = 1,
                                    int64_t dilation = 1) {
  return conv_bn_act(in, out, k, stride, dilation);
}

ops::MaxPool2dParams pool2x2() {
  ops::MaxPool2dParams p;
  p.kernel_size = {2, 2};
  p.stride = {2, 2};
  return p;
}

// enet.py's Upsample: a child "up_conv" that is either a bias-free
// ConvTranspose2d (stride = scale, output_padding 1) or a 1x1 ConvBNAct
// followed by bilinear resizing (align_corners false).
class Upsample : public nn::Module {
 public:
  Upsample(int64_t in_channels, int64_t out_channels, int64_t scale_factor, int64_t kernel_size,
           const std::string& upsample_type, const std::string& act_type)
      : Module("Upsample") {
    if (upsample_type == "deconvolution") {
      if (kernel_size <= 0) kernel_size = 2 * scale_factor - 1;
      const int64_t padding = (kernel_size - 1) / 2;
      nn::ConvTranspose2dOptions o;
      o.kernel_size = {kernel_size, kernel_size};
      o.stride = {scale_factor, scale_factor};
      o.padding = {padding, padding};
      o.output_padding = {1, 1};
      o.bias = false;
      up_conv_ = register_module("up_conv", std::make_shared<nn::ConvTranspose2d>(in_channels, out_channels, o));
    } else {
      auto seq = std::make_shared<nn::Sequential>();
      seq->push_back(conv_bn_act(in_channels, out_channels, 1, 1, 1, 1, false, act_type));
      const double s = static_cast<double>(scale_factor);
      seq->push_back(
          std::make_shared<nn::Upsample>(std::nullopt, std::array<double, 2>{s, s}, "bilinear", std::nullopt));
      up_conv_ = register_module("up_conv", seq);
    }
  }
  Tensor forward(const Tensor& x) override { return (*up_conv_)(x); }

 private:
  ModulePtr up_conv_;
};

enum class ConvType { regular, downsampling, upsampling, dilate, asymmetric };

}  // namespace

InitialBlock::InitialBlock(int64_t in_channels, int64_t out_channels, const std::string& act_type)
    : Module("InitialBlock") {
  CUDASEG_CHECK(out_channels > in_channels, "InitialBlock: in_channels (", in_channels, ") must be below ",
                out_channels);
  conv_ = register_module("conv", conv_bn_act(in_channels, out_channels - in_channels, 3, 2, 1, 1, false, act_type));
  pool_ = register_module("pool", std::make_shared<nn::MaxPool2d>(3, 2, 1));
}

Tensor InitialBlock::forward(const Tensor& x) { return fn::cat({(*conv_)(x), (*pool_)(x)}, 1); }

// The ENet bottleneck: a right branch (1x1 reduce to in/4, a 3x3 / strided /
// dilated / asymmetric / transposed conv, 1x1 expand, dropout) added to a left
// branch (identity, or max pool + 1x1 conv, or 1x1 conv + max unpool), then
// act_type. The pooling modules hold no state and are applied functionally.
class Bottleneck : public nn::Module {
 public:
  Bottleneck(int64_t in_channels, int64_t out_channels, ConvType type, const std::string& act_type,
             const std::string& upsample_type = "regular", int64_t dilation = 1, double drop_p = 0.1)
      : Module("Bottleneck"), type_(type) {
    const int64_t hid = in_channels / 4;
    auto right = std::make_shared<nn::Sequential>();
    switch (type) {
      case ConvType::regular:
        right->push_back(cba(in_channels, hid, 1)).push_back(cba(hid, hid));
        break;
      case ConvType::downsampling:
        left_conv_ = register_module("left_conv", cba(in_channels, out_channels, 1));
        right->push_back(cba(in_channels, hid, 3, 2)).push_back(cba(hid, hid));
        break;
      case ConvType::upsampling:
        left_conv_ = register_module("left_conv", cba(in_channels, out_channels, 1));
        right->push_back(cba(in_channels, hid, 1))
            .push_back(std::make_shared<Upsample>(hid, hid, 2, 3, upsample_type, "relu"));
        break;
      case ConvType::dilate:
        right->push_back(cba(in_channels, hid, 1)).push_back(cba(hid, hid, 3, 1, dilation));
        break;
      case ConvType::asymmetric:
        right->push_back(cba(in_channels, hid, 1))
            .push_back(conv_bn_act(hid, hid, nn::Pair{5, 1}))
            .push_back(conv_bn_act(hid, hid, nn::Pair{1, 5}));
        break;
    }
    right_init_conv_ = register_module("right_init_conv", right);
    auto last = std::make_shared<nn::Sequential>();
    last->push_back(zh320::conv1x1(hid, out_channels)).push_back(std::make_shared<nn::Dropout>(drop_p));
    right_last_conv_ = register_module("right_last_conv", last);
    act_ = register_module("act", std::make_shared<zh320::Activation>(act_type));
  }

  // Regular, dilated and asymmetric bottlenecks: the identity shortcut.
  Tensor forward(const Tensor& x) override {
    CUDASEG_CHECK(!left_conv_, "ENet Bottleneck: a down/upsampling bottleneck needs forward_down / forward_up");
    return nn::activate_sum(*act_, x, right(x));
  }

  // Downsampling: {output, max-pool indices of x}.
  std::pair<Tensor, Tensor> forward_down(const Tensor& x) {
    CUDASEG_CHECK(type_ == ConvType::downsampling, "ENet Bottleneck: forward_down on a non-downsampling block");
    return observed_call({x}, [&] {
      const Tensor x_right = right(x);
      auto [pooled, indices] = fn::max_pool2d_with_indices(x, pool2x2());
      return std::pair<Tensor, Tensor>{nn::activate_sum(*act_, (*left_conv_)(pooled), x_right), indices};
    });
  }

  // Upsampling with the indices of the matching downsampling bottleneck.
  Tensor forward_up(const Tensor& x, const Tensor& indices) {
    CUDASEG_CHECK(type_ == ConvType::upsampling && indices.defined(),
                  "ENet Bottleneck: upsampling needs pooling indices");
    return observed_call({x, indices}, [&] {
      const Tensor x_right = right(x);
      const Shape& s = x.shape();
      const Tensor x_left = fn::max_unpool2d((*left_conv_)(x), indices, {s[2] * 2, s[3] * 2});
      return nn::activate_sum(*act_, x_left, x_right);
    });
  }

 private:
  Tensor right(const Tensor& x) { return (*right_last_conv_)((*right_init_conv_)(x)); }

  ConvType type_;
  ModulePtr left_conv_, right_init_conv_, right_last_conv_, act_;
};

// BottleNeck1 / BottleNeck23 (encoder: optional conv_pool, then conv_regular,
// a Sequential) and BottleNeck45 (decoder: conv_unpool, conv_regular, a single
// bottleneck, and optionally conv_extra).
class BottleneckStage : public nn::Module {
 public:
  struct Encoder {};
  struct Decoder {};

  // Stage 1 (four regular blocks) when `stage1`, else stages 2/3 (regular,
  // dilated 2/4/8/16 and asymmetric blocks interleaved).
  BottleneckStage(Encoder, int64_t in_channels, int64_t out_channels, const std::string& act, bool downsample,
                  bool stage1, double drop_p)
      : Module(stage1 ? "BottleNeck1" : "BottleNeck23") {
    if (downsample)
      conv_pool_ = register_module("conv_pool", std::make_shared<Bottleneck>(in_channels, out_channels,
                                                                             ConvType::downsampling, act, "regular",
                                                                             1, drop_p));
    auto seq = std::make_shared<nn::Sequential>();
    auto block = [&](ConvType t, int64_t dilation) {
      seq->push_back(std::make_shared<Bottleneck>(out_channels, out_channels, t, act, "regular", dilation, drop_p));
    };
    if (stage1) {
      for (int i = 0; i < 4; ++i) block(ConvType::regular, 1);
    } else {
      for (int64_t d : {2, 8}) {
        block(ConvType::regular, 1);
        block(ConvType::dilate, d);
        block(ConvType::asymmetric, 1);
        block(ConvType::dilate, d * 2);
      }
    }
    conv_regular_ = register_module("conv_regular", seq);
  }

  BottleneckStage(Decoder, int64_t in_channels, int64_t out_channels, const std::string& act,
                  const std::string& upsample_type, bool extra_conv, double drop_p)
      : Module("BottleNeck45") {
    conv_unpool_ = register_module("conv_unpool", std::make_shared<Bottleneck>(in_channels, out_channels,
                                                                               ConvType::upsampling, act,
                                                                               upsample_type, 1, drop_p));
    conv_regular_ = register_module("conv_regular", std::make_shared<Bottleneck>(out_channels, out_channels,
                                                                                 ConvType::regular, act, "regular",
                                                                                 1, drop_p));
    if (extra_conv)
      conv_extra_ = register_module("conv_extra", std::make_shared<Bottleneck>(out_channels, out_channels,
                                                                               ConvType::regular, act, "regular",
                                                                               1, drop_p));
  }

  // Encoder without downsampling.
  Tensor forward(const Tensor& x) override {
    CUDASEG_CHECK(!conv_pool_ && !conv_unpool_, "ENet ", type_name(), ": use forward_down / forward_up");
    return (*conv_regular_)(x);
  }

  // Downsampling encoder: {output, indices}.
  std::pair<Tensor, Tensor> forward_down(const Tensor& x) {
    return observed_call({x}, [&] {
      auto [y, indices] = conv_pool_->forward_down(x);
      return std::pair<Tensor, Tensor>{(*conv_regular_)(y), indices};
    });
  }

  Tensor forward_up(const Tensor& x, const Tensor& indices) {
    return observed_call({x, indices}, [&] {
      Tensor y = (*conv_regular_)(conv_unpool_->forward_up(x, indices));
      return conv_extra_ ? (*conv_extra_)(y) : y;
    });
  }

 private:
  std::shared_ptr<Bottleneck> conv_pool_, conv_unpool_;
  ModulePtr conv_regular_, conv_extra_;
};

}  // namespace enet

ENet::ENet(const ENetOptions& options) : nn::SegNet("ENet"), options_(options) {
  using enet::BottleneckStage;
  const std::string& act = options.act_type;
  // Upstream's rates: 0.01 in stage 1, 0.1 elsewhere (BottleNeck23/45 never pass drop_p).
  const double p1 = options.dropout ? 0.01 : 0.0, p = options.dropout ? 0.1 : 0.0;
  initial_ = register_module("initial", std::make_shared<enet::InitialBlock>(options.n_channel, 16, act));
  bottleneck1_ = register_module(
      "bottleneck1", std::make_shared<BottleneckStage>(BottleneckStage::Encoder{}, 16, 64, act, true, true, p1));
  bottleneck2_ = register_module(
      "bottleneck2", std::make_shared<BottleneckStage>(BottleneckStage::Encoder{}, 64, 128, act, true, false, p));
  bottleneck3_ = register_module(
      "bottleneck3", std::make_shared<BottleneckStage>(BottleneckStage::Encoder{}, 128, 128, act, false, false, p));
  bottleneck4_ = register_module("bottleneck4", std::make_shared<BottleneckStage>(
                                                    BottleneckStage::Decoder{}, 128, 64, act, options.upsample_type,
                                                    true, p));
  bottleneck5_ = register_module("bottleneck5", std::make_shared<BottleneckStage>(
                                                    BottleneckStage::Decoder{}, 64, 16, act, options.upsample_type,
                                                    false, p));
  fullconv_ = register_module("fullconv", std::make_shared<enet::Upsample>(16, options.num_classes, 2, 0, "", act));
}

Tensor ENet::forward(const Tensor& x) {
  // Unpooling must restore the pooled sizes: ceil(H/2) and ceil(W/2) multiples of 4.
  CUDASEG_CHECK(x.dim() == 4 && x.shape()[1] == options_.n_channel && (x.shape()[2] + 1) / 2 % 4 == 0 &&
                    (x.shape()[3] + 1) / 2 % 4 == 0,
                "ENet: expected input [N, ", options_.n_channel,
                ", H, W] with ceil(H/2) and ceil(W/2) multiples of 4 (e.g. H, W multiples of 8), got ", x.str());
  auto [x1, indices1] = bottleneck1_->forward_down((*initial_)(x));
  auto [x2, indices2] = bottleneck2_->forward_down(x1);
  Tensor y = (*bottleneck3_)(x2);
  y = bottleneck4_->forward_up(y, indices2);
  y = bottleneck5_->forward_up(y, indices1);
  return (*fullconv_)(y);
}

namespace {

std::vector<nn::Json> activation_choices() {
  const auto& names = zh320::activation_names();
  return {names.begin(), names.end()};
}

}  // namespace

CUDASEG_REGISTER_NETS(enet) {
  nn::NetSpec spec;
  spec.name = "enet";
  spec.summary = "ENet (Paszke et al. 2016), zh320's models/enet.py";
  spec.args = {
      {"n_channel", 3, {}, "input channels (below 16)"},
      {"act_type", "prelu", activation_choices(), "activation (zh320 names)"},
      {"upsample_type", "deconvolution", {}, "decoder upsampling: deconvolution, else 1x1 conv + bilinear"},
      {"dropout", true, {}, "not upstream's: false sets every Dropout to p = 0"},
  };
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    ENetOptions o;
    o.num_classes = a.at("num_classes").get<int64_t>();
    o.n_channel = a.at("n_channel").get<int64_t>();
    o.act_type = a.at("act_type").get<std::string>();
    o.upsample_type = a.at("upsample_type").get<std::string>();
    o.dropout = a.at("dropout").get<bool>();
    return std::make_shared<ENet>(o);
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
