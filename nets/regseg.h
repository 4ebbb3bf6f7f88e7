// RegSeg ("Rethinking Dilated Convolution for Real-time Semantic
// Segmentation", Gao, 2021): a backbone of D blocks (RegNet-style Y blocks
// whose grouped 3x3 conv is split in two halves with their own dilations,
// squeeze-and-excitation, a residual; stride-2 blocks shortcut through a 2x2
// average pool and a 1x1 conv) down to 1/32, with the dilation pairs of the
// 1/16 stage configurable, and a light decoder fusing 1/32, 1/8 and 1/4 into
// 1/4 logits resized to the input. Mirrors zh320's models/regseg.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "regseg":
//   {"name": "regseg", "num_classes": 19, "n_channel": 3, "act_type": "relu",
//    "dilations": [[1,1], [1,2], [1,2], [1,3], [2,3], [2,7], [2,3], [2,6], [2,5], [2,9], [2,11], [4,7], [5,14]]}
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace regseg_parts {
class Decoder;  // defined in regseg.cpp
}  // namespace regseg_parts

class RegSeg : public nn::SegNet {
 public:
  // The dilation pairs (r1, r2) of stage_d16's twelve stride-1 blocks, then
  // a thirteenth pair that upstream passes to the last, stride-2, block,
  // which has no dilated convs (so it is checked but unused), as upstream.
  using Dilations = std::vector<std::array<int64_t, 2>>;
  static Dilations default_dilations();

  RegSeg(int64_t num_classes, int64_t n_channel = 3, const Dilations& dilations = default_dilations(),
         const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]; H and W must be multiples of 32: each
  // stride-2 block adds a 3x3 stride-2 conv (rounding up) to a 2x2 average
  // pool (rounding down), which agree only on even maps (upstream fails
  // otherwise). As upstream, the logits leave a bias-free 1x1 conv at 1/4,
  // resized bilinearly (align_corners) to the input.
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr conv_init_, stage_d4_, stage_d8_, stage_d16_;
  std::shared_ptr<regseg_parts::Decoder> decoder_;
};

}  // namespace cudaseg::nets
