// SFNet ("Semantic Flow for Fast and Accurate Scene Parsing", Li et al., ECCV
// 2020) and SFNet-Lite ("SFNet: Faster and Accurate Semantic Segmentation via
// Semantic Flow", Li et al., IJCV 2023) on the deep-stem ResNet-D
// (nets/resnet_d.h), after lxtGH/SFSegNets (commit ba475ba):
// network/sfnet_resnet.py (AlignNetResNet, UperNetAlignHead,
// UperNetAlignHeadV2) and network/nn/operators.py (PSPModule, SPSPModule,
// AlignedModule, AlignedModulev2, AlignedModulev2PoolingAtten).
//
// The backbone's stages are layer0 (the stem and maxpool) .. layer4; variant
// 'D' dilates layer3's and layer4's conv2 by 2 and 4 at unchanged strides. The
// head is UperNet-like: a pyramid pooling module on layer4, then top-down the
// flow alignment module warps the coarser map onto each lateral map (a 3x3
// conv "flow_make" predicts a 2-channel offset from both, in pixels of the
// finer map; grid_sample, bilinear, zeros padding, align_corners=True) before
// the sum, and the fused pyramid goes through conv_last at stride 4. head_type
// "v2" (SFNet-Lite, ResNet-18 only, as upstream) aligns only layer1 with the
// PPM output by the gated dual flow (both maps warped, a sigmoid gate mixes
// them; fa_type "spatial_atten" computes the gate from channel means and
// maxima) and adds layer3. The logits at stride 4 are resized to the input
// (bilinear, align_corners=True).
//
// Training outputs: the main logits, then with fpn_dsn and head v1 the
// deep-supervision logits of the three pyramid levels (top-down order), each
// resized to the input as CriterionSFNet (loss.py) resizes them before its
// loss. The v2 head builds its dsn but never calls it (upstream returns no
// auxiliary output), so its tensors stay in the state_dict without gradient.
#pragma once

#include <string>

#include "nn/segnet.h"

namespace cudaseg::nets {

struct SFNetOptions {
  std::string trunk = "resnet-18-deep";
  std::string variant = "D";
  std::string head_type = "v1";
  bool fpn_dsn = false;
  std::string fa_type = "spatial";
  std::string global_context = "ppm";
  bool dropout = true;  // false: p = 0 in the PPM's and the dsn's Dropout2d (not upstream's)
};

class SFNet : public nn::SegNet {
 public:
  SFNet(int64_t num_classes, const SFNetOptions& options);
  Tensor forward(const Tensor& x) override;
  std::vector<Tensor> forward_train(const Tensor& x) override;
  std::vector<nn::FusableChain> fusable_chains() const override { return {stem_chain_}; }

 private:
  std::vector<Tensor> run(const Tensor& x, bool with_dsn);

  nn::ModulePtr layer0_, layer1_, layer2_, layer3_, layer4_;
  std::shared_ptr<nn::Module> head_;
  nn::FusableChain stem_chain_;
};

}  // namespace cudaseg::nets
