// SegFormer (Xie et al., "SegFormer: Simple and Efficient Design for Semantic
// Segmentation with Transformers", NeurIPS 2021): a hierarchical Mix
// Transformer encoder (MiT-B0 ... B5: overlapping patch embeddings, efficient
// self-attention with spatial reduction, Mix-FFN with a 3x3 depthwise conv
// instead of positional encodings) and an all-MLP decoder that projects the
// four stage outputs to one width, upsamples them to 1/4 and fuses them.
//
// Mirrors NVlabs/SegFormer @ 65fa8cfa9b52b6ee7e8897a98705abf8570f9e32:
// mmseg/models/backbones/mix_transformer.py (mit_b0 ... mit_b5),
// mmseg/models/decode_heads/segformer_head.py, and the decode-head settings of
// local_configs/segformer/B*/segformer.b*.512x1024.city.160k.py, wrapped as
// mmseg's EncoderDecoder: state_dict keys are those of NVlabs' checkpoints,
// `backbone.*` and `decode_head.*`, including `decode_head.conv_seg`, which
// mmseg's BaseDecodeHead builds and SegFormerHead never uses (kept so
// checkpoints load 1:1; it gets no gradient).
//
// Registry: {"name": "segformer", "backbone": "mit_b0", "num_classes": 19}
// plus, with upstream's defaults, "embed_dim" (decoder width; 0 = the config
// value of the backbone: 256 for mit_b0/b1, 768 for mit_b2..b5), "channels"
// (128, conv_seg's input width), "dropout_ratio" (0.1, Dropout2d before
// linear_pred) and "drop_path_rate" (0.1, stochastic depth, linearly rising
// over all blocks).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/segnet.h"

namespace cudaseg::nets {

// One MiT variant, as mix_transformer.py's mit_bX classes fix it (patch 7/3,
// mlp ratio 4, qkv bias, no dropout in the blocks).
struct MiTConfig {
  std::string name;
  std::array<int64_t, 4> embed_dims, num_heads, depths, sr_ratios;
  int64_t decoder_embed_dim;  // decoder_params.embed_dim of the upstream configs
};
// "mit_b0" ... "mit_b5"; throws listing the variants for another name.
const MiTConfig& mit_config(const std::string& name);
const std::vector<MiTConfig>& mit_configs();

// The encoder's stages, registered on `owner` under upstream's names
// (patch_embed1..4, then block1, norm1, ..., block4, norm4): the children of
// MixVisionTransformer, and the top level of nets whose model class is the
// encoder itself (SEKD's mit_bX, nets/sekd.h).
struct MiTStages {
  std::array<nn::ModulePtr, 4> patch_embed, blocks, norms;
};
// norm_eps: the blocks' and stage outputs' LayerNorm eps (upstream's 1e-6).
MiTStages register_mit_stages(nn::Module& owner, const MiTConfig& config, double drop_path_rate,
                              double norm_eps = 1e-6);
// The four stage outputs (see MixVisionTransformer); `embeds`, when given,
// receives each stage's patch-embedding tokens [N, H_s * W_s, C_s] after
// their LayerNorm (what SEKD distils).
std::vector<Tensor> mit_forward_features(const MiTStages& stages, const Tensor& x,
                                         std::vector<Tensor>* embeds = nullptr);

// SegFormerHead's own layers, registered on `owner`: linear_c4 ... linear_c1
// and linear_fuse (dropout and linear_pred are the caller's, as their place
// in the registration order differs between NVlabs and SEKD).
class SegFormerLinearEmbed;  // upstream's MLP (segformer.cpp)
struct SegFormerFuseLayers {
  std::array<std::shared_ptr<SegFormerLinearEmbed>, 4> linear_c;  // linear_c1 ... linear_c4
  nn::ModulePtr linear_fuse;
};
SegFormerFuseLayers register_segformer_fuse(nn::Module& owner, const std::array<int64_t, 4>& in_channels,
                                            int64_t embed_dim);
// linear_fuse's output [N, E, H/4, W/4]: the projected features resized to
// the first one's size and concatenated as [c4, c3, c2, c1].
Tensor segformer_fuse(const SegFormerFuseLayers& layers, const std::vector<Tensor>& features);

// The encoder (MixVisionTransformer): forward_features gives the four stage
// outputs [N, C_s, H/4, W/4], ..., [N, C_4, H/32, W/32] (convolution floor
// rules: a side of h gives (h - 1) / 4 + 1, then halves rounding up).
class MixVisionTransformer : public nn::Module {
 public:
  MixVisionTransformer(const MiTConfig& config, double drop_path_rate, double norm_eps = 1e-6);
  std::vector<Tensor> forward_features(const Tensor& x);
  const MiTConfig& config() const { return config_; }

 private:
  MiTConfig config_;
  MiTStages stages_;
};

// The all-MLP decoder: logits [N, num_classes, H/4, W/4] from the four features.
class SegFormerHead : public nn::Module {
 public:
  SegFormerHead(const std::array<int64_t, 4>& in_channels, int64_t embed_dim, int64_t channels,
                int64_t num_classes, double dropout_ratio);
  Tensor forward_features(const std::vector<Tensor>& features);

 private:
  SegFormerFuseLayers fuse_;
  std::shared_ptr<nn::Conv2d> linear_pred_;
  nn::ModulePtr dropout_;  // null at dropout_ratio 0, as mmseg
};

class SegFormer : public nn::SegNet {
 public:
  SegFormer(const std::string& backbone, int64_t num_classes, int64_t embed_dim = 0, int64_t channels = 128,
            double dropout_ratio = 0.1, double drop_path_rate = 0.1, double layer_norm_eps = 1e-6);
  // Logits at the input size: the 1/4 head logits resized bilinearly
  // (align_corners false), as mmseg's EncoderDecoder.encode_decode.
  Tensor forward(const Tensor& x) override;
  // {logits at the input size, head logits at 1/4}: the second is what mmseg's
  // decode head returns and its loss resizes to the labels.
  std::vector<Tensor> forward_train(const Tensor& x) override;

  std::shared_ptr<MixVisionTransformer> backbone;
  std::shared_ptr<SegFormerHead> decode_head;
};

}  // namespace cudaseg::nets
