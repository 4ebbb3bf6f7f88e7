// AGLNet: "AGLNet: Towards real-time semantic segmentation of self-driving
// images via attention-guided lightweight network" (Zhou et al., Applied Soft
// Computing 2020). LEDNet's encoder (ENet initial blocks and SS-nbt units to
// 1/8), a factorised attention pyramid module (FAPM: a one-channel pyramid of
// strided 1xk / kx1 ConvBNActs, k = 7, 5, 3, gating the features, plus global
// pooling) and two global attention upsample modules (GAUM: a transposed conv
// of the deeper map, gated by a spatial attention of the stage-2 / stage-1
// skip and by a channel attention), then a 1x1 classifier and bilinear
// (align_corners) upsampling to the input.
//
// Mirrors zh320/realtime-semantic-segmentation-pytorch, models/aglnet.py at
// commit c77b1b697188445c26ef126ff112042c78f4e196 (class AGLNet), with its
// module tree and state_dict keys (layer1 .. layer20). Registry name "aglnet":
//   {"name": "aglnet", "num_classes": 19, "n_channel": 3, "act_type": "relu"}
// As upstream, each GAUM doubles the deeper map exactly and multiplies it
// with the skip, so the ceil-halved sizes must double back: H and W multiples
// of 8 work (100x200 does not: 13 -> 26 against 25).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace aglnet {
class GAUM;
}  // namespace aglnet

class AGLNet : public nn::SegNet {
 public:
  AGLNet(int64_t num_classes, int64_t n_channel = 3, const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]; forward_train is nn::SegNet's (no auxiliary outputs upstream).
  Tensor forward(const Tensor& x) override;

 private:
  int64_t n_channel_;
  nn::ModulePtr layer1_, layer2_4_, layer5_, layer6_7_, layer8_, layer9_16_, layer17_, layer20_;
  std::shared_ptr<aglnet::GAUM> layer18_, layer19_;
};

}  // namespace cudaseg::nets
