// PP-LiteSeg ("PP-LiteSeg: A Superior Real-Time Semantic Segmentation
// Model", Peng et al., 2022): an STDC encoder (nets/stdc_backbone.h), the
// Simple Pyramid Pooling Module (SPPM) on the stride-32 features, and the
// Flexible Lightweight Decoder (FLD) whose Unified Attention Fusion Modules
// (UAFM, spatial or channel attention) mix upsampled deep features with the
// stride-16 and stride-8 ones. Mirrors zh320's models/pp_liteseg.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), not Paddle's original (its STDC
// module, SPPM and decoder widths differ; PaddleSeg's is nets/ppliteseg_paddle.h).
// Registered as "ppliteseg":
//   {"name": "ppliteseg", "num_classes": 19, "encoder_type": "stdc1" | "stdc2",
//    "encoder_channels": [32, 64, 256, 512, 1024], "fusion_type": "spatial" | "channel",
//    "act_type": "relu", "n_channel": 3}
// Decoder widths: stdc1 [32, 64, 128], stdc2 [64, 96, 128] (x32 -> x8).
#pragma once

#include <array>
#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace ppliteseg_parts {
class Encoder;
class FLD;
}  // namespace ppliteseg_parts

class PPLiteSeg : public nn::SegNet {
 public:
  PPLiteSeg(int64_t num_classes, int64_t n_channel = 3,
            const std::array<int64_t, 5>& encoder_channels = {32, 64, 256, 512, 1024},
            const std::string& encoder_type = "stdc1", const std::string& fusion_type = "spatial",
            const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W] (bilinear, align_corners, to the input
  // size); any H, W whose stride-32 map is non-empty. Upstream has no extra
  // training outputs, so forward_train() is {forward(x)}.
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<ppliteseg_parts::Encoder> encoder_;
  nn::ModulePtr sppm_;
  std::shared_ptr<ppliteseg_parts::FLD> decoder_;
};

}  // namespace cudaseg::nets
