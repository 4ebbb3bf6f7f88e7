// Swin-T-Att-UNet, the teacher of FastSegFormer ("FastSegFormer: A knowledge
// distillation-based method for real-time semantic segmentation of surface
// defects in navel oranges", Computers and Electronics in Agriculture, 2024,
// doi 10.1016/j.compag.2023.108604): a Swin Transformer encoder
// (nets/swin_transformer.h) under an attention U-Net decoder. The 1/32
// tokens go through a 3x3 bottleneck; four nearest-upsampling stages each
// gate a skip (the Swin stage outputs lifted by 1x1 conv-BN-ReLU, and at 1/2
// a conv block on the max-pooled image) with an attention gate
// (sigmoid(psi(relu(W_g g + W_x x))) * x), project it with a 1x1 conv and
// fuse it by a double 3x3 conv block; a bilinear x2 (align_corners false)
// and a 3x3 conv give the logits at the input size.
//
// Mirrors caixiongjiang/FastSegFormer @ 8f673e0, nets/UNet/swinTS_Att_Unet.py
// (swinTS_Att_Unet); keys are its state_dict's (common_backbone.*, convert1..4,
// Att4..Att1, bottle, up4..up1, conv4..conv1, final_up_conv, cnn_up,
// change1..3).
//
// Registry: {"name": "swin_t_att_unet", "num_classes": 4} plus upstream's
// "backbone" ("swin_T_224"; "swin_S_224"; "convnext_t" is refused: no
// ConvNeXt here), "embed_dim" (96, the Swin width the decoder assumes; the
// Swin backbones fix it), "base" (64, the decoder widths base * 1..16),
// "pretrained" (false; swinTS_Att_Unet ignores it for the Swin backbones),
// "fork_feat" (false: upstream's forward then returns the distillation list
// instead of the logits; here forward() always gives the logits and
// forward_fork() the list) and "drop_path_rate" (0.1, the Swin's stochastic
// depth, which swin_*_224 fix).
//
// Sizes: H and W multiples of 32 (the decoder's stages must meet the
// encoder's). Upstream reshapes the stage outputs with the final grid's
// height for both sides, so it runs square inputs only; for those this is
// the same computation, and it reshapes non-square maps by their own sides.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nets/swin_transformer.h"
#include "nn/layers.h"
#include "nn/segnet.h"

namespace cudaseg::nets {

class SwinTAttUNet : public nn::SegNet {
 public:
  SwinTAttUNet(int64_t num_classes, const std::string& backbone = "swin_T_224", int64_t embed_dim = 96,
               int64_t base = 64, double drop_path_rate = 0.1);
  Tensor forward(const Tensor& x) override;
  // upstream's fork_feat list: [feat1, feat2, feat3, x (1/32), bottle, a3,
  // a1, logits].
  std::vector<Tensor> forward_fork(const Tensor& x);

  std::shared_ptr<SwinTransformer> common_backbone;

 private:
  std::vector<Tensor> run(const Tensor& x);

  bool small_;  // swin_S_224: the 1/2 stage keeps base * 2 channels and skips convert4
  std::array<nn::ModulePtr, 4> convert_, up_, conv_;  // index 0 = convert1 / up1 / conv1
  std::array<nn::ModulePtr, 4> att_;                  // Att1 ... Att4
  std::array<nn::ModulePtr, 3> change_;               // change1 ... change3
  nn::ModulePtr bottle_, final_up_conv_, cnn_up_;
};

}  // namespace cudaseg::nets
