// torchvision's MobileNetV2 features ("MobileNetV2: Inverted Residuals and
// Linear Bottlenecks", Sandler et al., CVPR 2018; torchvision.models.
// mobilenetv2, width 1.0) as zh320/realtime-semantic-segmentation-pytorch
// splits them into a four-stage backbone (models/backbone.py, class
// Mobilenetv2, commit c77b1b697188445c26ef126ff112042c78f4e196): layer1 =
// features[0:4], layer2 = features[4:7], layer3 = features[7:14], layer4 =
// features[14:18] (the last 1x1 conv to 1280 channels is left out). A
// Sequential slice keeps the original indices, so the state_dict keys are
// layer1.0..3, layer2.4..6, layer3.7..13, layer4.14..17; inside an inverted
// residual, torchvision's conv.0.0 / conv.0.1 (1x1 expansion conv / BN, ReLU6),
// conv.1.* (3x3 depth-wise), conv.2 / conv.3 (linear 1x1 projection / BN),
// one index less for the first block, which does not expand.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "nn/module.h"

namespace cudaseg::nets {

class MobileNetV2 : public nn::Module {
 public:
  MobileNetV2();

  // x1..x4 at strides 4, 8, 16, 32 with 24, 32, 96 and 320 channels.
  std::array<Tensor, 4> forward_features(const Tensor& x) const;
  static constexpr std::array<int64_t, 4> kChannels = {24, 32, 96, 320};

 private:
  std::array<nn::ModulePtr, 4> layers_;
};

}  // namespace cudaseg::nets
