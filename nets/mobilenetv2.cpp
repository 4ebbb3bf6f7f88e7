#include "nets/mobilenetv2.h"

#include <utility>
#include <vector>

#include "autograd/arith.h"
#include "nn/layers.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using nn::ModulePtr;

// torchvision's Conv2dNormActivation: bias-free conv (padding (k-1)/2), BatchNorm2d, ReLU6.
std::shared_ptr<nn::Sequential> conv_bn_relu6(int64_t in_channels, int64_t out_channels, int64_t kernel,
                                              int64_t stride, int64_t groups) {
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back(std::make_shared<nn::Conv2d>(in_channels, out_channels, kernel, stride, (kernel - 1) / 2, 1, groups,
                                              false));
  seq->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
  seq->push_back(std::make_shared<nn::Activation>(nn::ActKind::relu6));
  return seq;
}

class InvertedResidual : public nn::Module {
 public:
  InvertedResidual(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t expand_ratio)
      : nn::Module("InvertedResidual"), use_res_connect_(stride == 1 && in_channels == out_channels) {
    const int64_t hidden = in_channels * expand_ratio;
    auto conv = std::make_shared<nn::Sequential>();
    if (expand_ratio != 1) conv->push_back(conv_bn_relu6(in_channels, hidden, 1, 1, 1));
    conv->push_back(conv_bn_relu6(hidden, hidden, 3, stride, hidden));
    conv->push_back(std::make_shared<nn::Conv2d>(hidden, out_channels, 1, 1, 0, 1, 1, false));
    conv->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
    conv_ = register_module("conv", conv);
  }
  Tensor forward(const Tensor& x) override {
    const Tensor y = (*conv_)(x);
    return use_res_connect_ ? fn::add(x, y) : y;
  }

 private:
  bool use_res_connect_;
  ModulePtr conv_;
};

// A slice of torchvision's `features` Sequential: its children keep their
// index in `features` as their name, as torch's Sequential slicing does.
class FeaturesSlice : public nn::Module {
 public:
  explicit FeaturesSlice(std::vector<std::pair<int, ModulePtr>> children) : nn::Module("Sequential") {
    for (auto& [index, child] : children) children_.push_back(register_module(std::to_string(index), child));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (const auto& c : children_) y = (*c)(y);
    return y;
  }

 private:
  std::vector<ModulePtr> children_;
};

}  // namespace

MobileNetV2::MobileNetV2() : nn::Module("Mobilenetv2") {
  struct Setting {
    int64_t t, c, n, s;  // expansion, channels, repeats, first stride
  };
  static const Setting settings[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                     {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  std::vector<ModulePtr> features = {conv_bn_relu6(3, 32, 3, 2, 1)};
  int64_t in_channels = 32;
  for (const auto& st : settings) {
    for (int64_t i = 0; i < st.n; ++i) {
      features.push_back(std::make_shared<InvertedResidual>(in_channels, st.c, i == 0 ? st.s : 1, st.t));
      in_channels = st.c;
    }
  }
  const int bounds[5] = {0, 4, 7, 14, 18};
  for (int k = 0; k < 4; ++k) {
    std::vector<std::pair<int, ModulePtr>> slice;
    for (int i = bounds[k]; i < bounds[k + 1]; ++i) slice.emplace_back(i, features[i]);
    layers_[k] = register_module("layer" + std::to_string(k + 1), std::make_shared<FeaturesSlice>(std::move(slice)));
  }
}

std::array<Tensor, 4> MobileNetV2::forward_features(const Tensor& x) const {
  return observed_call({x}, [&] {
    CUDASEG_CHECK(x.dim() == 4 && x.size(1) == 3, "MobileNetV2: input ", x.str(), " must be [N, 3, H, W]");
    std::array<Tensor, 4> out;
    Tensor y = x;
    for (int i = 0; i < 4; ++i) y = out[i] = (*layers_[i])(y);
    return out;
  });
}

}  // namespace cudaseg::nets
