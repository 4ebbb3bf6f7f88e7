// Swin Transformer (Liu et al., "Swin Transformer: Hierarchical Vision
// Transformer using Shifted Windows", ICCV 2021) as FastSegFormer's teacher
// uses it: a 4x4 patch embedding, four stages of window attention (7x7
// windows, a learned relative-position bias; every second block shifts the
// windows by 3 and masks the attention across the wrapped-around regions),
// padding to window multiples, 2x2 patch merging between stages.
//
// Mirrors caixiongjiang/FastSegFormer @ 8f673e0, nets/UNet/swin_transformer.py
// (the WZMIAOMIAO implementation: swin_tiny_patch4_window7_224 and
// swin_small_patch4_window7_224, num_classes 1000, whose avgpool and head
// swinTS_Att_Unet replaces by empty Sequentials, so they hold no tensors).
// Module names are upstream's (patch_embed, layers.i.blocks.j.attn.
// relative_position_bias_table, ..., layers.i.downsample, norm), the int64
// relative_position_index buffers included. The window attention runs
// through fn::scaled_dot_product_attention with the relative-position bias
// and the shift mask (0 / -100) as its additive bias.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace cudaseg::nets {

struct SwinConfig {
  std::string name;
  int64_t embed_dim;
  std::array<int64_t, 4> depths, num_heads;
  int64_t window_size;
};
// "swin_T_224" or "swin_S_224" (swinTS_Att_Unet's backbone names); throws
// listing them for another name.
const SwinConfig& swin_config(const std::string& name);

class SwinTransformer : public nn::Module {
 public:
  SwinTransformer(const SwinConfig& config, double drop_path_rate = 0.1);
  // The three stage outputs before their patch merging and the last stage
  // after `norm`, as feature maps [N, C_s, H_s, W_s] (C = 96, 192, 384, 768
  // for Swin-T; H_1 = ceil(H / 4), then halving rounding up).
  std::vector<Tensor> forward_features(const Tensor& x);
  const SwinConfig& config() const { return config_; }

 private:
  SwinConfig config_;
  nn::ModulePtr patch_embed_;
  std::shared_ptr<nn::ModuleList> layers_;
  nn::ModulePtr norm_;
};

}  // namespace cudaseg::nets
