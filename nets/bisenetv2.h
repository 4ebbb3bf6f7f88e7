// BiSeNet V2 ("BiSeNet V2: Bilateral Network with Guided Aggregation for
// Real-time Semantic Segmentation", Yu et al., IJCV 2021): a wide, shallow
// detail branch (stride 8, 128 channels) and a narrow, deep semantic branch
// (stem, gather-and-expansion layers, context embedding; stride 32) fused by
// the bilateral guided aggregation layer, whose sigmoid maps of each branch
// gate the other's features, then a segmentation head; during training four
// auxiliary heads read the semantic branch after stages 2, 3, 4 and 5.
// Mirrors zh320's models/bisenetv2.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "bisenetv2":
//   {"name": "bisenetv2", "num_classes": 19, "use_aux": true, "act_type": "relu", "n_channel": 3}
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace bisenetv2_parts {
class SemanticBranch;                   // defined in bisenetv2.cpp
class BilateralGuidedAggregationLayer;  // defined in bisenetv2.cpp
}  // namespace bisenetv2_parts

class BiSeNetv2 : public nn::SegNet {
 public:
  explicit BiSeNetv2(int64_t num_classes, int64_t n_channel = 3, const std::string& act_type = "relu",
                     bool use_aux = true);

  // Main logits [N, num_classes, H, W] (bilinear, align_corners, from stride
  // 8 to the input size). H and W must be multiples of 32: the stride-32
  // semantic features are upsampled x4 and multiplied with the stride-8
  // detail features.
  Tensor forward(const Tensor& x) override;
  // Upstream's forward(x, is_training=True): {main, aux2, aux3, aux4, aux5}
  // with use_aux (SegHead logits at strides 4, 8, 16, 32, not upsampled), else {main}.
  std::vector<Tensor> forward_train(const Tensor& x) override;

  bool use_aux() const { return use_aux_; }

 private:
  std::vector<Tensor> run(const Tensor& x, bool with_aux);

  bool use_aux_;
  nn::ModulePtr detail_branch_, seg_head_;
  std::shared_ptr<bisenetv2_parts::SemanticBranch> semantic_branch_;
  std::shared_ptr<bisenetv2_parts::BilateralGuidedAggregationLayer> bga_layer_;
};

}  // namespace cudaseg::nets
