// Lite-HRNet ("Lite-HRNet: A Lightweight High-Resolution Network", Yu et
// al., CVPR 2021): HRNet's parallel multi-resolution streams (strides 4 to
// 32, widths base_ch to 8 base_ch) built from ShuffleNet-like blocks whose
// costly 1x1 convs are replaced by conditional channel weighting: a cross-
// resolution weight computed from all streams pooled to the smallest one
// (nearest-resized back to each stream) and a per-stream spatial weight;
// streams are exchanged by fusion blocks after every module, and the four
// streams, upsampled and concatenated, feed a separable-conv head. Mirrors
// zh320's models/lite_hrnet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "litehrnet":
//   {"name": "litehrnet", "num_classes": 19, "base_ch": 40, "arch_type": "litehrnet18",
//    "repeat": 2, "act_type": "relu", "n_channel": 3}
// arch_type litehrnet18 has 2, 4 and 2 modules in stages 2 to 4, litehrnet30 3, 8 and 3.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace litehrnet_parts {
class StageBlock;  // defined in litehrnet.cpp
class RepresentationHead;
}  // namespace litehrnet_parts

struct LiteHRNetOptions {
  int64_t num_classes = 1;
  int64_t n_channel = 3;
  int64_t base_ch = 40;
  std::string arch_type = "litehrnet18";  // or "litehrnet30"
  int64_t repeat = 2;                     // CCW blocks per stream and module
  std::string act_type = "relu";
};

class LiteHRNet : public nn::SegNet {
 public:
  explicit LiteHRNet(const LiteHRNetOptions& options);

  // Logits [N, num_classes, H, W]; H and W must be multiples of 32 (upstream
  // fails otherwise: the streams are upsampled by powers of two onto each other).
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr stem_, stage1_down_;
  std::vector<std::shared_ptr<litehrnet_parts::StageBlock>> stages_;
  std::shared_ptr<litehrnet_parts::RepresentationHead> rep_head_;
};

}  // namespace cudaseg::nets
