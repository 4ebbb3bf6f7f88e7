// torchvision's ResNet ("Deep Residual Learning for Image Recognition", He et
// al., CVPR 2016; torchvision.models.resnet, the v1.5 variant that strides the
// bottleneck's 3x3 conv) as the backbone of zh320/realtime-semantic-
// segmentation-pytorch's nets (models/backbone.py, class ResNet, commit
// c77b1b697188445c26ef126ff112042c78f4e196): the stem (conv1, bn1, relu,
// maxpool) and layer1..layer4, returning the four stage outputs (strides 4,
// 8, 16, 32). Module names are torchvision's state_dict keys (conv1, bn1,
// layerK.i.conv1/bn1/conv2/bn2[/conv3/bn3]/downsample.0/.1); torchvision's
// avgpool and fc are not part of the backbone, so a torchvision checkpoint's
// fc.* tensors are simply not backbone tensors.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace cudaseg::nets {

// The resnet_type names zh320's ResNet accepts: resnet18, resnet34 (BasicBlock)
// and resnet50, resnet101, resnet152 (Bottleneck).
const std::vector<std::string>& resnet_types();

// Where the nets that reshape torchvision's ResNet differ from it, each only
// in the first block of a layer (its 3x3 conv and its downsample), so the
// state_dict keys stay torchvision's: FANet strides layer1 by 2 (which gives
// that block a downsample), ICNet's own wrapper (icnet.py) turns layer3's and
// layer4's stride 2 into dilation 2 and 4 in that block alone.
struct ResNetOptions {
  std::array<int64_t, 4> strides{1, 2, 2, 2};
  std::array<int64_t, 4> first_dilations{1, 1, 1, 1};  // also the padding of that 3x3 conv
};

class ResNet : public nn::Module {
 public:
  explicit ResNet(const std::string& resnet_type, const ResNetOptions& options = {});

  // x1..x4: layer1..layer4 outputs at strides 4, 8, 16, 32 with the default
  // options (each conv and pool floors, so any H, W >= 1 runs; multiples of
  // 32 keep the maps aligned).
  std::array<Tensor, 4> forward_features(const Tensor& x) const;
  // Output channels of layer1..layer4: 64..512 (BasicBlock), 256..2048 (Bottleneck).
  const std::array<int64_t, 4>& channels() const { return channels_; }

  std::vector<nn::FusableChain> fusable_chains() const override;

 private:
  std::array<int64_t, 4> channels_{};
  nn::ModulePtr conv1_, bn1_, relu_, maxpool_;
  std::array<nn::ModulePtr, 4> layers_;
};

}  // namespace cudaseg::nets
