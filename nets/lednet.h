// LEDNet: "LEDNet: A Lightweight Encoder-Decoder Network for Real-Time
// Semantic Segmentation" (Wang et al., ICIP 2019, arXiv:1905.02423). An
// encoder of split-shuffle-non-bottleneck (SS-nbt) units: each splits its
// channels in two halves, runs factorised 3x1 / 1x3 convs (the second pair
// dilated) on each half in transposed order, adds the concatenation to its
// input and shuffles the channels; three ENet initial blocks downsample to
// 1/8. The decoder is an attention pyramid network: a three-level stride-2
// pyramid, merged top-down, multiplies a 3x3 ConvBNAct of the features, and
// a global-pooling branch is added. Bilinear (align_corners) to the input.
//
// Mirrors zh320/realtime-semantic-segmentation-pytorch, models/lednet.py at
// commit c77b1b697188445c26ef126ff112042c78f4e196 (class LEDNet), with its
// module tree and state_dict keys (encoder.<i>, apn.*). Registry name "lednet":
//   {"name": "lednet", "num_classes": 19, "n_channel": 3, "act_type": "relu"}
// Any H, W works: every stride halves with ceil, and the pyramid is merged by
// size. As upstream, every APN branch ends in act_type, so with ReLU the
// logits are >= 0.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace lednet {

// SSnbtUnit(channels, dilation, act_type), which AGLNet reuses: children
// left_branch / right_branch (Sequentials of plain biased convs, Activations
// and ConvBNActs) and act.
class SSnbtUnit : public nn::Module {
 public:
  SSnbtUnit(int64_t channels, int64_t dilation, const std::string& act_type);
  Tensor forward(const Tensor& x) override;

 private:
  int64_t split_channels_;
  nn::ModulePtr left_branch_, right_branch_, act_;
};

}  // namespace lednet

class LEDNet : public nn::SegNet {
 public:
  LEDNet(int64_t num_classes, int64_t n_channel = 3, const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]; forward_train is nn::SegNet's (no auxiliary outputs upstream).
  Tensor forward(const Tensor& x) override;

 private:
  int64_t n_channel_;
  nn::ModulePtr encoder_, apn_;
};

}  // namespace cudaseg::nets
