// ImageNet initialisation of a net's torchvision backbone, what upstream's
// `pretrained=True` does: the net's one nets::ResNet or nets::MobileNetV2
// module takes its tensors from a torchvision state_dict, read from the
// user's file (torchvision's resnet18-f37072fd.pth, mobilenet_v2-b0353104.pth,
// ..., or any file load_tensors reads with those keys); nothing is
// downloaded. The run config names it as train.backbone_weights.
//
// Keys are torchvision's: a ResNet's are its own (conv1.weight,
// layer1.0.bn1.running_mean, ...); MobileNetV2's features.N.* are zh320's
// layerK.N.* (features 0-3 in layer1, 4-6 in layer2, 7-13 in layer3, 14-17 in
// layer4). The ImageNet classifier (fc.*, classifier.*) and MobileNetV2's
// last 1x1 conv (features.18.*), which the backbones do not have, are
// skipped. Everything else must match: a backbone tensor missing from the
// file, a file tensor with no place in the backbone, or a shape mismatch is
// one error listing every one of them. Floating tensors of another
// precision are converted.
#pragma once

#include <cstdint>
#include <string>

#include "nn/module.h"

namespace cudaseg::weights {

struct BackboneInit {
  std::string module;    // where the backbone is in the net, e.g. "backbone"
  std::string type;      // "ResNet" or "MobileNetV2"
  int64_t copied = 0;    // tensors copied into it
  int64_t skipped = 0;   // ImageNet head tensors of the file left out (classifier, features.18)
};

BackboneInit load_backbone_weights(nn::Module& net, const std::string& path);

}  // namespace cudaseg::weights
