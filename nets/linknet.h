// LinkNet ("LinkNet: Exploiting Encoder Representations for Efficient
// Semantic Segmentation", Chaurasia and Culurciello, VCIP 2017): a ResNet
// encoder whose four stage outputs are added back into a light decoder
// (1x1 reduction to a quarter of the channels, a stride-2 transposed conv,
// 1x1 expansion per block), then a head of two transposed convs back to the
// input size. Mirrors zh320's models/linknet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "linknet":
//   {"name": "linknet", "num_classes": 19, "n_channel": 3, "backbone_type": "resnet18", "act_type": "relu"}
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"
#include "nets/resnet.h"

namespace cudaseg::nets {

class LinkNet : public nn::SegNet {
 public:
  // backbone_type: one of resnet_types() (upstream refuses anything else).
  // n_channel is accepted as upstream does, which never uses it: the
  // torchvision stem takes 3 channels.
  LinkNet(int64_t num_classes, int64_t n_channel = 3, const std::string& backbone_type = "resnet18",
          const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]; H and W multiples of 32 (each decoder
  // output is added to the encoder stage above it). As upstream, the last
  // DeConvBNAct applies BatchNorm and act_type to the logits.
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<ResNet> backbone_;
  nn::ModulePtr dec_block4_, dec_block3_, dec_block2_, dec_block1_, seg_head_;
};

}  // namespace cudaseg::nets
