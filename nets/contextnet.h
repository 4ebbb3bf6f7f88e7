// ContextNet ("ContextNet: Exploring Context and Detail for Semantic
// Segmentation in Real-time", Poudel et al., BMVC 2018): two branches over
// the same image, a shallow full-resolution one (a strided conv and three
// depth-wise / point-wise pairs, stride 2) for detail and a deep one on the
// image resized to 1/4 (MobileNetV2 inverted residuals, stride 8 of that, so
// 1/32) for context, fused by adding the upsampled context's dilated
// depth-wise separable conv to the detail's 1x1 conv; a 1x1 classifier and a
// bilinear resize to the input. Mirrors zh320's models/contextnet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "contextnet":
//   {"name": "contextnet", "num_classes": 19, "n_channel": 3, "act_type": "relu"}
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace contextnet_parts {
class FeatureFusion;  // defined in contextnet.cpp
}  // namespace contextnet_parts

class ContextNet : public nn::SegNet {
 public:
  explicit ContextNet(int64_t num_classes, int64_t n_channel = 3, const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]. Any H, W works: the 1/4 image is
  // floor-sized, every strided conv floors, and both resizes go to sizes
  // taken from the tensors. As upstream, the classifier's ConvBNAct applies
  // act_type to the logits (ReLU by default).
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr full_res_branch_, lower_res_branch_, classifier_;
  std::shared_ptr<contextnet_parts::FeatureFusion> feature_fusion_;
};

}  // namespace cudaseg::nets
