// MiniNet: "Enhancing V-SLAM Keyframe Selection with an Efficient ConvNet for
// Semantic Analysis" (Alonso et al., ICRA 2019). Four depth-wise separable
// strided convs to 1/16; there, a branch of factorised depth-wise residual
// modules (1x3 / 3x1, dilations 1, 2, 4, 8, SELU by default) beside a deeper
// branch to 1/64 and back by transposed convs; both are concatenated with the
// 1/16 features and decoded by transposed convs concatenating the encoder's
// maps (U-Net style) up to the input size, the last one giving the logits
// through BatchNorm and act_type, as upstream.
//
// Mirrors zh320/realtime-semantic-segmentation-pytorch, models/mininet.py at
// commit c77b1b697188445c26ef126ff112042c78f4e196 (class MiniNet), with its
// module tree and state_dict keys (down1 .. down4, branch1, branch2_down,
// branch2 (386 channels at 1/64, as upstream), branch2_up, up4 .. up1).
// Registry name "mininet":
//   {"name": "mininet", "num_classes": 19, "n_channel": 3, "act_type": "selu", "dropout": true}
// "dropout" is not an upstream argument: false sets the residual modules'
// Dropout to p = 0 (the golden training step does the same), true keeps
// upstream's 0.25. As upstream, each transposed conv must double back to its
// skip's size: H and W multiples of 64 work.
#pragma once

#include <cstdint>
#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

struct MiniNetOptions {
  int64_t num_classes = 1;
  int64_t n_channel = 3;
  std::string act_type = "selu";
  bool dropout = true;
};

class MiniNet : public nn::SegNet {
 public:
  explicit MiniNet(const MiniNetOptions& options);

  // Logits [N, num_classes, 2*ceil(H/2), 2*ceil(W/2)]; forward_train is nn::SegNet's.
  Tensor forward(const Tensor& x) override;

 private:
  MiniNetOptions options_;
  nn::ModulePtr down1_, down2_, down3_, down4_, branch1_, branch2_down_, branch2_, branch2_up_, up4_, up3_, up2_,
      up1_;
};

}  // namespace cudaseg::nets
