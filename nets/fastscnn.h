// Fast-SCNN ("Fast-SCNN: Fast Semantic Segmentation Network", Poudel et al.,
// BMVC 2019): a learning-to-downsample stem (a conv and two depth-wise
// separable convs, stride 8) shared by a high-resolution skip and a global
// feature extractor (MobileNetV2 inverted residuals to stride 32 and a
// pyramid pooling module), fused by adding the upsampled global features to
// the skip, then a light depth-wise separable classifier. No auxiliary
// outputs. Mirrors zh320's models/fastscnn.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "fastscnn":
//   {"name": "fastscnn", "num_classes": 19, "act_type": "relu", "n_channel": 3}
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace fastscnn_parts {
class FeatureFusionModule;  // defined in fastscnn.cpp
}  // namespace fastscnn_parts

class FastSCNN : public nn::SegNet {
 public:
  explicit FastSCNN(int64_t num_classes, int64_t n_channel = 3, const std::string& act_type = "relu");

  // Main logits [N, num_classes, H, W] (bilinear, align_corners, from stride
  // 8 to the input size). Any H, W works: every size follows
  // the strided convs' floor rules. As upstream, the classifier's last
  // PWConvBNAct applies act_type to the logits (ReLU by default).
  // forward_train is nn::SegNet's: upstream's training forward is this one.
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr learning_to_downsample_, global_feature_extractor_, classifier_;
  std::shared_ptr<fastscnn_parts::FeatureFusionModule> feature_fusion_;
};

}  // namespace cudaseg::nets
