// LiteSeg ("LiteSeg: A Novel Lightweight ConvNet for Semantic Segmentation",
// Emara et al., DICTA 2019): an ImageNet encoder (torchvision MobileNetV2 by
// default, or a ResNet), a Deeper Atrous Spatial Pyramid Pooling (DASPP) on
// its last features -- 1x1 and 3x3 dilated 3, 6, 9 ConvBNActs plus a global
// average branch, concatenated with the input itself and fused by a 1x1
// ConvBNAct -- upsampled to the stride-8 features, concatenated with them and
// classified by two 3x3 ConvBNActs and a 1x1 conv; bilinear to the input size.
// Mirrors zh320's models/liteseg.py (github.com/zh320/realtime-semantic-
// segmentation-pytorch, commit c77b1b697188445c26ef126ff112042c78f4e196),
// registered as "liteseg":
//   {"name": "liteseg", "num_classes": 19, "n_channel": 3, "backbone_type": "mobilenet_v2", "act_type": "relu"}
#pragma once

#include <array>
#include <functional>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

class LiteSeg : public nn::SegNet {
 public:
  // backbone_type: "mobilenet_v2" or one of resnet_types(). n_channel is
  // accepted as upstream does, which never uses it (the backbones take 3).
  LiteSeg(int64_t num_classes, int64_t n_channel = 3, const std::string& backbone_type = "mobilenet_v2",
          const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W] for any H, W >= 1: the DASPP output is
  // resized to the stride-8 features, whatever their sizes.
  Tensor forward(const Tensor& x) override;

 private:
  std::function<std::array<Tensor, 4>(const Tensor&)> features_;
  nn::ModulePtr backbone_, daspp_, seg_head_;
};

}  // namespace cudaseg::nets
