#include "nets/ddrnet.h"

#include <array>
#include <map>
#include <utility>

#include "autograd/arith.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/fuse.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace ddrnet {
namespace {

using nn::ModulePtr;
using zh320::conv_bn_act;

// Residual basic block (torchvision's BasicBlock with ConvBNAct pieces). Its
// final activation is a plain ReLU whatever act_type says, as upstream.
class RB : public nn::Module {
 public:
  RB(int64_t in_channels, int64_t out_channels, int64_t stride, const std::string& act_type) : Module("RB") {
    conv1_ = register_module("conv1", conv_bn_act(in_channels, out_channels, 3, stride, 1, 1, false, act_type));
    conv2_ = register_module("conv2", conv_bn_act(out_channels, out_channels, 3, 1, 1, 1, false, "none"));
    if (stride > 1 || in_channels != out_channels)
      conv_down_ =
          register_module("conv_down", conv_bn_act(in_channels, out_channels, 1, stride, 1, 1, false, "none"));
    act_ = register_module("act", std::make_shared<nn::Activation>(nn::ActKind::relu));
  }

  Tensor forward(const Tensor& x) override {
    const Tensor out = (*conv2_)((*conv1_)(x));
    return nn::activate_sum(*act_, out, conv_down_ ? (*conv_down_)(x) : x);
  }

 private:
  ModulePtr conv1_, conv2_, conv_down_, act_;
};

// Residual bottleneck block: 1x1 -> 3x3 (strided) -> 1x1 expansion.
class RBB : public nn::Module {
 public:
  RBB(int64_t in_channels, int64_t out_channels, int64_t stride, const std::string& act_type) : Module("RBB") {
    conv1_ = register_module("conv1", conv_bn_act(in_channels, in_channels, 1, 1, 1, 1, false, act_type));
    conv2_ = register_module("conv2", conv_bn_act(in_channels, in_channels, 3, stride, 1, 1, false, act_type));
    conv3_ = register_module("conv3", conv_bn_act(in_channels, out_channels, 1, 1, 1, 1, false, "none"));
    if (stride > 1 || in_channels != out_channels)
      conv_down_ =
          register_module("conv_down", conv_bn_act(in_channels, out_channels, 1, stride, 1, 1, false, "none"));
    act_ = register_module("act", std::make_shared<zh320::Activation>(act_type));
  }

  Tensor forward(const Tensor& x) override {
    const Tensor out = (*conv3_)((*conv2_)((*conv1_)(x)));
    return nn::activate_sum(*act_, out, conv_down_ ? (*conv_down_)(x) : x);
  }

 private:
  ModulePtr conv1_, conv2_, conv3_, conv_down_, act_;
};

// build_blocks: the first block takes the stride and the channel change.
template <typename Block>
std::shared_ptr<nn::Sequential> build_blocks(int64_t in_channels, int64_t out_channels, int64_t stride,
                                             int64_t repeat_times, const std::string& act_type) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<Block>(in_channels, out_channels, stride, act_type));
  for (int64_t i = 1; i < repeat_times; ++i)
    seq->push_back(std::make_shared<Block>(out_channels, out_channels, 1, act_type));
  return seq;
}

// Exchanges features between the branches: the high branch goes down by a
// strided 3x3 conv (stride 2 or 4), the low one up by a 1x1 conv and bilinear
// resizing. Upstream never passes act_type here, so it is always ReLU.
class BilateralFusion : public nn::Module {
 public:
  BilateralFusion(int64_t low_channels, int64_t high_channels, int64_t stride) : Module("BilateralFusion") {
    conv_low_ = register_module("conv_low", conv_bn_act(low_channels, high_channels, 1, 1, 1, 1, false, "none"));
    conv_high_ =
        register_module("conv_high", conv_bn_act(high_channels, low_channels, 3, stride, 1, 1, false, "none"));
    act_ = register_module("act", std::make_shared<zh320::Activation>("relu"));
  }

  std::pair<Tensor, Tensor> forward2(const Tensor& x_low, const Tensor& x_high) {
    return observed_call({x_low, x_high}, [&] {
      const Tensor fuse_low = (*conv_low_)(x_low);
      const Tensor fuse_high = (*conv_high_)(x_high);
      Tensor low = nn::activate_sum(*act_, x_low, fuse_high);
      Tensor high = nn::activate_sum(*act_, x_high, zh320::resize_bilinear_ac(fuse_low, x_high));
      return std::pair<Tensor, Tensor>{std::move(low), std::move(high)};
    });
  }

 private:
  ModulePtr conv_low_, conv_high_, act_;
};

