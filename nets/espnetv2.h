// ESPNetv2 ("ESPNetv2: A Light-weight, Power Efficient, and General Purpose
// Convolutional Neural Network", Mehta et al., CVPR 2019, arXiv:1811.11431).
// Its EESP unit reduces the channels with a grouped 1x1 conv (4 groups), runs
// four depth-wise separable 3x3 branches dilated 1, 2, 4, 8, sums them
// hierarchically, concatenates and expands with a grouped 1x1 conv, and adds
// its input; a strided unit instead concatenates the average-pooled input and
// adds a projection of the image downscaled to its size. Here (as zh320) the
// stride-16 and stride-8 features are merged and segmented by a pyramid
// pooling module and a SegHead.
// Mirrors zh320's models/espnetv2.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "espnetv2":
//   {"name": "espnetv2", "num_classes": 19, "n_channel": 3, "K": 4, "alpha3": 3, "alpha4": 7, "act_type": "prelu"}
// K is accepted at its default only: upstream ignores it (every EESP unit has 4 branches).
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace espnetv2_parts {
class EESPModule;  // defined in espnetv2.cpp
}  // namespace espnetv2_parts

class ESPNetv2 : public nn::SegNet {
 public:
  // alpha3, alpha4: unstrided EESP units of levels 3 and 4.
  ESPNetv2(int64_t num_classes, int64_t n_channel = 3, int64_t alpha3 = 3, int64_t alpha4 = 7,
           const std::string& act_type = "prelu");

  // Logits [N, num_classes, H, W] (bilinear, align_corners, from stride 8).
  // Any H, W works: the image pyramid uses the same 3x3 stride-2 floor rule
  // as the strided units. forward_train is nn::SegNet's.
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr pool_, l1_block_, l3_block2_, l4_block2_, convl4_l3_, ppm_, decoder_;
  std::shared_ptr<espnetv2_parts::EESPModule> l2_block_, l3_block1_, l4_block1_;
};

}  // namespace cudaseg::nets
