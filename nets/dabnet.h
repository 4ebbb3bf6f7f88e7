// DABNet: "DABNet: Depth-wise Asymmetric Bottleneck for Real-time Semantic
// Segmentation" (Li et al., BMVC 2019, arXiv:1907.11357). Three 3x3 ConvBNActs
// (the first strided), an ENet initial block and a strided ConvBNAct reach
// 1/8; between them, depth-wise asymmetric bottlenecks (a 3x3 ConvBNAct
// halving the channels, then a plain and a dilated pair of depth-wise 3x1 /
// 1x3 ConvBNActs summed, a 1x1 ConvBNAct back, and the residual) with
// dilations 2, then 4, 8, 16. Each stage concatenates its input block and the
// input image average-pooled to its resolution; a 1x1 classifier and bilinear
// (align_corners) upsampling to the input. PReLU (one slope) by default.
//
// Mirrors zh320/realtime-semantic-segmentation-pytorch, models/dabnet.py at
// commit c77b1b697188445c26ef126ff112042c78f4e196 (class DABNet), with its
// module tree and state_dict keys (layer1 .. layer15). Registry name "dabnet":
//   {"name": "dabnet", "num_classes": 19, "n_channel": 3, "act_type": "prelu"}
// Any H, W works: the strided convs and the 3x3 stride-2 average pools (zero
// padding counted) both halve with ceil.
#pragma once

#include <cstdint>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

class DABNet : public nn::SegNet {
 public:
  DABNet(int64_t num_classes, int64_t n_channel = 3, const std::string& act_type = "prelu");

  // Logits [N, num_classes, H, W]; forward_train is nn::SegNet's (no auxiliary outputs upstream).
  Tensor forward(const Tensor& x) override;

 private:
  int64_t n_channel_;
  nn::ModulePtr layer1_, layer2_, layer3_, layer4_, layer5_7_, layer8_, layer9_10_, layer11_12_, layer13_14_,
      layer15_;
};

}  // namespace cudaseg::nets
