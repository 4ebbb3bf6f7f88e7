// PP-LiteSeg ("PP-LiteSeg: A Superior Real-Time Semantic Segmentation
// Model", Peng et al., 2022) as PaddleSeg releases it, with PaddleSeg's
// module names so its .pdparams checkpoints load (rtseg_convert --from
// paddle maps BatchNorm's _mean/_variance): paddleseg/models/pp_liteseg.py
// PPLiteSeg over backbones/stdcnet.py STDC1 / STDC2 (nets/stdcnet.h, Paddle's
// options: BatchNorm without a batch counter, the skip pool exclusive of
// padding) and layers/tensor_fusion.py UAFM_SpAtten. Not zh320's PP-LiteSeg
// (nets/ppliteseg.h, "ppliteseg"), whose STDC modules, SPPM, UAFM and
// decoder widths differ (not weight-compatible).
//   backbone.features.*      STDCNet (conv_list.{j}.conv/bn, avd_layer.{0,1})
//   ppseg_head.cm            SPPM: for each bin, AdaptiveAvgPool -> ConvBNReLU
//                            1x1 (with bias, 16b -> cm_out_ch) -> bilinear to
//                            the input; summed; conv_out ConvBNReLU 3x3 (bias)
//   ppseg_head.arm_list.{i}  UAFM_SpAtten(x = stride 8/16/32 feature, y =
//                            the deeper output): conv_x ConvBNReLU 3x3 (x ->
//                            y's channels), y bilinear to x, atten =
//                            sigmoid(ConvBN 3x3 2->1 (ConvBNReLU 3x3 4->2 (
//                            [mean_c x, max_c x, mean_c y, max_c y]))),
//                            conv_out ConvBNReLU 3x3 (x*atten + y*(_scale -
//                            atten)); _scale is a frozen [1] parameter
//   seg_heads.{i}            ConvBNReLU 3x3 -> conv 1x1, both without bias
// Every bilinear resize has align_corners false (Paddle's default, PyTorch's
// half-pixel rule). Registered as "ppliteseg_paddle":
//   {"name": "ppliteseg_paddle", "num_classes": 19, "backbone": "STDC1" | "STDC2",
//    "base": 64, "cm_bin_sizes": [1, 2, 4], "cm_out_ch": 128,
//    "arm_out_chs": [64, 96, 128], "seg_head_inter_chs": [64, 64, 64]}
// PaddleSeg's configs: PP-LiteSeg-T = STDC1 with arm_out_chs [32, 64, 128],
// seg_head_inter_chs [32, 64, 64] (nets/pp_liteseg_t_paddle.json); -B = STDC2
// and the defaults (nets/pp_liteseg_b_paddle.json).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

struct PPLiteSegPaddleOptions {
  std::string backbone = "STDC2";
  int64_t base = 64;
  std::vector<int64_t> cm_bin_sizes = {1, 2, 4};
  int64_t cm_out_ch = 128;
  std::array<int64_t, 3> arm_out_chs = {64, 96, 128};
  std::array<int64_t, 3> seg_head_inter_chs = {64, 64, 64};
};

class PPLiteSegPaddle : public nn::SegNet {
 public:
  PPLiteSegPaddle(int64_t num_classes, const PPLiteSegPaddleOptions& options);

  // Eval: seg head 0 on the stride-8 fusion, bilinear to the input size.
  Tensor forward(const Tensor& x) override;
  // Training: the three heads (stride 8, 16, 32 fusions), each bilinear to
  // the input size, as PaddleSeg's training forward returns them (its
  // configs weigh their losses [1, 1, 1]).
  std::vector<Tensor> forward_train(const Tensor& x) override;

 private:
  std::vector<Tensor> run(const Tensor& x, size_t heads);

  nn::ModulePtr backbone_, head_;
  std::array<nn::ModulePtr, 3> seg_heads_;
};

}  // namespace cudaseg::nets
