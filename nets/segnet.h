// SegNet ("SegNet: A Deep Convolutional Encoder-Decoder Architecture for
// Image Segmentation", Badrinarayanan et al., TPAMI 2017): a VGG16-like
// encoder of five stages (two or three 3x3 ConvBNActs, then a 2x2 max pool
// that keeps its argmax indices) and a mirrored decoder whose stages unpool
// with the matching encoder stage's indices (values back at the positions
// the maxima came from, zeros elsewhere) before their convs; a 3x3 ConvBNAct
// classifier at full resolution. Mirrors zh320's models/segnet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "segnet":
//   {"name": "segnet", "num_classes": 19, "n_channel": 3, "hid_channel": 64, "act_type": "relu"}
#pragma once

#include <array>
#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace segnet_parts {
class DownsampleBlock;  // defined in segnet.cpp
class UpsampleBlock;
}  // namespace segnet_parts

class SegNet : public nn::SegNet {
 public:
  SegNet(int64_t num_classes, int64_t n_channel = 3, int64_t hid_channel = 64, const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]; H and W must be multiples of 32 (every
  // pooled map must unpool back to its stage's size; upstream's unpooling
  // fails otherwise). As upstream, the classifier's ConvBNAct applies
  // act_type to the logits (ReLU by default).
  Tensor forward(const Tensor& x) override;

 private:
  std::array<std::shared_ptr<segnet_parts::DownsampleBlock>, 5> down_;
  std::array<std::shared_ptr<segnet_parts::UpsampleBlock>, 5> up_;  // up_[i] undoes down_[i]
  nn::ModulePtr classifier_;
};

}  // namespace cudaseg::nets
