#include "nets/cgnet.h"

#include <array>
#include <utility>

#include "autograd/activation.h"
#include "autograd/arith.h"
#include "autograd/pool.h"
#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// The context guided block: a 1x1 reduction to out/2 channels, then a local
// depth-wise 3x3 and a dilated depth-wise 3x3 ("surrounding") of it, both
// with the block's stride, concatenated and normalised (joi); a channel
// attention from the pooled joint feature (glo) rescales it, and a block that
// keeps its shape adds its input (upstream's default "GRL" residual; the
// "LRL" variant is unreachable from CGNet).
class CGBlock : public nn::Module {
 public:
  CGBlock(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t dilation, const std::string& act_type)
      : nn::Module("CGBlock"), use_skip_(stride == 1 && in_channels == out_channels) {
    const int64_t half = out_channels / 2;
    conv_ = register_module("conv", zh320::conv1x1(in_channels, half));
    loc_ = register_module("loc", std::make_shared<nn::Conv2d>(half, half, 3, stride, 1, 1, half, false));
    sur_ = register_module("sur",
                           std::make_shared<nn::Conv2d>(half, half, 3, stride, dilation, dilation, half, false));
    auto joi = std::make_shared<nn::Sequential>();
    joi->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
    joi->push_back(std::make_shared<zh320::Activation>(act_type));
    joi_ = register_module("joi", joi);
    auto glo = std::make_shared<nn::Sequential>();
    glo->push_back(std::make_shared<nn::Linear>(out_channels, out_channels / 8));
    glo->push_back(std::make_shared<nn::Linear>(out_channels / 8, out_channels));
    glo_ = register_module("glo", glo);
  }

  Tensor forward(const Tensor& input) override {
    const Tensor x = (*conv_)(input);
    const Tensor joint = (*joi_)(fn::cat({(*loc_)(x), (*sur_)(x)}, 1));
    const Tensor pooled = fn::flatten(fn::adaptive_avg_pool2d(joint, {1, 1}), 1);
    const Tensor gate = fn::sigmoid((*glo_)(pooled));
    const Tensor y = fn::mul(joint, fn::view(gate, {gate.size(0), gate.size(1), 1, 1}));
    return use_skip_ ? fn::add(y, input) : y;
  }

 private:
  bool use_skip_;
  nn::ModulePtr conv_, loc_, sur_, joi_, glo_;
};

std::shared_ptr<nn::Sequential> build_blocks(int64_t in_channels, int64_t out_channels, int64_t dilation,
                                             int64_t num_block, const std::string& act_type) {
  auto seq = std::make_shared<nn::Sequential>();
  for (int64_t i = 0; i < num_block; ++i) {
    seq->push_back(std::make_shared<CGBlock>(in_channels, out_channels, 1, dilation, act_type));
    in_channels = out_channels;
  }
  return seq;
}

}  // namespace

namespace cgnet_parts {

// Three ConvBNActs, the first strided; returns the last one's output and the
// first one's, which CGNet concatenates.
class InitBlock : public nn::Module {
 public:
  InitBlock(int64_t in_channels, int64_t out_channels, const std::string& act_type) : nn::Module("InitBlock") {
    conv0_ = register_module("conv0", conv_bn_act(in_channels, out_channels, 3, 2, 1, 1, false, act_type));
    conv1_ = register_module("conv1", conv_bn_act(out_channels, out_channels, 3, 1, 1, 1, false, act_type));
    conv2_ = register_module("conv2", conv_bn_act(out_channels, out_channels, 3, 1, 1, 1, false, act_type));
  }
  std::pair<Tensor, Tensor> forward2(const Tensor& x) {
    return observed_call({x}, [&] {
      Tensor x0 = (*conv0_)(x);
      Tensor y = (*conv2_)((*conv1_)(x0));
      return std::make_pair(std::move(y), std::move(x0));
    });
  }

 private:
  nn::ModulePtr conv0_, conv1_, conv2_;
};

}  // namespace cgnet_parts

CGNet::CGNet(int64_t num_classes, int64_t n_channel, int64_t M, int64_t N, const std::string& act_type)
    : nn::SegNet("CGNet") {
  CUDASEG_CHECK(num_classes > 0, "CGNet: num_classes (", num_classes, ") must be positive");
  // Upstream sizes stages 2 and 3 for 64 + 3 and 128 + 3 input channels, the
  // injected image pyramid having 3 channels whatever n_channel is.
  CUDASEG_CHECK(n_channel == 3, "CGNet: n_channel (", n_channel,
                ") must be 3: the input injection concatenates the image as 3 channels");
  // Stages 3 and the head are sized for a stage 2 and 3 that end in
  // 64 and 128 channels, so each needs a block after its strided one.
  CUDASEG_CHECK(M >= 2 && N >= 2, "CGNet: M (", M, ") and N (", N, ") count a stage's blocks, its strided one ",
                "included, and must be at least 2");
  stage1_ = register_module("stage1", std::make_shared<cgnet_parts::InitBlock>(n_channel, 32, act_type));
  stage2_down_ = register_module("stage2_down", std::make_shared<CGBlock>(64, 64, 2, 2, act_type));
  stage2_ = register_module("stage2", build_blocks(64 + 3, 64, 2, M - 1, act_type));
  stage3_down_ = register_module("stage3_down", std::make_shared<CGBlock>(128, 128, 2, 4, act_type));
  stage3_ = register_module("stage3", build_blocks(128 + 3, 128, 4, N - 1, act_type));
  seg_head_ = register_module("seg_head", zh320::conv1x1(128 * 2, num_classes));
}

Tensor CGNet::forward(const Tensor& input) {
  CUDASEG_CHECK(input.dim() == 4, "CGNet: input ", input.str(), " must be [N, C, H, W]");
  const Tensor x_d4 = zh320::scale_bilinear_ac(input, 0.25);
  const Tensor x_d8 = zh320::scale_bilinear_ac(input, 0.125);
  auto [x, x1] = stage1_->forward2(input);
  const Tensor x2 = (*stage2_down_)(fn::cat({x, x1}, 1));
  Tensor y = (*stage2_)(fn::cat({x2, x_d4}, 1));
  const Tensor x3 = (*stage3_down_)(fn::cat({y, x2}, 1));
  y = (*stage3_)(fn::cat({x3, x_d8}, 1));
  y = (*seg_head_)(fn::cat({y, x3}, 1));
  return zh320::resize_bilinear_ac(y, input.size(2), input.size(3));
}

CUDASEG_REGISTER_NETS(cgnet) {
  nn::NetSpec spec;
  spec.name = "cgnet";
  spec.summary = "CGNet (Wu et al. 2018), zh320 models/cgnet.py: context guided blocks with input injection";
  spec.args = {
      {"n_channel", 3, {3}, "input channels (only 3: the input injection concatenates the image as 3 channels)"},
      {"M", 3, {}, "context guided blocks of stage 2, its strided block included"},
      {"N", 15, {}, "context guided blocks of stage 3, its strided block included"},
      {"act_type", "prelu", {}, "activation of every block (zh320 Activation names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[3].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    return std::make_shared<CGNet>(a["num_classes"].get<int64_t>(), a["n_channel"].get<int64_t>(),
                                   a["M"].get<int64_t>(), a["N"].get<int64_t>(), a["act_type"].get<std::string>());
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 8; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
