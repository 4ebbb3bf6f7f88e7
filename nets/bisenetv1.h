// BiSeNet ("BiSeNet: Bilateral Segmentation Network for Real-time Semantic
// Segmentation", Yu et al., ECCV 2018): a spatial path of three stride-2
// convs keeps detail at 1/8 while a context path (torchvision ResNet, with
// attention refinement modules on its 1/16 and 1/32 outputs and the global
// average of the 1/32 one) brings context up to 1/8; a feature fusion module
// (concatenation, ConvBNAct, channel attention) joins them before a SegHead.
// Mirrors zh320's models/bisenetv1.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "bisenetv1":
//   {"name": "bisenetv1", "num_classes": 19, "n_channel": 3, "backbone_type": "resnet18", "act_type": "relu"}
// No auxiliary outputs (upstream has none).
#pragma once

#include <memory>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace bisenetv1_parts {
class FeatureFusionModule;  // defined in bisenetv1.cpp
}  // namespace bisenetv1_parts

class BiSeNetv1 : public nn::SegNet {
 public:
  // backbone_type: one of resnet_types(). n_channel feeds the spatial path;
  // the context path's torchvision stem takes 3 channels whatever it says, as upstream.
  BiSeNetv1(int64_t num_classes, int64_t n_channel = 3, const std::string& backbone_type = "resnet18",
            const std::string& act_type = "relu");

  // Logits [N, num_classes, H, W] (SegHead at 1/8, bilinear with
  // align_corners to the input size); H and W multiples of 32 (the context
  // path adds 2x-upsampled 1/32 features to 1/16 ones and is concatenated
  // with the spatial path).
  Tensor forward(const Tensor& x) override;

 private:
  nn::ModulePtr spatial_path_, context_path_, seg_head_;
  std::shared_ptr<bisenetv1_parts::FeatureFusionModule> ffm_;
};

}  // namespace cudaseg::nets
