// STDC-Seg ("Rethinking BiSeNet For Real-time Semantic Segmentation", Fan et
// al., CVPR 2021): the STDC encoder (nets/stdc_backbone.h) with BiSeNetV1's
// attention refinement modules on the stride-16/32 features, a feature
// fusion module with the stride-8 features, and a segmentation head; during
// training either three auxiliary heads (stages 3, 4, 5) or a detail head on
// stage 3 supervised by Laplacian edge targets. Mirrors zh320's
// models/stdc.py (github.com/zh320/realtime-semantic-segmentation-pytorch,
// commit c77b1b697188445c26ef126ff112042c78f4e196), registered as "stdc":
//   {"name": "stdc", "num_classes": 19, "encoder_type": "stdc1" | "stdc2",
//    "use_aux": false, "use_detail_head": false, "act_type": "relu", "n_channel": 3}
// use_aux and use_detail_head are exclusive, as upstream asserts. The detail
// loss of zh320's trainer (core/seg_trainer.py, core/loss.py DetailLoss) is
// here too: the net contributes it through nn::SegNet::net_losses.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/segnet.h"
#include "nets/stdc_backbone.h"

namespace cudaseg::nets {

namespace stdc_parts {
class FeatureFusionModule;  // BiSeNetV1's, defined in stdc.cpp
}  // namespace stdc_parts

class STDC : public nn::SegNet {
 public:
  STDC(int64_t num_classes, int64_t n_channel = 3, const std::string& encoder_type = "stdc1",
       bool use_detail_head = false, bool use_aux = false, const std::string& act_type = "relu");

  // Main logits [N, num_classes, H, W] (bilinear, align_corners, to the input
  // size). H and W must be multiples of 32: the stride-32 features are
  // upsampled x2 twice and added to / concatenated with stride 16 and 8.
  Tensor forward(const Tensor& x) override;
  // Upstream's forward(x, is_training=True): {main, aux3, aux4, aux5} with
  // use_aux (aux logits at strides 8, 16, 32, not upsampled), {main, detail}
  // with use_detail_head (detail logits [N, 1, H/8, W/8], not upsampled), else {main}.
  std::vector<Tensor> forward_train(const Tensor& x) override;

  bool use_aux() const { return use_aux_; }
  bool use_detail_head() const { return use_detail_head_; }
  // The learnable 1x1 conv (3 -> 1, no bias) fusing the Laplacian targets of
  // the detail loss; only with use_detail_head.
  const nn::Conv2d& detail_conv() const;
  // With use_detail_head, "detail": detail_coef * stdc_detail_loss of the
  // detail logits (output 1) against stdc_detail_targets(labels,
  // detail_conv(), detail_thresh), as zh320's trainer adds it; else none.
  std::vector<nn::NetLoss> net_losses(const nn::NetLossOptions& options) const override;

 private:
  std::vector<Tensor> run(const Tensor& x, bool training_outputs);

  bool use_detail_head_, use_aux_;
  STDCStages stages_;
  nn::ModulePtr aux_head3_, aux_head4_, aux_head5_;
  nn::ModulePtr pool_, arm4_, arm5_, conv4_, conv5_, seg_head_, detail_head_;
  std::shared_ptr<stdc_parts::FeatureFusionModule> ffm_;
  std::shared_ptr<nn::Conv2d> detail_conv_;
};

// zh320's LaplacianConv on a label map [N, H, W] (integer class ids, 255
// kept as is): the labels as float [N, 1, H, W] convolved with the 3x3
// kernel [[-1,-1,-1],[-1,8,-1],[-1,-1,-1]] (padding 1) at strides 1, 2 and
// 4, the strided maps nearest-resized back to H x W, concatenated: [N, 3, H, W]
// in `dtype` (upstream: float32).
Tensor stdc_laplacian_labels(const Tensor& labels, DType dtype = DType::f32);

// The binary detail target of the STDC detail loss: detail_conv applied to
// stdc_laplacian_labels(labels), then > threshold -> 1, else 0; [N, 1, H, W]
// in detail_conv's dtype, a constant (upstream thresholds in place, so detail_conv.weight
// gets no gradient from it: zero there, none here).
Tensor stdc_detail_targets(const Tensor& labels, const nn::Conv2d& detail_conv, double threshold = 0.1);

struct DetailLoss {
  Tensor total;  // dice_coef * dice + bce_coef * bce
  Tensor dice;   // Dice on the raw logits (no sigmoid, smooth 1), mean over the batch
  Tensor bce;    // BCEWithLogits, mean over all elements
};
// zh320's DetailLoss on the detail head's logits [N, 1, h, w], bilinearly
// upsampled (align_corners) to the targets' size first, as its trainer does.
DetailLoss stdc_detail_loss(const Tensor& detail_logits, const Tensor& targets, double dice_coef = 1.0,
                            double bce_coef = 1.0);

}  // namespace cudaseg::nets
