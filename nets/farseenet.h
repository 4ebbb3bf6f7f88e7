// FarSee-Net ("FarSee-Net: Real-Time Semantic Segmentation by Efficient
// Multi-scale Context Aggregation and Feature Space Super-resolution", Zhang
// et al., ICRA 2020): a torchvision ResNet frontend and the Factorized
// Atrous Spatial Pyramid Pooling backend (FASPP). Pointwise convs plus
// dilated (6, 12, 18) depthwise convs on the stride-32 features are upsampled
// by a sub-pixel conv (conv1x1 + PixelShuffle 2), concatenated with the
// projected stride-16 features, aggregated again (dilations 6, 12) and turned
// into class maps at stride 4 by a second sub-pixel conv (PixelShuffle 4);
// bilinear to the input size. Mirrors zh320's models/farseenet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "farseenet":
//   {"name": "farseenet", "num_classes": 19, "n_channel": 3, "backbone_type": "resnet18", "act_type": "relu"}
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

class ResNet;

namespace farseenet_parts {
class FASPP;  // defined in farseenet.cpp
}  // namespace farseenet_parts

class FarSeeNet : public nn::SegNet {
 public:
  // backbone_type: one of resnet_types(). n_channel is accepted as upstream
  // does, which never uses it (the backbone takes 3).
  FarSeeNet(int64_t num_classes, int64_t n_channel = 3, const std::string& backbone_type = "resnet18",
            const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]. The 2x sub-pixel upsampling of the
  // stride-32 map must meet the stride-16 map, so ceil(H/16) and ceil(W/16)
  // must be even (multiples of 32 are; so is 250x500).
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<ResNet> frontend_network_;
  std::shared_ptr<farseenet_parts::FASPP> backend_network_;
};

}  // namespace cudaseg::nets
