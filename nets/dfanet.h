// DFANet ("DFANet: Deep Feature Aggregation for Real-Time Semantic
// Segmentation", Li et al., CVPR 2019): a light Xception-like encoder
// (stride 16, three stages of separable-conv blocks and a fully-connected
// attention on the globally max-pooled top map) run three times, each later
// backbone re-reading the previous one's stage outputs (sub-network and
// sub-stage aggregation); the decoder sums the first stages of the three
// backbones and the three attention outputs, each through its own head, at
// stride 4. Mirrors zh320's models/dfanet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "dfanet":
//   {"name": "dfanet", "num_classes": 19, "backbone_type": "XceptionA", "expansion": 4,
//    "repeat_times": [4, 6, 4], "use_extra_backbone": true, "act_type": "relu", "n_channel": 3}
#pragma once

#include <array>
#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace dfanet_parts {
class Encoder;  // defined in dfanet.cpp
class Decoder;
}  // namespace dfanet_parts

struct DFANetOptions {
  int64_t num_classes = 1;
  int64_t n_channel = 3;
  std::string backbone_type = "XceptionA";  // or "XceptionB" (narrower)
  int64_t expansion = 4;
  std::array<int64_t, 3> repeat_times = {4, 6, 4};
  bool use_extra_backbone = true;
  std::string act_type = "relu";
};

class DFANet : public nn::SegNet {
 public:
  explicit DFANet(const DFANetOptions& options);

  // Logits [N, num_classes, H, W]. With the extra backbones H and W must be
  // multiples of 64, else the heads' scale-factor resizes disagree (upstream
  // fails in the decoder's sums); without them the stride-16 head is scaled
  // by 16, the input size when H and W are multiples of 16.
  Tensor forward(const Tensor& x) override;

 private:
  DFANetOptions options_;
  nn::ModulePtr conv1_, seg_head_;
  std::shared_ptr<dfanet_parts::Encoder> backbone1_, backbone2_, backbone3_;
  std::shared_ptr<dfanet_parts::Decoder> decoder_;
};

}  // namespace cudaseg::nets
