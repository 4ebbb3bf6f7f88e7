// ESPNet ("ESPNet: Efficient Spatial Pyramid of Dilated Convolutions for
// Semantic Segmentation", Mehta et al., ECCV 2018, arXiv:1803.06815). Its
// ESP module reduces the channels with a 1x1 conv, transforms them by K = 5
// parallel 3x3 convs dilated 1, 2, 4, 8, 16, sums the dilated outputs
// hierarchically to avoid gridding and concatenates them. The encoder stacks
// a strided conv and two levels of ESP modules (strides 2, 4, 8); variants
// "espnet-a" (plain stack), "-b" (level skips), "-c" (plus the downscaled
// image concatenated at each level) end with a 1x1 conv and a bilinear
// upsampling, and the full "espnet" adds a decoder of transposed convs, ESP
// modules and projections of the level-1 and level-2 features.
// Mirrors zh320's models/espnet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "espnet":
//   {"name": "espnet", "num_classes": 19, "n_channel": 3, "arch_type": "espnet", "K": 5, "alpha2": 2,
//    "alpha3": 8, "block_channel": [16, 64, 128], "act_type": "prelu"}
// K is accepted at its default only: upstream ignores it (every ESP module
// keeps K = 5). For "espnet-a" block_channel[2] is replaced by
// block_channel[1], as upstream does (upstream writes it into its shared
// default list, so later default-built nets inherit it; here it stays local).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace espnet_parts {
class L2Block;  // defined in espnet.cpp
class Decoder;  // defined in espnet.cpp
}  // namespace espnet_parts

struct ESPNetOptions {
  int64_t num_classes = 1;
  int64_t n_channel = 3;  // 3 where the image is reinforced ("espnet", "espnet-c")
  std::string arch_type = "espnet";
  int64_t alpha2 = 2;  // ESP modules of level 2 after the strided one
  int64_t alpha3 = 8;  // of level 3
  std::vector<int64_t> block_channel = {16, 64, 128};
  std::string act_type = "prelu";
};

class ESPNet : public nn::SegNet {
 public:
  explicit ESPNet(const ESPNetOptions& options);

  // Logits [N, num_classes, H, W]. As upstream, H and W must be multiples of
  // 8 for "espnet" (its decoder doubles the stride-8 map three times and
  // concatenates with the stride-4 and stride-2 features). The full net's
  // logits went through BatchNorm and ReLU (upstream's last DeConvBNAct).
  // forward_train is nn::SegNet's.
  Tensor forward(const Tensor& x) override;

 private:
  ESPNetOptions options_;
  bool reinforce_, use_decoder_;
  nn::ModulePtr l1_block_, l3_block_;
  std::shared_ptr<espnet_parts::L2Block> l2_block_;
  std::shared_ptr<espnet_parts::Decoder> decoder_;
};

}  // namespace cudaseg::nets
