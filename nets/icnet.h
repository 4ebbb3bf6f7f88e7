// ICNet ("ICNet for Real-Time Semantic Segmentation on High-Resolution
// Images", Zhao et al., ECCV 2018): one torchvision ResNet, its layer3 and
// layer4 dilated instead of strided (stride 8), run on the input scaled to
// 1/4 (stride-32 features, pyramid pooling) and to 1/2 (layer2's stride-16
// features); a three-conv branch takes the full input to stride 8; two
// cascade feature fusion units (2x bilinear up, dilated 3x3 ConvBN on the
// coarse map + 1x1 ConvBN on the finer one, sum, activation) merge them
// down to stride 8, and a SegHead at stride 4 gives the logits; bilinear to
// the input size. Each fusion unit has an auxiliary SegHead on its
// upsampled coarse input (use_aux). Mirrors zh320's models/icnet.py
// (github.com/zh320/realtime-semantic-segmentation-pytorch, commit
// c77b1b697188445c26ef126ff112042c78f4e196), registered as "icnet":
//   {"name": "icnet", "num_classes": 19, "n_channel": 3, "backbone_type": "resnet18", "act_type": "relu",
//    "use_aux": true}
// icnet.py's own ResNet wrapper is the shared nets/resnet.h one with
// ResNetOptions: stride 1 and dilation 2 / 4 in the first block of layer3 /
// layer4 only (upstream swaps those convs; the later blocks keep dilation 1).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace icnet_parts {
class CascadeFeatureFusionUnit;  // defined in icnet.cpp
}  // namespace icnet_parts

class ICNet : public nn::SegNet {
 public:
  // backbone_type: resnet18, resnet34, resnet50 or resnet101 (icnet.py's hub).
  ICNet(int64_t num_classes, int64_t n_channel = 3, const std::string& backbone_type = "resnet18",
        const std::string& act_type = "relu", bool use_aux = true);

  // Logits [N, num_classes, H, W]; H and W multiples of 32 (the 1/4 branch's
  // stride-8 map, upsampled 2x, meets the 1/2 branch's).
  Tensor forward(const Tensor& x) override;
  // Upstream's forward(x, is_training=True): {logits, aux of cff42 at 1/16,
  // aux of cff21 at 1/8 of the input (not upsampled)} with use_aux, else {logits}.
  std::vector<Tensor> forward_train(const Tensor& x) override;

 private:
  std::vector<Tensor> run(const Tensor& x, bool with_aux);

  bool use_aux_;
  nn::ModulePtr backbone_, bottom_branch_, ppm_, seg_head_;
  std::shared_ptr<icnet_parts::CascadeFeatureFusionUnit> cff42_, cff21_;
};

}  // namespace cudaseg::nets
