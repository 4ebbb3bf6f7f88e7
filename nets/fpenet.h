// FPENet ("Feature Pyramid Encoding Network for Real-time Semantic
// Segmentation", Liu & Yin, BMVC 2019, arXiv:1909.08599): an encoder of
// feature pyramid encoding blocks (a 1x1 expansion split into four groups,
// each a depth-wise 3x3 conv at dilation 1, 2, 4, 8, summed cumulatively from
// group to group, concatenated and projected back by a 1x1 conv, residual
// when shapes allow) at 1/2, 1/4 and 1/8, and a decoder of two mutual
// embedding upsampling modules (spatial attention from the low-level
// features' channel mean, channel attention from the high-level features'
// global average) back to 1/2, then a 1x1 ConvBNAct classifier and a
// bilinear (align_corners) resize to the input size. No auxiliary outputs.
// Mirrors zh320's models/fpenet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "fpenet":
//   {"name": "fpenet", "num_classes": 19, "n_channel": 3, "p": 3, "q": 9, "k": 4, "act_type": "relu"}
// p and q are the block counts at 1/4 and 1/8, k the expansion. As upstream,
// the classifier applies act_type to the logits, and ceil(H/2) and ceil(W/2)
// must be multiples of 4 (e.g. H, W multiples of 8) for the decoder's x2
// upsampling to meet the skips.
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace fpenet_parts {
class MEUModule;  // defined in fpenet.cpp
}  // namespace fpenet_parts

class FPENet : public nn::SegNet {
 public:
  explicit FPENet(int64_t num_classes, int64_t n_channel = 3, int64_t p = 3, int64_t q = 9, int64_t k = 4,
                  const std::string& act_type = "relu");

  // forward_train is nn::SegNet's: upstream's training forward is this one.
  Tensor forward(const Tensor& x) override;

 private:
  int64_t n_channel_;
  nn::ModulePtr stage1_, stage2_0_, stage2_, stage3_0_, stage3_, final_;
  std::shared_ptr<fpenet_parts::MEUModule> decoder2_, decoder1_;
};

}  // namespace cudaseg::nets
