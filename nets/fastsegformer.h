// FastSegFormer ("FastSegFormer: A knowledge distillation-based method for
// real-time semantic segmentation of surface defects in navel oranges", Cai et
// al., Computers and Electronics in Agriculture 2024): a transformer backbone
// (EfficientFormerV2-S0 for FastSegFormer-E, PoolFormer-S12 for -P) whose 1/32
// features go through MobileNetV2 bottlenecks and a multi-scale pyramid (MSP,
// or a pooling pyramid), are fused with the 1/8 features (FFM) and classified;
// the optional image reconstruction branch (IRB, cnn_branch) adds a conv of
// the input at 112x112 and upsamples to 224x224. Mirrors
// nets/FastSegFormer/fast_segformer.py of github.com/caixiongjiang/FastSegFormer
// (commit 8f673e0), registered as "fastsegformer":
//   {"name": "fastsegformer", "num_classes": 4, "backbone": "efficientformerV2_s0",
//    "Pyramid": "multiscale", "cnn_branch": true}
// As upstream: EfficientFormerV2's attention biases fix its input to 224x224;
// with cnn_branch the logits are 224x224 whatever the input size.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nets/efficientformer_v2.h"
#include "nets/poolformer.h"
#include "nn/segnet.h"

namespace cudaseg::nets {

class FastSegFormer : public nn::SegNet {
 public:
  FastSegFormer(int64_t num_classes, const std::string& backbone = "poolformer_s12",
                const std::string& pyramid = "pooling", bool fork_feat = false, bool cnn_branch = false,
                bool dropout = true);

  Tensor forward(const Tensor& x) override;
  // With fork_feat: {logits, then the distillation features of fork_features()
  // but the logits}, as upstream's forward returns them (logits last there).
  std::vector<Tensor> forward_train(const Tensor& x) override;
  // The fork_feat features are the distillation targets of upstream's
  // train_distillation.py (a teacher's loss, not this net's): a zero-weight term
  // claims them so the trainer does not take them for auxiliary logits.
  std::vector<nn::NetLoss> net_losses(const nn::NetLossOptions& options) const override;

  // Upstream's fork_feat list: backbone features at 1/4, 1/8, 1/16, 1/32, the
  // global feature, the fused feature, [the IRB feature at 112x112,] logits.
  std::vector<Tensor> fork_features(const Tensor& x);

 private:
  std::vector<Tensor> backbone_features(const Tensor& x);

  bool fork_feat_, cnn_branch_;
  std::shared_ptr<EfficientFormerV2> efficientformer_;
  std::shared_ptr<PoolFormer> poolformer_;
  nn::ModulePtr cnn1_, cnn2_, cnn_up_, convert_channel_, global_feature_, classify_;
  std::shared_ptr<nn::Module> ffm_;
};

}  // namespace cudaseg::nets
