// MiniNet-v2 ("MiniNet: An Efficient Semantic Segmentation ConvNet for
// Real-Time Robotic Applications", Alonso et al., IEEE Transactions on
// Robotics 2020): ENet-style downsampling units to 1/4 and 1/8, multi-dilation
// depth-wise separable convs (a 3x3 depth-wise conv plus, where the dilation
// exceeds 1, a dilated one, summed before the point-wise conv) with dilations
// up to 16 at 1/8, a transposed conv back to 1/4 added to a second,
// independent downsampling branch of the image ("ref"), more separable convs
// and a transposed conv to 1/2, resized bilinearly (align_corners) to the
// input size. No auxiliary outputs. Mirrors zh320's models/mininetv2.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "mininetv2":
//   {"name": "mininetv2", "num_classes": 19, "n_channel": 3,
//    "feat_dt": [1,2,1,4,1,8,1,16,1,1,1,2,1,4,1,8], "act_type": "relu"}
// feat_dt gives the dilation of each 1/8 block (one block per entry). As
// upstream, the output DeConvBNAct applies act_type to the logits, and
// ceil(ceil(H/2)/2) and ceil(ceil(W/2)/2) must be even (e.g. H, W multiples
// of 8) for the 1/4 sum to match.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

class MiniNetv2 : public nn::SegNet {
 public:
  MiniNetv2(int64_t num_classes, int64_t n_channel = 3,
            const std::vector<int64_t>& feat_dt = {1, 2, 1, 4, 1, 8, 1, 16, 1, 1, 1, 2, 1, 4, 1, 8},
            const std::string& act_type = "relu");

  // forward_train is nn::SegNet's: upstream's training forward is this one.
  Tensor forward(const Tensor& x) override;

 private:
  int64_t n_channel_;
  nn::ModulePtr d1_2_, ref_, m1_10_, d3_, feature_extractor_, up1_, m26_29_, output_;
};

}  // namespace cudaseg::nets
