// CGNet ("CGNet: A Light-weight Context Guided Network for Semantic
// Segmentation", Wu et al., IEEE TIP 2021, arXiv:1811.08201): a three-stage
// encoder of context guided blocks, each joining a local depth-wise 3x3
// feature with a dilated "surrounding" one, refined by a global channel
// attention (pooled vector -> two Linear layers -> sigmoid) and a global
// residual; the input image, bilinearly downscaled to 1/4 and 1/8, is
// concatenated in front of stages 2 and 3, and a 1x1 conv on the last stage's
// output (concatenated with its first block's) gives the stride-8 logits.
// Mirrors zh320's models/cgnet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "cgnet":
//   {"name": "cgnet", "num_classes": 19, "n_channel": 3, "M": 3, "N": 15, "act_type": "prelu"}
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace cgnet_parts {
class InitBlock;  // defined in cgnet.cpp
}  // namespace cgnet_parts

class CGNet : public nn::SegNet {
 public:
  // M: blocks of stage 2 (its strided block included), N: of stage 3; both >= 2.
  CGNet(int64_t num_classes, int64_t n_channel = 3, int64_t M = 3, int64_t N = 15,
        const std::string& act_type = "prelu");

  // Logits [N, num_classes, H, W] (bilinear, align_corners, from stride 8).
  // As upstream, H and W must be multiples of 8: the input pyramid's
  // floor(H/4), floor(H/8) must equal the strided convs' ceil sizes.
  // forward_train is nn::SegNet's: upstream has no auxiliary outputs.
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<cgnet_parts::InitBlock> stage1_;
  nn::ModulePtr stage2_down_, stage2_, stage3_down_, stage3_, seg_head_;
};

}  // namespace cudaseg::nets
