// CFPNet ("CFPNet: Channel-wise Feature Pyramid for Real-Time Semantic
// Segmentation", Lou and Loew, ICIP 2021, arXiv:2103.12212): a three-conv
// stem, then two stages of channel-wise feature pyramid (CFP) modules, each
// stage opened by ENet's initial block as a downsampler. A CFP module
// projects to a quarter of its channels and runs K = 4 feature pyramid
// channels at growing dilations in parallel, each a chain of three
// asymmetric (3x1 then 1x3) ConvBNAct pairs whose outputs are concatenated;
// the pyramid channels are summed hierarchically, concatenated, fused by a
// 1x1 ConvBNAct and added to the input. The image, bilinearly downscaled to
// 1/2, 1/4 and 1/8, is concatenated after the stem and after each stage, and
// a 1x1 ConvBNAct (act_type included) gives the stride-8 logits.
// Mirrors zh320's models/cfpnet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "cfpnet":
//   {"name": "cfpnet", "num_classes": 19, "n_channel": 3, "n": 2, "m": 6,
//    "dilations": [2, 2, 4, 4, 8, 8, 16, 16], "act_type": "prelu"}
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

class CFPNet : public nn::SegNet {
 public:
  // n and m: CFP modules of stages 1 and 2; dilations: each module's base
  // dilation rk, n + m of them.
  CFPNet(int64_t num_classes, int64_t n_channel = 3, int64_t n = 2, int64_t m = 6,
         const std::vector<int64_t>& dilations = {2, 2, 4, 4, 8, 8, 16, 16}, const std::string& act_type = "prelu");

  // Logits [N, num_classes, H, W] (bilinear, align_corners, from stride 8).
  // As upstream, H and W must be multiples of 8 (the input pyramid is
  // floor-sized, the strided convs ceil-sized), and the logits went through
  // the head's BatchNorm and act_type. forward_train is nn::SegNet's.
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr conv_init_, downsample1_, cfp1_, downsample2_, cfp2_, seg_head_;
};

}  // namespace cudaseg::nets
