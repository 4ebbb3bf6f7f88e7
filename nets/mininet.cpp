#include "nets/mininet.h"

#include <memory>
#include <vector>

#include "autograd/arith.h"
#include "autograd/shape.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/zh320_modules.h"
#include "nets/zh320_separable.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using zh320::ds_conv_bn_act;

// A bias-free depth-wise 1x3 or 3x1 conv, padded to keep the size.
std::shared_ptr<nn::Conv2d> dw_factor(int64_t channels, nn::Pair kernel, int64_t dilation) {
  nn::Conv2dOptions o;
  o.kernel_size = kernel;
  o.padding = {(kernel[0] - 1) / 2 * dilation, (kernel[1] - 1) / 2 * dilation};
  o.dilation = {dilation, dilation};
  o.groups = channels;
  o.bias = false;
  return std::make_shared<nn::Conv2d>(channels, channels, o);
}

// conv1 (1x3, act, 3x1, act) gives x1; act(dropout(conv2(x1) + x1) + x),
// conv2 being 3x1, act, 1x3; all depth-wise and dilated.
class ConvModule : public nn::Module {
 public:
  ConvModule(int64_t channels, int64_t dilation, const std::string& act, double drop_p) : nn::Module("ConvModule") {
    auto conv1 = std::make_shared<nn::Sequential>();
    conv1->push_back(dw_factor(channels, {1, 3}, dilation))
        .push_back(std::make_shared<zh320::Activation>(act))
        .push_back(dw_factor(channels, {3, 1}, dilation))
        .push_back(std::make_shared<zh320::Activation>(act));
    conv1_ = register_module("conv1", conv1);
    auto conv2 = std::make_shared<nn::Sequential>();
    conv2->push_back(dw_factor(channels, {3, 1}, dilation))
        .push_back(std::make_shared<zh320::Activation>(act))
        .push_back(dw_factor(channels, {1, 3}, dilation));
    conv2_ = register_module("conv2", conv2);
    dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(drop_p));
    act_ = register_module("act", std::make_shared<zh320::Activation>(act));
  }

  Tensor forward(const Tensor& x) override {
    const Tensor x1 = (*conv1_)(x);
    return nn::activate_sum(*act_, (*dropout_)(fn::add((*conv2_)(x1), x1)), x);
  }

 private:
  nn::ModulePtr conv1_, conv2_, dropout_, act_;
};

// Concatenates upsampled maps with the skips they must match in size.
Tensor cat_skips(const std::vector<Tensor>& parts) {
  for (const Tensor& t : parts)
    CUDASEG_CHECK(t.size(2) == parts[0].size(2) && t.size(3) == parts[0].size(3), "MiniNet: cannot concatenate ",
                  parts[0].str(), " with ", t.str(), ", the decoder's upsampled and skip maps (input H and W "
                  "multiples of 64 work)");
  return fn::cat(parts, 1);
}

}  // namespace

MiniNet::MiniNet(const MiniNetOptions& options) : nn::SegNet("MiniNet"), options_(options) {
  CUDASEG_CHECK(options.num_classes > 0 && options.n_channel > 0, "MiniNet: num_classes (", options.num_classes,
                ") and n_channel (", options.n_channel, ") must be positive");
  const std::string& act = options.act_type;
  const double p = options.dropout ? 0.25 : 0.0;
  auto module = [&](int64_t channels, int64_t dilation) {
    return std::make_shared<ConvModule>(channels, dilation, act, p);
  };
  auto deconv = [&](int64_t in, int64_t out) { return std::make_shared<zh320::DeConvBNAct>(in, out, 2, std::nullopt, std::nullopt, act); };
  down1_ = register_module("down1", ds_conv_bn_act(options.n_channel, 12, 3, 2, 1, act));
  down2_ = register_module("down2", ds_conv_bn_act(12, 24, 3, 2, 1, act));
  down3_ = register_module("down3", ds_conv_bn_act(24, 48, 3, 2, 1, act));
  down4_ = register_module("down4", ds_conv_bn_act(48, 96, 3, 2, 1, act));
  auto branch1 = std::make_shared<nn::Sequential>();
  for (int64_t d : {1, 2, 4, 8}) branch1->push_back(module(96, d));
  branch1_ = register_module("branch1", branch1);
  branch2_down_ = register_module("branch2_down", ds_conv_bn_act(96, 192, 3, 2, 1, act));
  auto branch2 = std::make_shared<nn::Sequential>();
  branch2->push_back(module(192, 1))
      .push_back(ds_conv_bn_act(192, 386, 3, 2, 1, act))
      .push_back(module(386, 1))
      .push_back(module(386, 1))
      .push_back(deconv(386, 192))
      .push_back(module(192, 1));
  branch2_ = register_module("branch2", branch2);
  branch2_up_ = register_module("branch2_up", deconv(192 * 2, 96));
  auto up4 = std::make_shared<nn::Sequential>();
  up4->push_back(deconv(96 * 3, 96)).push_back(module(96, 1)).push_back(zh320::conv1x1(96, 48));
  up4_ = register_module("up4", up4);
  up3_ = register_module("up3", deconv(48 * 2, 24));
  up2_ = register_module("up2", deconv(24 * 2, 12));
  up1_ = register_module("up1", deconv(12 * 2, options.num_classes));
}

Tensor MiniNet::forward(const Tensor& x) {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == options_.n_channel, "MiniNet: expected input [N, ",
                options_.n_channel, ", H, W], got ", x.str());
  const Tensor d1 = (*down1_)(x);
  const Tensor d2 = (*down2_)(d1);
  const Tensor d3 = (*down3_)(d2);
  const Tensor d4 = (*down4_)(d3);
  const Tensor b1 = (*branch1_)(d4);
  const Tensor d5 = (*branch2_down_)(d4);
  const Tensor b2 = (*branch2_up_)(cat_skips({(*branch2_)(d5), d5}));
  Tensor y = (*up4_)(cat_skips({b1, b2, d4}));
  y = (*up3_)(cat_skips({y, d3}));
  y = (*up2_)(cat_skips({y, d2}));
  return (*up1_)(cat_skips({y, d1}));
}

CUDASEG_REGISTER_NETS(mininet) {
  nn::NetSpec spec;
  spec.name = "mininet";
  spec.summary = "MiniNet (Alonso et al. 2019), zh320's models/mininet.py: depth-wise factorised residual modules, "
                 "two branches at 1/16 and 1/64, transposed-conv decoder with skips";
  spec.args = {
      {"n_channel", 3, {}, "input channels"},
      {"act_type", "selu", {}, "activation (zh320 names)"},
      {"dropout", true, {}, "not upstream's: false sets every Dropout to p = 0"},
  };
  for (const auto& name : zh320::activation_names()) spec.args[1].choices.push_back(name);
  spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
    MiniNetOptions o;
    o.num_classes = a.at("num_classes").get<int64_t>();
    o.n_channel = a.at("n_channel").get<int64_t>();
    o.act_type = a.at("act_type").get<std::string>();
    o.dropout = a.at("dropout").get<bool>();
    return std::make_shared<MiniNet>(o);
  };
  spec.size_divisor = [](const nn::Json&) -> int64_t { return 64; };
  nn::register_net(std::move(spec));
}

}  // namespace cudaseg::nets
