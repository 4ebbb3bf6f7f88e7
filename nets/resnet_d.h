// The deep-stem ResNet ("ResNet-D": Bag of Tricks for Image Classification,
// He et al., CVPR 2019, its three-conv stem) of lxtGH/SFSegNets
// (network/resnet_d.py, commit ba475ba), the backbone of SFNet: conv1 is
// Sequential(conv3x3(3, 64, stride 2), BN, ReLU, conv3x3(64, 64), BN, ReLU,
// conv3x3(64, 128)), then bn1, relu, maxpool and layer1..layer4 of
// torchvision's blocks (nets/resnet.h's resnet_block: the same names) starting
// from 128 channels, so layer1's first block has a stride-1 downsample. The
// Bottleneck strides its 3x3 conv2 (v1.5). Its avgpool and fc are not part of
// the backbone.
//
// `dilated` is AlignNetResNet's variant 'D': every conv2 of layer3 gets
// dilation and padding 2, of layer4 4, the strides unchanged (upstream edits
// the built modules; the output stride stays 32).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace cudaseg::nets {

// resnet18 (BasicBlock [2, 2, 2, 2]), resnet50 ([3, 4, 6, 3]) and resnet101
// ([3, 4, 23, 3], Bottleneck): resnet_d.py's builders.
const std::vector<std::string>& resnet_d_types();

// The modules under resnet_d.py's names; SFNet takes them apart as upstream
// does (layer0 = stem(), layer1..layer4) and keeps no ResNetD.
class ResNetD : public nn::Module {
 public:
  ResNetD(const std::string& resnet_type, bool dilated);

  // The stem as SFNet's layer0: Sequential(conv1, bn1, relu, maxpool) of this net's modules.
  std::shared_ptr<nn::Sequential> stem() const;
  // The stem's conv -> bn -> relu chain across its two levels (conv1.6, bn1, relu).
  nn::FusableChain stem_chain() const;
  nn::ModulePtr layer(int i) const { return layers_.at(static_cast<size_t>(i)); }
  const std::array<int64_t, 4>& channels() const { return channels_; }

 private:
  std::shared_ptr<nn::Sequential> conv1_;
  nn::ModulePtr bn1_, relu_, maxpool_;
  std::array<nn::ModulePtr, 4> layers_;
  std::array<int64_t, 4> channels_{};
};

}  // namespace cudaseg::nets
