// STDC-Seg ("Rethinking BiSeNet For Real-time Semantic Segmentation", Fan et
// al., CVPR 2021) as its authors released it: MichaelFan01/STDC-Seg
// (commit 59ff37f), models/model_stages.py `BiSeNet` over nets/stdcnet.py's
// `STDCNet813` (STDC1) or `STDCNet1446` (STDC2), with the upstream module
// names, so the released checkpoints (STDC1/2-Seg50/75: one model per
// backbone, Seg50 and Seg75 differ only in the evaluation scale 0.5 / 0.75)
// load. The encoder is the paper's STDC (nets/stdcnet.h, shared with PaddleSeg's
// PP-LiteSeg): a stride-2 CatBottleneck downsamples
// its first 1x1 block with a depthwise 3x3 conv + BN (`avd_layer`) and pools
// the same block (`skip`, AvgPool2d(3, 2, 1)) for the concatenation; zh320's
// STDC (nets/stdc.h) strides its 3x3 block instead, so no block is shared
// beyond a conv + BN + ReLU. The decoder: attention refinement on the
// stride-16/32 features, a global-average branch, nearest upsampling in the
// context path, a feature fusion module with the stride-8 features, and
// BiSeNetOutput heads (main `conv_out`, aux `conv_out16`/`conv_out32`,
// detail `conv_out_sp2/4/8/16`); logits bilinear (align_corners) to the input.
// Registered as "stdcseg":
//   {"name": "stdcseg", "num_classes": 19, "backbone": "STDCNet813" | "STDCNet1446",
//    "use_boundary_2": false, "use_boundary_4": false, "use_boundary_8": false,
//    "use_boundary_16": false, "use_conv_last": false}
//
// Released-checkpoint layout and how it loads here:
//  * The backbone registers every stage twice: `features.N` and the aliases
//    `x2`, `x4`, `x8`, `x16`, `x32` (Sequentials over slices of `features`),
//    so an upstream state_dict holds each backbone tensor twice
//    (`cp.backbone.x8.0.3.conv_list.0.conv.weight` is
//    `cp.backbone.features.3.conv_list.0.conv.weight`: a slice keeps the keys). This net registers
//    `features` only and lists the aliases in state_dict_aliases();
//    weights::fold_state_aliases (rtseg_convert --config) checks each alias
//    entry equals its original and drops it; one that differs, or whose
//    original is absent, is refused naming both.
//  * The backbone's ImageNet head (`conv_last`, `fc`, the 1-d `bn`, `linear`)
//    is in the state_dict though the segmentation forward uses `conv_last`
//    only with use_conv_last: registered here too (the 1-d BatchNorm as a
//    BatchNorm2d, which holds the same five tensors; it is never run).
//  * The segmentation model's norms are InPlaceABNSync with activation
//    'none', i.e. BatchNorm without num_batches_tracked: nn::BatchNorm2d
//    with count_batches false. The backbone's are torch BatchNorm2d.
//  * A `module.` prefix (DistributedDataParallel) and a {'state_dict': ...}
//    wrapper are removed by the .pth reader.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "nn/layers.h"
#include "nn/segnet.h"

namespace cudaseg::nets {

struct STDCSegOptions {
  std::string backbone = "STDCNet813";  // STDC1; "STDCNet1446": STDC2
  // Detail heads returned by forward_train. Upstream's forward returns a
  // tuple only for {}, {8}, {4, 8} and {2, 4, 8}: other sets are refused.
  bool use_boundary_2 = false, use_boundary_4 = false, use_boundary_8 = false;
  // Accepted as upstream does; neither its forward nor its trainer uses it.
  bool use_boundary_16 = false;
  bool use_conv_last = false;  // the backbone's conv_last on the stride-32 features
};

class STDCSeg : public nn::SegNet {
 public:
  STDCSeg(int64_t num_classes, const STDCSegOptions& options);

  // Main logits [N, num_classes, H, W] (bilinear, align_corners, to the input).
  Tensor forward(const Tensor& x) override;
  // Upstream's training forward: {out, out16, out32} (all at the input
  // size), then the detail logits [N, 1, H/s, W/s] of sp2, sp4, sp8 that
  // use_boundary_* selects, in that order.
  std::vector<Tensor> forward_train(const Tensor& x) override;
  // "detail": detail_coef * the sum over the detail outputs of
  // (bce_coef * BCE + dice_coef * dice) against stdcseg_detail_targets, as
  // upstream's train.py adds DetailAggregateLoss; none without detail heads.
  std::vector<nn::NetLoss> net_losses(const nn::NetLossOptions& options) const override;
  std::vector<std::pair<std::string, std::string>> state_dict_aliases() const override;

  const STDCSegOptions& options() const { return options_; }
  int64_t num_detail_outputs() const;

 private:
  std::vector<Tensor> run(const Tensor& x, bool training_outputs);

  STDCSegOptions options_;
  nn::ModulePtr cp_, ffm_, conv_out_, conv_out16_, conv_out32_;
  nn::ModulePtr conv_out_sp16_, conv_out_sp8_, conv_out_sp4_, conv_out_sp2_;
};

// DetailAggregateLoss's target (loss/detail_loss.py) for labels [N, H, W]
// (class ids, 255 kept as a value, as upstream feeds them): the 3x3
// Laplacian [[-1,-1,-1],[-1,8,-1],[-1,-1,-1]] of the labels at strides 1, 2
// and 4 (padding 1), each > threshold -> 1 (the strided ones nearest-resized
// to H x W), fused by upstream's `fuse_kernel` [0.6, 0.3, 0.1] and again
// > threshold -> 1; [N, 1, H, W] in `dtype`. fuse_kernel is a learnable
// parameter upstream, but the in-place thresholding overwrites every element
// of its output, so its gradient is zero and it keeps its initial values:
// a constant here. Comparisons round the threshold to `dtype` as PyTorch's
// scalar promotion does (0.1f * 1 is not > 0.1f: a stride-4 edge alone is
// no target in float32; in float64 the float32 weight 0.1f is > 0.1, and it
// is, as in upstream's loss run in double).
Tensor stdcseg_detail_targets(const Tensor& labels, DType dtype = DType::f32, double threshold = 0.1);

struct DetailAggregateTerms {
  Tensor bce, dice;  // BCE with logits (mean) and dice on sigmoid (smooth 1, mean over the batch)
};
// DetailAggregateLoss.forward: the detail logits [N, 1, h, w] bilinearly
// resized (align_corners) to the targets' size when their widths differ.
DetailAggregateTerms stdcseg_detail_loss(const Tensor& detail_logits, const Tensor& targets);

}  // namespace cudaseg::nets
