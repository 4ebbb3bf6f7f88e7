// SQNet ("Speeding up Semantic Segmentation for Autonomous Driving", Treml et
// al., NIPS 2016 MLITS workshop): a SqueezeNet-1.1-style encoder (a strided
// conv, then three max pools each followed by fire modules, stride 16), a
// parallel dilated conv (four dilated 3x3 ConvBNActs, summed) and a decoder of
// transposed convs that double the map, each followed by a bypass refinement
// module fusing the encoder feature of that size (concatenated after its own
// 3x3 conv). ELU throughout by default. Mirrors zh320's models/sqnet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "sqnet":
//   {"name": "sqnet", "num_classes": 19, "n_channel": 3, "act_type": "elu"}
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace sqnet_parts {
class BypassRefinementModule;  // defined in sqnet.cpp
}  // namespace sqnet_parts

class SQNet : public nn::SegNet {
 public:
  explicit SQNet(int64_t num_classes, int64_t n_channel = 3, const std::string& act_type = "elu");

  // Logits [N, num_classes, 2*ceil(H/2), 2*ceil(W/2)]: the stem and the three
  // pools halve rounding up, the four transposed convs double, so each
  // doubled map must meet the encoder map of its size: ceil(H/2) and
  // ceil(W/2) must be multiples of 8 (as upstream, whose concatenation fails
  // otherwise). As upstream, the last transposed conv's BatchNorm and
  // act_type apply to the logits.
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr conv_, pool1_, fire1_, pool2_, fire2_, pool3_, fire3_, pdc_, up1_, up2_, up3_, up4_;
  std::shared_ptr<sqnet_parts::BypassRefinementModule> refine1_, refine2_, refine3_;
};

}  // namespace cudaseg::nets
