// FSSNet ("Fast Semantic Segmentation for Scene Perception", Zhang et al.,
// IEEE Transactions on Industrial Informatics 2019): an ENet-like
// encoder-decoder. ENet's initial block, residual downsampling blocks (a 2x2
// stride-2 conv branch plus a max-pool + 1x1 branch), factorised (1x3, 3x1)
// and dilated (2, 5, 9) residual bottlenecks at 1/4 and 1/8, then upsampling
// blocks that add a transposed-conv branch to the bilinearly upsampled sum of
// the input and the encoder's matching downsampling output, and a final
// transposed conv to full resolution. No auxiliary outputs. Mirrors zh320's
// models/fssnet.py (github.com/zh320/realtime-semantic-segmentation-pytorch,
// commit c77b1b697188445c26ef126ff112042c78f4e196), registered as "fssnet":
//   {"name": "fssnet", "num_classes": 19, "n_channel": 3, "act_type": "prelu"}
// As upstream, the final DeConvBNAct applies act_type to the logits, and
// ceil(H/2) and ceil(W/2) must be multiples of 4 (e.g. H, W multiples of 8);
// the logits are 2*ceil(H/2) x 2*ceil(W/2).
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace fssnet_parts {
class UpsamplingBlock;  // defined in fssnet.cpp
}  // namespace fssnet_parts

class FSSNet : public nn::SegNet {
 public:
  explicit FSSNet(int64_t num_classes, int64_t n_channel = 3, const std::string& act_type = "prelu");

  // forward_train is nn::SegNet's: upstream's training forward is this one.
  Tensor forward(const Tensor& x) override;

 private:
  int64_t n_channel_;
  nn::ModulePtr init_block_, down1_, factorized_, down2_, dilated_, bottleneck2_, bottleneck1_, full_conv_;
  std::shared_ptr<fssnet_parts::UpsamplingBlock> up2_, up1_;
};

}  // namespace cudaseg::nets
