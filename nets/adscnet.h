// ADSCNet ("ADSCNet: asymmetric depthwise separable convolution for semantic
// segmentation in real-time", Wang et al., Applied Intelligence 2019): an
// encoder of asymmetric depth-wise separable modules (3x1 then 1x3 depth-wise
// convs, each followed by a 1x1 conv; a residual add, or at stride 2 a concat
// with a 3x3 average pool), a densely connected dilated block (DDCC: four
// average-pool + dilated module branches at dilations 3, 5, 9, 13, each fed
// the concatenation of all earlier outputs) at 1/8, and a decoder of
// transposed convs with additive skips at 1/4 and 1/2. No auxiliary outputs.
// Mirrors zh320's models/adscnet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "adscnet":
//   {"name": "adscnet", "num_classes": 19, "n_channel": 3, "act_type": "relu6"}
// As upstream, the DeConvBNAct upsamplers use ReLU whatever act_type is, the
// last one on the logits; ceil(H/2) and ceil(W/2) must be multiples of 4
// (e.g. H, W multiples of 8) for the skips to match, and the logits are
// 2*ceil(H/2) x 2*ceil(W/2).
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

class ADSCNet : public nn::SegNet {
 public:
  explicit ADSCNet(int64_t num_classes, int64_t n_channel = 3, const std::string& act_type = "relu6");

  // forward_train is nn::SegNet's: upstream's training forward is this one.
  Tensor forward(const Tensor& x) override;

 private:
  int64_t n_channel_;
  nn::ModulePtr conv0_, conv1_, conv2_4_, conv5_, ddcc_, up1_, up2_, up3_;
};

}  // namespace cudaseg::nets
