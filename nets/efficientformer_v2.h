// EfficientFormerV2 ("Rethinking Vision Transformers for MobileNet Size and
// Speed", Li et al., ICCV 2023): a convolutional stem, four stages of
// FFN blocks (1x1 conv, depth-wise 3x3, 1x1 conv, each with BatchNorm,
// layer-scaled residuals), multi-head attention with learned position biases
// and talking heads in the last blocks of stages 3 and 4 (stage 3 attends at
// half resolution), and an attention-based downsampling before stage 4.
// Mirrors the `*_feat` (fork_feat=True) factories of
// nets/FastSegFormer/efficientformer_v2.py in github.com/caixiongjiang/FastSegFormer
// (commit 8f673e0), itself snap-research/EfficientFormer's
// models/efficientformer_v2.py: forward_features gives the stage outputs
// through norm0/2/4/6 at strides 4, 8, 16, 32.
//
// The attention biases are tables indexed by a fixed grid (`resolution`, 224
// upstream): the net only takes inputs of that size, and every other size is
// refused (upstream fails in a reshape).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "nn/module.h"

namespace cudaseg::nets {

struct EfficientFormerV2Config {
  std::string name;  // "s0", "s1", "s2", "l"
  std::array<int64_t, 4> widths, depths;
  std::array<std::vector<int64_t>, 4> e_ratios;
  int64_t vit_num;
};
const EfficientFormerV2Config& efficientformerv2_config(const std::string& name);

class EfficientFormerV2 : public nn::Module {
 public:
  explicit EfficientFormerV2(const EfficientFormerV2Config& config, int64_t resolution = 224);
  // [norm0(stage 1), norm2(stage 2), norm4(stage 3), norm6(stage 4)].
  std::vector<Tensor> forward_features(const Tensor& x);
  const EfficientFormerV2Config& config() const { return config_; }
  int64_t resolution() const { return resolution_; }

 private:
  EfficientFormerV2Config config_;
  int64_t resolution_;
  nn::ModulePtr patch_embed_;
  std::shared_ptr<nn::ModuleList> network_;
  std::array<nn::ModulePtr, 4> norms_;
};

}  // namespace cudaseg::nets
