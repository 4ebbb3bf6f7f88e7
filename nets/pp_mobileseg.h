// PP-MobileSeg ("PP-MobileSeg: Explore the Fast and Accurate Semantic
// Segmentation Model on Mobile Devices", Tang et al., 2023): the StrideFormer
// backbone with its aggregated attention module (nets/strideformer.h) and a
// light head (a depth-wise 1x1 ConvModule with BatchNorm and ReLU, dropout, a
// 1x1 classifier) whose logits are resized bilinearly to the input. Mirrors
// mmsegmentation's projects/pp_mobileseg (backbones/strideformer.py at
// 73e979b, decode_head/pp_mobileseg_head.py at c97ceed, the ADE20K configs),
// as an EncoderDecoder: `backbone.*`, `decode_head.*`.
//
// upsample "vim" (valid interpolation, the paper's deploy path): in eval, with
// 30 classes or more (upstream's condition), the head returns its logits at
// the feature resolution instead of resizing them, and the labels come from
// the inference session's label path, which upsamples only the classes that
// can win the argmax (ops/vim.h) and gives exactly the labels of the full
// bilinear resize + argmax. Upstream's 'vim' branch is PaddlePaddle syntax
// that cannot run in PyTorch, and its candidate rule (the classes of the
// low-resolution argmax) is not exact; see ops/vim.h.
#pragma once

#include <string>
#include <vector>

#include "nets/strideformer.h"
#include "nn/segnet.h"

namespace cudaseg::nets {

class PPMobileSeg : public nn::SegNet {
 public:
  PPMobileSeg(int64_t num_classes, const StrideFormerConfig& backbone, const std::string& upsample,
              double dropout_ratio);
  Tensor forward(const Tensor& x) override;
  // True when forward() leaves the upsampling to the label path (vim, eval, >= 30 classes).
  bool leaves_upsampling() const;

 private:
  int64_t num_classes_;
  std::string upsample_;
  std::shared_ptr<StrideFormer> backbone_;
  nn::ModulePtr decode_head_;
};

}  // namespace cudaseg::nets
