#include "nets/zh320_backbone.h"

#include <memory>

#include "nets/mobilenetv2.h"
#include "nets/resnet.h"

namespace cudaseg::nets {

Zh320Backbone make_zh320_backbone(const std::string& backbone_type) {
  Zh320Backbone b;
  if (backbone_type == "mobilenet_v2") {
    auto m = std::make_shared<MobileNetV2>();
    b.features = [p = m.get()](const Tensor& x) { return p->forward_features(x); };
    b.channels = MobileNetV2::kChannels;
    b.module = m;
  } else {
    auto m = std::make_shared<ResNet>(backbone_type);
    b.features = [p = m.get()](const Tensor& x) { return p->forward_features(x); };
    b.channels = m->channels();
    b.module = m;
  }
  return b;
}

}  // namespace cudaseg::nets
