// StrideFormer, the backbone of PP-MobileSeg ("PP-MobileSeg: Explore the Fast
// and Accurate Semantic Segmentation Model on Mobile Devices", Tang et al.,
// 2023): four stages of MobileNetV3 residual units (expand 1x1, depth-wise
// kxk, optional squeeze-excitation with a hard sigmoid, linear 1x1; ReLU or
// hard-swish) give features at 1/8, 1/16 and 1/32; the last two stages are
// followed by blocks of strided SeaAttention (squeeze-enhanced axial
// attention run at half the stage's resolution: a row and a column attention
// over averaged queries and keys with resized axial position embeddings, a
// depth-wise detail branch gating the result) and a conv MLP; an Aggregated
// Attention Module (AAM, or AAMSx8 keeping the 1/8 resolution) fuses the three
// features into one 256-channel map. Mirrors
// projects/pp_mobileseg/backbones/strideformer.py of open-mmlab/mmsegmentation
// (commit 73e979b), the mmseg port of PaddleSeg's original, with its module
// names (mmcv ConvModules: `conv`, `bn`, `activate`).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "nn/module.h"

namespace cudaseg::nets {

// One residual unit of upstream's mobileV3_cfg: [k, exp, c, se, act, s].
struct MV3UnitConfig {
  int64_t kernel_size, expand, channels;
  bool use_se;
  std::string act;  // "ReLU" or "HSwish"
  int64_t stride;
};

struct StrideFormerConfig {
  std::vector<std::vector<MV3UnitConfig>> mobileV3_cfg;
  std::vector<int64_t> channels, embed_dims, depths;
  std::vector<int64_t> key_dims{16, 24};
  int64_t num_heads = 8;
  int64_t attn_ratios = 2;
  std::vector<int64_t> mlp_ratios{2, 4};
  double drop_path_rate = 0.1;
  std::string act = "ReLU6";     // act_cfg of the attention blocks
  std::string inj_type = "AAM";  // "AAM" (output at 1/16) or "AAMSx8" (1/8)
  int64_t out_channels = 256;
  std::vector<int64_t> out_feat_chs;
  bool stride_attention = true;
};

// mmseg's configs: "base" (configs/_base_/models/pp_mobile.py) and "tiny"
// (pp_mobileseg_mobilenetv3_2x16_80k_ade20k_512x512_tiny.py).
StrideFormerConfig pp_mobileseg_backbone_config(const std::string& variant);

class StrideFormer : public nn::Module {
 public:
  explicit StrideFormer(const StrideFormerConfig& config);
  // The AAM output: [N, out_channels, H/16 (AAM) or H/8 (AAMSx8), ...].
  Tensor forward(const Tensor& x) override;
  // [1/8 feature, trans1 output (1/16), trans2 output (1/32)].
  std::vector<Tensor> features(const Tensor& x);
  const StrideFormerConfig& config() const { return config_; }

 private:
  StrideFormerConfig config_;
  std::vector<nn::ModulePtr> smb_, trans_;
  nn::ModulePtr inj_module_;
};

}  // namespace cudaseg::nets
