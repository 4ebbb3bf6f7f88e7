// PoolFormer ("MetaFormer Is Actually What You Need for Vision", Yu et al.,
// CVPR 2022): a MetaFormer whose token mixer is plain 3x3 average pooling
// (minus its input), with GroupNorm (one group) and a 1x1-conv MLP, layer-
// scaled residuals, four stages at strides 4, 8, 16, 32. Mirrors the
// `poolformer_*_feat` (fork_feat=True) models of
// nets/FastSegFormer/poolformer.py in github.com/caixiongjiang/FastSegFormer
// (commit 8f673e0), itself sail-sg/poolformer's models/poolformer.py:
// forward_features gives the stage outputs through norm0/2/4/6.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "nn/module.h"

namespace cudaseg::nets {

struct PoolFormerConfig {
  std::string name;  // "s12", "s24", "s36", "m36", "m48"
  std::array<int64_t, 4> layers, embed_dims;
  double layer_scale_init_value;
};
const PoolFormerConfig& poolformer_config(const std::string& name);

class PoolFormer : public nn::Module {
 public:
  explicit PoolFormer(const PoolFormerConfig& config);
  // [norm0(stage 1), norm2(stage 2), norm4(stage 3), norm6(stage 4)].
  std::vector<Tensor> forward_features(const Tensor& x);
  const PoolFormerConfig& config() const { return config_; }

 private:
  PoolFormerConfig config_;
  nn::ModulePtr patch_embed_;
  std::shared_ptr<nn::ModuleList> network_;
  std::array<nn::ModulePtr, 4> norms_;
};

}  // namespace cudaseg::nets
