// SwiftNet ("In Defense of Pre-trained ImageNet Architectures for Real-time
// Semantic Segmentation of Road-driving Images", Oršić et al., CVPR 2019):
// an ImageNet encoder (torchvision ResNet or MobileNetV2), spatial pyramid
// pooling on its stride-32 output and a ladder-style decoder that upsamples
// 2x and adds 1x1-projected encoder features at strides 16, 8 and 4, each sum
// followed by a 3x3 ConvBNAct; bilinear to the input size. Mirrors zh320's
// models/swiftnet.py (github.com/zh320/realtime-semantic-segmentation-pytorch,
// commit c77b1b697188445c26ef126ff112042c78f4e196), registered as "swiftnet":
//   {"name": "swiftnet", "num_classes": 19, "n_channel": 3, "backbone_type": "resnet18",
//    "up_channels": 128, "act_type": "relu"}
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace swiftnet_parts {
class Decoder;  // defined in swiftnet.cpp
}  // namespace swiftnet_parts

class SwiftNet : public nn::SegNet {
 public:
  // backbone_type: one of resnet_types() or "mobilenet_v2". n_channel is
  // accepted as upstream does, which never uses it (the backbones take 3).
  SwiftNet(int64_t num_classes, int64_t n_channel = 3, const std::string& backbone_type = "resnet18",
           int64_t up_channels = 128, const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W]; H and W multiples of 32 (each 2x
  // upsampled map is added to the encoder stage above it). As upstream, the
  // last decoder ConvBNAct applies act_type before the final resize.
  Tensor forward(const Tensor& x) override;

 private:
  std::function<std::array<Tensor, 4>(const Tensor&)> features_;
  nn::ModulePtr backbone_, connection1_, connection2_, connection3_, spp_;
  std::shared_ptr<swiftnet_parts::Decoder> decoder_;
};

}  // namespace cudaseg::nets
