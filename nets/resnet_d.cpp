#include "nets/resnet_d.h"

#include <map>

#include "nn/layers.h"
#include "nets/resnet.h"
#include "runtime/error.h"

namespace cudaseg::nets {
namespace {

struct Arch {
  bool bottleneck;
  std::array<int64_t, 4> blocks;
};

const std::map<std::string, Arch>& archs() {
  static const std::map<std::string, Arch> a = {
      {"resnet18", {false, {2, 2, 2, 2}}}, {"resnet50", {true, {3, 4, 6, 3}}}, {"resnet101", {true, {3, 4, 23, 3}}}};
  return a;
}

nn::ModulePtr conv3x3(int64_t in, int64_t out, int64_t stride) {
  return std::make_shared<nn::Conv2d>(in, out, 3, stride, 1, 1, 1, false);
}

nn::ModulePtr relu() { return std::make_shared<nn::Activation>(nn::ActKind::relu); }

}  // namespace

const std::vector<std::string>& resnet_d_types() {
  static const std::vector<std::string> names = {"resnet18", "resnet50", "resnet101"};
  return names;
}

ResNetD::ResNetD(const std::string& resnet_type, bool dilated) : nn::Module("ResNet") {
  const auto it = archs().find(resnet_type);
  if (it == archs().end()) {
    std::string accepted;
    for (const auto& n : resnet_d_types()) accepted += (accepted.empty() ? "" : ", ") + n;
    CUDASEG_FAIL("unsupported deep-stem ResNet type '", resnet_type, "' (accepted: ", accepted, ")");
  }
  const Arch& arch = it->second;
  conv1_ = std::make_shared<nn::Sequential>();
  conv1_->push_back(conv3x3(3, 64, 2));
  conv1_->push_back(std::make_shared<nn::BatchNorm2d>(64));
  conv1_->push_back(relu());
  conv1_->push_back(conv3x3(64, 64, 1));
  conv1_->push_back(std::make_shared<nn::BatchNorm2d>(64));
  conv1_->push_back(relu());
  conv1_->push_back(conv3x3(64, 128, 1));
  register_module("conv1", conv1_);
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(128));
  relu_ = register_module("relu", relu());
  maxpool_ = register_module("maxpool", std::make_shared<nn::MaxPool2d>(3, 2, 1));
  int64_t in_channels = 128;
  for (int i = 0; i < 4; ++i) {
    const int64_t planes = int64_t{64} << i;
    const int64_t d = dilated && i >= 2 ? int64_t{1} << (i - 1) : 1;
    auto layer = std::make_shared<nn::Sequential>();
    for (int64_t b = 0; b < arch.blocks[i]; ++b) {
      const int64_t stride = b == 0 && i > 0 ? 2 : 1;
      // conv2 carries the dilation: a Bottleneck's first 3x3, a BasicBlock's second.
      layer->push_back(arch.bottleneck ? resnet_block(true, in_channels, planes, stride, d, d)
                                       : resnet_block(false, in_channels, planes, stride, 1, d));
      in_channels = arch.bottleneck ? planes * 4 : planes;
    }
    layers_[i] = register_module("layer" + std::to_string(i + 1), layer);
    channels_[i] = in_channels;
  }
}

std::shared_ptr<nn::Sequential> ResNetD::stem() const {
  return std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{conv1_, bn1_, relu_, maxpool_});
}

nn::FusableChain ResNetD::stem_chain() const { return {(*conv1_)[6], bn1_, relu_}; }

}  // namespace cudaseg::nets
