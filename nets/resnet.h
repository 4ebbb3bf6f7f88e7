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
//
// segmentation_models_pytorch's ResNetEncoder (encoders/resnet.py) is the same
// torchvision ResNet; its DeepLabV3, DeepLabV3+ and PAN dilate the last stages
// by EncoderMixin.make_dilated (output_stride 16: layer4 dilation 2; 8:
// layer3 dilation 2, layer4 dilation 4): every conv of a dilated stage gets
// stride 1 and that one dilation, padding (k // 2) * dilation. That is not
// torchvision's replace_stride_with_dilation, whose first block of a dilated
// stage keeps the previous dilation.
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
// smp's make_dilated is `dilations`: every 3x3 conv of the layer.
struct ResNetOptions {
  std::array<int64_t, 4> strides{1, 2, 2, 2};
  std::array<int64_t, 4> first_dilations{1, 1, 1, 1};  // also the padding of that 3x3 conv
  std::array<int64_t, 4> dilations{1, 1, 1, 1};        // every other 3x3 conv of the layer too
};

// smp's output_stride 32 (torchvision's net), 16 or 8, as options.
ResNetOptions smp_output_stride(int64_t output_stride);

// One residual block with torchvision's names (conv1, bn1, conv2, bn2[, conv3,
// bn3], downsample.0/.1 when the stride or the width changes): a BasicBlock
// strides its first 3x3 conv, which takes `dilation`, its second takes `rest`;
// a Bottleneck strides and dilates its 3x3 conv2 by `stride`, `dilation`.
// Padding is (k // 2) * dilation. Also the blocks of resnet_d.h.
nn::ModulePtr resnet_block(bool bottleneck, int64_t in_channels, int64_t planes, int64_t stride, int64_t dilation,
                           int64_t rest);

class ResNet : public nn::Module {
 public:
  explicit ResNet(const std::string& resnet_type, const ResNetOptions& options = {});

  // x1..x4: layer1..layer4 outputs at strides 4, 8, 16, 32 with the default
  // options (each conv and pool floors, so any H, W >= 1 runs; multiples of
  // 32 keep the maps aligned; a dilated stage keeps its input's stride).
  std::array<Tensor, 4> forward_features(const Tensor& x) const;
  // smp's encoder features after the input: the stem output (relu, stride 2,
  // 64 channels, before maxpool), then layer1..layer<depth> (depth 1..4); the
  // layers past depth do not run (smp's PSPNet uses depth 3 and never
  // trains layer3 and layer4, which stay in the state_dict).
  std::vector<Tensor> forward_stages(const Tensor& x, int64_t depth = 4) const;
  // Output channels of layer1..layer4: 64..512 (BasicBlock), 256..2048 (Bottleneck).
  const std::array<int64_t, 4>& channels() const { return channels_; }

  std::vector<nn::FusableChain> fusable_chains() const override;

 private:
  std::vector<Tensor> stages(const Tensor& x, int64_t depth) const;

  std::array<int64_t, 4> channels_{};
  nn::ModulePtr conv1_, bn1_, relu_, maxpool_;
  std::array<nn::ModulePtr, 4> layers_;
};

}  // namespace cudaseg::nets