// Deep Aggregation Pyramid Pooling Module; ReLU throughout (upstream's default).
class DAPPM : public nn::Module {
 public:
  DAPPM(int64_t in_channels, int64_t out_channels) : Module("DAPPM") {
    const int64_t hid = in_channels / 4;
    conv0_ = register_module("conv0", conv_bn_act(in_channels, out_channels, 1));
    conv1_ = register_module("conv1", conv_bn_act(in_channels, hid, 1));
    const std::array<int64_t, 4> kernels = {5, 9, 17, -1};
    const std::array<int64_t, 4> strides = {2, 4, 8, -1};
    for (size_t i = 0; i < 4; ++i) {
      auto pool = std::make_shared<nn::Sequential>();
      if (kernels[i] < 0)
        pool->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
      else
        pool->push_back(std::make_shared<nn::AvgPool2d>(kernels[i], strides[i], (kernels[i] - 1) / 2));
      pool->push_back(zh320::conv1x1(in_channels, hid));
      const std::string k = std::to_string(i + 2);
      pools_[i] = register_module("pool" + k, pool);
      convs_[i] = register_module("conv" + k, conv_bn_act(hid, hid, 3));
    }
    conv_last_ = register_module("conv_last", conv_bn_act(hid * 5, out_channels, 1));
  }

  Tensor forward(const Tensor& x) override {
    const Tensor y0 = (*conv0_)(x);
    std::vector<Tensor> ys = {(*conv1_)(x)};
    for (size_t i = 0; i < 4; ++i)
      ys.push_back((*convs_[i])(fn::add(ys.back(), zh320::resize_bilinear_ac((*pools_[i])(x), x))));
    return fn::add((*conv_last_)(fn::cat(ys, 1)), y0);
  }

 private:
  ModulePtr conv0_, conv1_, conv_last_;
  std::array<ModulePtr, 4> pools_, convs_;
};

struct ArchSpec {
  int64_t init_channel;
  std::array<int64_t, 6> repeat_times;
};

const std::map<std::string, ArchSpec>& arch_hub() {
  static const std::map<std::string, ArchSpec> hub = {
      {"DDRNet-23-slim", {32, {2, 2, 2, 0, 2, 1}}},
      {"DDRNet-23", {64, {2, 2, 2, 0, 2, 1}}},
      {"DDRNet-39", {64, {3, 4, 3, 3, 3, 1}}},
  };
  return hub;
}

// Stage2 / Stage3: a single Sequential called "conv".
class SingleStage : public nn::Module {
 public:
  explicit SingleStage(std::shared_ptr<nn::Sequential> conv) : Module("Stage") {
    conv_ = register_module("conv", std::move(conv));
  }
  Tensor forward(const Tensor& x) override { return (*conv_)(x); }

 private:
  ModulePtr conv_;
};

}  // namespace

// Stage4: the branches split at 1/16 (low) and 1/8 (high), one or two fusions.
class Stage4 : public nn::Module {
 public:
  Stage4(int64_t init_channel, int64_t repeat_times1, int64_t repeat_times2, const std::string& act_type)
      : Module("Stage4") {
    const int64_t in = init_channel * 2, low = init_channel * 4, high = init_channel * 2;
    low_conv1_ = register_module("low_conv1", build_blocks<RB>(in, low, 2, repeat_times1, act_type));
    high_conv1_ = register_module("high_conv1", build_blocks<RB>(in, high, 1, repeat_times1, act_type));
    bilateral_fusion1_ = register_module("bilateral_fusion1", std::make_shared<BilateralFusion>(low, high, 2));
    if (repeat_times2 > 0) {
      low_conv2_ = register_module("low_conv2", build_blocks<RB>(low, low, 1, repeat_times2, act_type));
      high_conv2_ = register_module("high_conv2", build_blocks<RB>(high, high, 1, repeat_times2, act_type));
      bilateral_fusion2_ = register_module("bilateral_fusion2", std::make_shared<BilateralFusion>(low, high, 2));
    }
  }

  // {x_low, x_high}
  std::pair<Tensor, Tensor> forward2(const Tensor& x) {
    return observed_call({x}, [&] {
      auto branches = bilateral_fusion1_->forward2((*low_conv1_)(x), (*high_conv1_)(x));
      if (bilateral_fusion2_)
        branches = bilateral_fusion2_->forward2((*low_conv2_)(branches.first),
                                                (*high_conv2_)(branches.second));
      return branches;
    });
  }

 private:
  ModulePtr low_conv1_, high_conv1_, low_conv2_, high_conv2_;
  std::shared_ptr<BilateralFusion> bilateral_fusion1_, bilateral_fusion2_;
};

// Stage5: the low branch goes to 1/32 then 1/64 and through DAPPM, and is
// added to the high branch at 1/8.
class Stage5 : public nn::Module {
 public:
  Stage5(int64_t init_channel, int64_t repeat_times1, int64_t repeat_times2, const std::string& act_type)
      : Module("Stage5") {
    const int64_t low_in = init_channel * 4, high_in = init_channel * 2;
    const int64_t low1 = init_channel * 8, high1 = init_channel * 2;
    const int64_t low2 = init_channel * 16, high2 = init_channel * 4;
    low_conv1_ = register_module("low_conv1", build_blocks<RB>(low_in, low1, 2, repeat_times1, act_type));
    high_conv1_ = register_module("high_conv1", build_blocks<RB>(high_in, high1, 1, repeat_times1, act_type));
    bilateral_fusion_ = register_module("bilateral_fusion", std::make_shared<BilateralFusion>(low1, high1, 4));
    low_conv2_ = register_module("low_conv2", build_blocks<RBB>(low1, low2, 2, repeat_times2, act_type));
    high_conv2_ = register_module("high_conv2", build_blocks<RBB>(high1, high2, 1, repeat_times2, act_type));
    dappm_ = register_module("dappm", std::make_shared<DAPPM>(low2, high2));
  }

