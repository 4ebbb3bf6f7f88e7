// zh320's models/backbone.py: the four-stage ImageNet encoders a zoo net
// picks by its backbone_type, "mobilenet_v2" (nets/mobilenetv2.h) or a
// resnet_types() name (nets/resnet.h), behind one interface for the nets that
// accept either (CANet, LiteSeg, SwiftNet).
#pragma once

#include <array>
#include <functional>
#include <string>

#include "nn/module.h"

namespace cudaseg::nets {

struct Zh320Backbone {
  nn::ModulePtr module;  // for the net to register under its upstream name ("backbone")
  std::function<std::array<Tensor, 4>(const Tensor&)> features;  // x1..x4, strides 4 to 32
  std::array<int64_t, 4> channels{};
};

Zh320Backbone make_zh320_backbone(const std::string& backbone_type);

}  // namespace cudaseg::nets
