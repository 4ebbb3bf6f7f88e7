#include "nets/resnet.h"

#include <algorithm>
#include <map>

#include "autograd/arith.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

using nn::ModulePtr;

std::shared_ptr<nn::Conv2d> conv(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride,
                                 int64_t dilation = 1) {
  return std::make_shared<nn::Conv2d>(in_channels, out_channels, kernel, stride, (kernel - 1) / 2 * dilation,
                                      dilation, 1, false);
}

ModulePtr relu() { return std::make_shared<nn::Activation>(nn::ActKind::relu); }

// torchvision calls one parameter-free `relu` after every BatchNorm and after
// the residual add. Folding a ReLU into its convolution bypasses the module,
// so each conv -> bn -> ReLU chain gets its own ReLU (relu1, relu2: names
// with no tensors, invisible in checkpoints) and `relu` is the one after the add.
class ResidualBlock : public nn::Module {
 public:
  // `dilation` is the first 3x3 conv's, `rest` the other one's (BasicBlock);
  // a 1x1 conv ignores its dilation, so only the 3x3 convs take one.
  ResidualBlock(const char* type_name, int64_t in_channels, int64_t planes, int64_t stride, int64_t dilation,
                int64_t rest, bool bottleneck)
      : nn::Module(type_name) {
    const int64_t out_channels = bottleneck ? planes * 4 : planes;
    if (bottleneck) {
      add_chain("1", conv(in_channels, planes, 1, 1), true);
      add_chain("2", conv(planes, planes, 3, stride, dilation), true);
      add_chain("3", conv(planes, out_channels, 1, 1), false);
    } else {
      add_chain("1", conv(in_channels, planes, 3, stride, dilation), true);
      add_chain("2", conv(planes, out_channels, 3, 1, rest), false);
    }
    relu_ = register_module("relu", relu());
    if (stride != 1 || in_channels != out_channels) {
      auto down = std::make_shared<nn::Sequential>();
      down->push_back(conv(in_channels, out_channels, 1, stride));
      down->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
      downsample_ = register_module("downsample", down);
    }
  }

  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (const auto& c : chains_) {
      y = (*c.bn)((*c.conv)(y));
      if (c.act) y = (*c.act)(y);
    }
    return nn::activate_sum(*relu_, y, downsample_ ? (*downsample_)(x) : x);
  }

  std::vector<nn::FusableChain> fusable_chains() const override { return chains_; }

 private:
  void add_chain(const std::string& k, std::shared_ptr<nn::Conv2d> c, bool with_relu) {
    nn::FusableChain chain;
    const int64_t channels = c->out_channels();
    chain.conv = register_module("conv" + k, std::move(c));
    chain.bn = register_module("bn" + k, std::make_shared<nn::BatchNorm2d>(channels));
    if (with_relu) chain.act = register_module("relu" + k, relu());
    chains_.push_back(chain);
  }

  std::vector<nn::FusableChain> chains_;
  ModulePtr relu_, downsample_;
};

struct Arch {
  bool bottleneck;
  std::array<int64_t, 4> blocks;
};

const std::map<std::string, Arch>& archs() {
  static const std::map<std::string, Arch> a = {
      {"resnet18", {false, {2, 2, 2, 2}}},   {"resnet34", {false, {3, 4, 6, 3}}},
      {"resnet50", {true, {3, 4, 6, 3}}},    {"resnet101", {true, {3, 4, 23, 3}}},
      {"resnet152", {true, {3, 8, 36, 3}}},
  };
  return a;
}

}  // namespace

nn::ModulePtr resnet_block(bool bottleneck, int64_t in_channels, int64_t planes, int64_t stride, int64_t dilation,
                           int64_t rest) {
  return std::make_shared<ResidualBlock>(bottleneck ? "Bottleneck" : "BasicBlock", in_channels, planes, stride,
                                         dilation, rest, bottleneck);
}

const std::vector<std::string>& resnet_types() {
  static const std::vector<std::string> names = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"};
  return names;
}

ResNetOptions smp_output_stride(int64_t output_stride) {
  CUDASEG_CHECK(output_stride == 32 || output_stride == 16 || output_stride == 8, "ResNet: output_stride ",
                output_stride, " is not one of 32, 16, 8");
  ResNetOptions o;
  if (output_stride <= 16) o.strides[3] = 1, o.dilations[3] = 2;
  if (output_stride == 8) o.strides[2] = 1, o.dilations[2] = 2, o.dilations[3] = 4;
  return o;
}

ResNet::ResNet(const std::string& resnet_type, const ResNetOptions& options) : nn::Module("ResNet") {
  const auto it = archs().find(resnet_type);
  if (it == archs().end()) {
    std::string accepted;
    for (const auto& n : resnet_types()) accepted += (accepted.empty() ? "" : ", ") + n;
    CUDASEG_FAIL("unsupported ResNet type '", resnet_type, "' (accepted: ", accepted, ")");
  }
  const Arch& arch = it->second;
  conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(3, 64, 7, 2, 3, 1, 1, false));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(64));
  relu_ = register_module("relu", relu());
  maxpool_ = register_module("maxpool", std::make_shared<nn::MaxPool2d>(3, 2, 1));
  int64_t in_channels = 64;
  for (int i = 0; i < 4; ++i) {
    const int64_t planes = int64_t{64} << i;
    auto layer = std::make_shared<nn::Sequential>();
    for (int64_t b = 0; b < arch.blocks[i]; ++b) {
      const bool first = b == 0;
      const int64_t d = options.dilations[i];
      layer->push_back(resnet_block(arch.bottleneck, in_channels, planes, first ? options.strides[i] : 1,
                                    first ? std::max(d, options.first_dilations[i]) : d, d));
      in_channels = arch.bottleneck ? planes * 4 : planes;
    }
    layers_[i] = register_module("layer" + std::to_string(i + 1), layer);
    channels_[i] = in_channels;
  }
}

std::vector<Tensor> ResNet::stages(const Tensor& x, int64_t depth) const {
  CUDASEG_CHECK(x.dim() == 4 && x.size(1) == 3, "ResNet: input ", x.str(), " must be [N, 3, H, W]");
  CUDASEG_CHECK(depth >= 1 && depth <= 4, "ResNet: depth ", depth, " is not in 1..4");
  std::vector<Tensor> out{(*relu_)((*bn1_)((*conv1_)(x)))};
  Tensor y = (*maxpool_)(out[0]);
  for (int64_t i = 0; i < depth; ++i) {
    y = (*layers_[i])(y);
    out.push_back(y);
  }
  return out;
}

std::vector<Tensor> ResNet::forward_stages(const Tensor& x, int64_t depth) const {
  return observed_call({x}, [&] { return stages(x, depth); });
}

std::array<Tensor, 4> ResNet::forward_features(const Tensor& x) const {
  return observed_call({x}, [&] {
    const std::vector<Tensor> s = stages(x, 4);
    return std::array<Tensor, 4>{s[1], s[2], s[3], s[4]};
  });
}

std::vector<nn::FusableChain> ResNet::fusable_chains() const { return {{conv1_, bn1_, relu_}}; }

}  // namespace cudaseg::nets