  Tensor forward2(const Tensor& x_low, const Tensor& x_high) {
    return observed_call({x_low, x_high}, [&] {
      auto [low, high] = bilateral_fusion_->forward2((*low_conv1_)(x_low), (*high_conv1_)(x_high));
      const Tensor context = zh320::resize_bilinear_ac((*dappm_)((*low_conv2_)(low)), x_high);
      return fn::add((*high_conv2_)(high), context);
    });
  }

 private:
  ModulePtr low_conv1_, high_conv1_, low_conv2_, high_conv2_, dappm_;
  std::shared_ptr<BilateralFusion> bilateral_fusion_;
};

}  // namespace ddrnet

DDRNet::DDRNet(const DDRNetOptions& options) : nn::SegNet("DDRNet"), options_(options) {
  const auto& hub = ddrnet::arch_hub();
  const auto it = hub.find(options.arch_type);
  CUDASEG_CHECK(it != hub.end(), "DDRNet: unsupported arch_type '", options.arch_type,
                "' (accepted: DDRNet-23-slim, DDRNet-23, DDRNet-39)");
  const int64_t c = it->second.init_channel;
  const auto& r = it->second.repeat_times;
  const std::string& act = options.act_type;

  conv1_ = register_module("conv1", zh320::conv_bn_act(options.n_channel, c, 3, 2, 1, 1, false, act));
  auto stage2 = std::make_shared<nn::Sequential>();
  stage2->push_back(zh320::conv_bn_act(c, c, 3, 2, 1, 1, false, act));
  for (int64_t i = 0; i < r[0]; ++i) stage2->push_back(std::make_shared<ddrnet::RB>(c, c, 1, act));
  conv2_ = register_module("conv2", std::make_shared<ddrnet::SingleStage>(stage2));
  conv3_ = register_module(
      "conv3", std::make_shared<ddrnet::SingleStage>(ddrnet::build_blocks<ddrnet::RB>(c, c * 2, 2, r[1], act)));
  conv4_ = register_module("conv4", std::make_shared<ddrnet::Stage4>(c, r[2], r[3], act));
  conv5_ = register_module("conv5", std::make_shared<ddrnet::Stage5>(c, r[4], r[5], act));
  seg_head_ = register_module("seg_head", zh320::seg_head(c * 4, options.num_classes, act));
  if (options.use_aux) aux_head_ = register_module("aux_head", zh320::seg_head(c * 2, options.num_classes, act));
}

std::vector<Tensor> DDRNet::run(const Tensor& x, bool with_aux) {
  CUDASEG_CHECK(x.dim() == 4 && x.shape()[1] == options_.n_channel, "DDRNet: expected input [N, ",
                options_.n_channel, ", H, W], got ", x.str());
  const Tensor trunk = (*conv3_)((*conv2_)((*conv1_)(x)));
  const auto [x_low, x_high] = conv4_->forward2(trunk);
  Tensor aux;
  if (with_aux) aux = (*aux_head_)(x_high);
  Tensor out = zh320::resize_bilinear_ac((*seg_head_)(conv5_->forward2(x_low, x_high)), x);
  if (with_aux) return {out, aux};
  return {out};
}

Tensor DDRNet::forward(const Tensor& x) { return run(x, false).front(); }

std::vector<Tensor> DDRNet::forward_train(const Tensor& x) { return run(x, options_.use_aux); }

namespace {

std::vector<nn::Json> activation_choices() {
  const auto& names = zh320::activation_names();
  return {names.begin(), names.end()};
}

}  // namespace

CUDASEG_REGISTER_NETS(ddrnet) {
  nn::NetSpec spec;
  spec.name = "ddrnet";
  spec.summary = "DDRNet (Hong et al. 2021), zh320's models/ddrnet.py";
  spec.args = {
      {"n_channel", 3, {}, "input channels"},
      {"arch_type", "DDRNet-23-slim", {"DDRNet-23-slim", "DDRNet-23", "DDRNet-39"}, "architecture"},
      {"act_type", "relu", activation_choices(), "activation (zh320 names)"},
      {"use_aux", true, {}, "auxiliary head on the 1/8 branch (training output)"},
  };
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    DDRNetOptions o;
    o.num_classes = a.at("num_classes").get<int64_t>();
    o.n_channel = a.at("n_channel").get<int64_t>();
    o.arch_type = a.at("arch_type").get<std::string>();
    o.act_type = a.at("act_type").get<std::string>();
    o.use_aux = a.at("use_aux").get<bool>();
    return std::make_shared<DDRNet>(o);
  };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
