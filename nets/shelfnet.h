// ShelfNet ("ShelfNet for Fast Semantic Segmentation", Zhuang et al., ICCV
// Workshops 2019): a torchvision ResNet whose four stages are projected by 1x1
// ConvBNActs (column 1), then a decoder column (SBlocks and 2x transposed
// convs, coarse to fine), an encoder column (SBlocks and stride-2 ConvBNActs,
// fine to coarse) and a second decoder column; each SBlock adds the lateral
// input of its row to the vertical one and runs a residual pair of 3x3
// ConvBNActs. A 1x1 classifier on the finest row, bilinear to the input size.
// Mirrors zh320's models/shelfnet.py (github.com/zh320/realtime-semantic-
// segmentation-pytorch, commit c77b1b697188445c26ef126ff112042c78f4e196),
// registered as "shelfnet":
//   {"name": "shelfnet", "num_classes": 19, "n_channel": 3, "backbone_type": "resnet18",
//    "hid_channels": [32, 64, 128, 256], "act_type": "relu"}
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

class ResNet;

namespace shelfnet_parts {
class DecoderBlock;  // defined in shelfnet.cpp
class EncoderBlock;
}  // namespace shelfnet_parts

class ShelfNet : public nn::SegNet {
 public:
  // backbone_type: one of resnet_types(); hid_channels: the four rows'
  // channels, finest first. n_channel is accepted as upstream does, which
  // never uses it (the backbone takes 3).
  ShelfNet(int64_t num_classes, int64_t n_channel = 3, const std::string& backbone_type = "resnet18",
           const std::vector<int64_t>& hid_channels = {32, 64, 128, 256}, const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]. Each decoder adds a 2x upsampled row to
  // the one above, so every backbone stage must be exactly twice the next:
  // ceil(H/4) and ceil(W/4) multiples of 8 (H and W multiples of 32 are).
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<ResNet> backbone_;
  nn::ModulePtr conv_a_, conv_b_, conv_c_, conv_d_, classifier_;
  std::shared_ptr<shelfnet_parts::DecoderBlock> decoder2_, decoder4_;
  std::shared_ptr<shelfnet_parts::EncoderBlock> encoder3_;
};

}  // namespace cudaseg::nets
