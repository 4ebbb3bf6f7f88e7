// EDANet: "Efficient Dense Modules of Asymmetric Convolution for Real-Time
// Semantic Segmentation" (Lo et al., 2018, arXiv:1809.06323). A plain encoder
// at 1/8 built from densely connected EDA modules: each runs a 1x1 reduction
// to k channels and two factorised 3x1 + 1x3 convolution pairs (the second
// dilated, 1..16) and concatenates its k new maps to its input, so the width
// grows by k per module; downsampling blocks concatenate a strided 3x3 conv
// with a 2x2 max pool. A 1x1 projection gives the logits at 1/8, resized
// bilinearly (align_corners) to the input size.
//
// Mirrors zh320/realtime-semantic-segmentation-pytorch, models/edanet.py at
// commit c77b1b697188445c26ef126ff112042c78f4e196 (class EDANet), with the
// same module tree and state_dict keys (stage1, stage2_d, stage2, stage3_d,
// stage3, project). Registry name "edanet":
//   {"name": "edanet", "num_classes": 19, "n_channel": 3, "k": 40, "num_b1": 5, "num_b2": 8,
//    "act_type": "relu"}
// Upstream accepts no other k, num_b1, num_b2: its dilation lists have 5 and
// 8 entries and stage3_d takes 260 = 60 + 5 * 40 channels, so the registry
// offers only those values. As upstream, H and W must be multiples of 4 (the
// downsampling blocks concatenate a conv rounding up with a pool rounding down).
#pragma once

#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

struct EDANetOptions {
  int64_t num_classes = 1;
  int64_t n_channel = 3;  // < 15: the first block concatenates 15 - n_channel conv maps
  int64_t k = 40;         // growth rate of the EDA modules
  int64_t num_b1 = 5, num_b2 = 8;
  std::string act_type = "relu";
};

class EDANet : public nn::SegNet {
 public:
  explicit EDANet(const EDANetOptions& options);

  // The logits [N, num_classes, H, W]; training uses the same forward.
  Tensor forward(const Tensor& x) override;

 private:
  int64_t n_channel_;
  nn::ModulePtr stage1_, stage2_d_, stage2_, stage3_d_, stage3_, project_;
};

}  // namespace cudaseg::nets
