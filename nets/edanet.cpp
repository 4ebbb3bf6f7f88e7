#include "nets/edanet.h"

#include <array>
#include <memory>
#include <vector>

#include "autograd/resize.h"
#include "autograd/shape.h"
#include "nets/zh320_modules.h"
#include "nn/registry.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::conv_bn_act;

// conv = bias-free 3x3 stride 2 (in -> out - in) next to pool = MaxPool2d(2, 2),
// concatenated, then bn_act (BatchNorm2d, act_type) over all out channels.
class DownsamplingBlock : public nn::Module {
 public:
  DownsamplingBlock(int64_t in_channels, int64_t out_channels, const std::string& act_type)
      : nn::Module("DownsamplingBlock") {
    CUDASEG_CHECK(out_channels > in_channels, "EDANet: n_channel (", in_channels, ") must be below ", out_channels);
    conv_ = register_module("conv", zh320::conv3x3(in_channels, out_channels - in_channels, 2));
    pool_ = register_module("pool", std::make_shared<nn::MaxPool2d>(2, 2));
    auto bn_act = std::make_shared<nn::Sequential>();
    bn_act->push_back(std::make_shared<nn::BatchNorm2d>(out_channels))
        .push_back(std::make_shared<zh320::Activation>(act_type));
    bn_act_ = register_module("bn_act", bn_act);
  }

  Tensor forward(const Tensor& x) override { return (*bn_act_)(fn::cat({(*conv_)(x), (*pool_)(x)}, 1)); }

 private:
  nn::ModulePtr conv_, pool_, bn_act_;
};

// conv = 1x1 ConvBNAct to k (ReLU whatever act_type, as upstream), a bare 3x1,
// a 1x3 ConvBNAct, a bare dilated 3x1 and a dilated 1x3 ConvBNAct; its k maps
// are concatenated in front of the input.
class EDAModule : public nn::Module {
 public:
  EDAModule(int64_t in_channels, int64_t k, int64_t dilation, const std::string& act_type)
      : nn::Module("EDAModule") {
    auto conv3x1 = [k](int64_t d) {
      nn::Conv2dOptions o;
      o.kernel_size = {3, 1};
      o.padding = {d, 0};
      o.dilation = {d, d};
      o.bias = false;
      return std::make_shared<nn::Conv2d>(k, k, o);
    };
    auto conv = std::make_shared<nn::Sequential>();
    conv->push_back(conv_bn_act(in_channels, k, 1))
        .push_back(conv3x1(1))
        .push_back(conv_bn_act(k, k, nn::Pair{1, 3}, 1, 1, 1, false, act_type))
        .push_back(conv3x1(dilation))
        .push_back(conv_bn_act(k, k, nn::Pair{1, 3}, 1, dilation, 1, false, act_type));
    conv_ = register_module("conv", conv);
  }

  Tensor forward(const Tensor& x) override { return fn::cat({(*conv_)(x), x}, 1); }

 private:
  nn::ModulePtr conv_;
};

// EDABlock: a Sequential "layers" of EDA modules, each k channels wider than the last.
class EDABlock : public nn::Module {
 public:
  EDABlock(int64_t in_channels, int64_t k, const std::vector<int64_t>& dilations, const std::string& act_type)
      : nn::Module("EDABlock") {
    auto layers = std::make_shared<nn::Sequential>();
    for (int64_t d : dilations) {
      layers->push_back(std::make_shared<EDAModule>(in_channels, k, d, act_type));
      in_channels += k;
    }
    layers_ = register_module("layers", layers);
  }

  Tensor forward(const Tensor& x) override { return (*layers_)(x); }

 private:
  nn::ModulePtr layers_;
};

}  // namespace

EDANet::EDANet(const EDANetOptions& o) : nn::SegNet("EDANet"), n_channel_(o.n_channel) {
  CUDASEG_CHECK(o.k == 40 && o.num_b1 == 5 && o.num_b2 == 8, "EDANet: upstream builds only k = 40, num_b1 = 5, ",
                "num_b2 = 8, got ", o.k, ", ", o.num_b1, ", ", o.num_b2);
  const std::string& act = o.act_type;
  stage1_ = register_module("stage1", std::make_shared<DownsamplingBlock>(o.n_channel, 15, act));
  stage2_d_ = register_module("stage2_d", std::make_shared<DownsamplingBlock>(15, 60, act));
  stage2_ = register_module("stage2", std::make_shared<EDABlock>(60, o.k, std::vector<int64_t>{1, 1, 1, 2, 2}, act));
  stage3_d_ = register_module("stage3_d", conv_bn_act(260, 130, 3, 2, 1, 1, false, act));
  stage3_ = register_module(
      "stage3", std::make_shared<EDABlock>(130, o.k, std::vector<int64_t>{2, 2, 4, 4, 8, 8, 16, 16}, act));
  project_ = register_module("project", zh320::conv1x1(130 + o.k * o.num_b2, o.num_classes));
}

Tensor EDANet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.shape()[1] == n_channel_ && x.shape()[2] % 4 == 0 && x.shape()[3] % 4 == 0,
                "EDANet: expected input [N, ", n_channel_, ", H, W] with H and W multiples of 4, got ", x.str());
  Tensor y = (*stage2_)((*stage2_d_)((*stage1_)(x)));
  y = (*project_)((*stage3_)((*stage3_d_)(y)));
  return fn::interpolate(y, std::array<int64_t, 2>{x.shape()[2], x.shape()[3]}, std::nullopt, "bilinear", true);
}

CUDASEG_REGISTER_NETS(edanet) {
  nn::NetSpec spec;
  spec.name = "edanet";
  spec.summary = "EDANet (Lo et al. 2018), zh320 models/edanet.py: dense asymmetric-conv modules at 1/8";
  spec.args = {
      {"n_channel", 3, {}, "input channels (below 15)"},
      {"k", 40, {40}, "growth rate (upstream's channel counts fix 40)"},
      {"num_b1", 5, {5}, "EDA modules at 1/4 (upstream's dilations fix 5)"},
      {"num_b2", 8, {8}, "EDA modules at 1/8 (upstream's dilations fix 8)"},
      {"act_type", "relu", {}, "activation (zh320 names)"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[4].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    EDANetOptions o;
    o.num_classes = a.at("num_classes").get<int64_t>();
    o.n_channel = a.at("n_channel").get<int64_t>();
    o.k = a.at("k").get<int64_t>();
    o.num_b1 = a.at("num_b1").get<int64_t>();
    o.num_b2 = a.at("num_b2").get<int64_t>();
    o.act_type = a.at("act_type").get<std::string>();
    return std::make_shared<EDANet>(o);
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 4; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
