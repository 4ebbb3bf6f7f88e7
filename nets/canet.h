// CANet ("Cross Attention Network for Semantic Segmentation", Liu et al.,
// ICIP 2019): a shallow spatial branch (three stride-2 ConvBNActs, stride 8)
// and a context branch (an ImageNet encoder, MobileNetV2 or a torchvision
// ResNet, whose stride-32 and stride-16 features two transposed convs bring
// to stride 8) meet in a feature cross attention module: the concatenation
// is fused by a ConvBNAct and weighted by a spatial attention map computed
// from the spatial branch and a channel attention vector computed from the
// context branch (shared Linear on the global max and average), plus a
// residual; a ConvBNAct to the classes and an 8x transposed conv (k15 s8,
// BatchNorm, ReLU) give the logits. Mirrors zh320's models/canet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "canet":
//   {"name": "canet", "num_classes": 19, "n_channel": 3, "backbone_type": "mobilenet_v2", "act_type": "relu"}
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace canet_parts {
class FeatureCrossAttentionModule;  // defined in canet.cpp
}  // namespace canet_parts

class CANet : public nn::SegNet {
 public:
  // backbone_type: "mobilenet_v2" or one of resnet_types(). n_channel feeds
  // the spatial branch only (the encoders take 3, as upstream).
  CANet(int64_t num_classes, int64_t n_channel = 3, const std::string& backbone_type = "mobilenet_v2",
        const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]; H and W multiples of 32 (the stride-16
  // features are concatenated with the 2x-upsampled stride-32 ones, and the
  // spatial branch's stride-8 map meets the context branch's). As upstream,
  // the logits leave the last transposed conv through BatchNorm and ReLU.
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr spatial_branch_, context_branch_, up_;
  std::shared_ptr<canet_parts::FeatureCrossAttentionModule> fca_;
};

}  // namespace cudaseg::nets
