// PIDNet ("PIDNet: A Real-time Semantic Segmentation Network Inspired by PID
// Controllers", Xu et al., CVPR 2023): three branches after a shared 1/8 stem,
// an integral (I) branch going down to 1/64 and through a pyramid pooling
// module (PAPPM for S/M, DAPPM for L), a proportional (P) branch kept at 1/8
// and fed with the I branch's context by pixel-attention-guided fusion
// (PagFM), and a derivative (D) branch at 1/8 whose boundary map decides, in
// the boundary-attention-guided fusion (Light_Bag / Bag), how P and I mix.
//
// Mirrors XuJiacong/PIDNet, models/pidnet.py and models/model_utils.py at
// commit 4c158cf (class PIDNet), with its module tree and state_dict keys
// (conv1.*, layer1..5.*, layer3_/4_/5_.*, layer3_d/4_d/5_d.*, compression3/4,
// pag3/4.f_x/f_y, diff3/4, spp.scale0..4/..., dfm.*, final_layer.*,
// seghead_p/seghead_d with augment). Registry name "pidnet":
//   {"name": "pidnet", "num_classes": 19, "arch_type": "pidnet_s" | "pidnet_m" | "pidnet_l",
//    "m": 2, "n": 3, "planes": 64, "ppm_planes": 96, "head_planes": 128, "augment": true}
// arch_type picks upstream's get_pred_model presets (S: m 2, n 3, planes 32,
// ppm 96, head 128; M: 2, 3, 64, 96, 128; L: 3, 4, 64, 112, 256); without it
// ("") the constructor arguments m .. head_planes apply, upstream's defaults
// being PIDNet-M.
//
// Upstream's net returns 1/8 logits and its callers (utils/function.py,
// FullModel) resize them bilinearly (align_corners False) to the input or
// label size; here forward() does that resizing itself, so the output is
// [N, num_classes, H, W] like every net of the zoo. H and W must be multiples
// of 8 (upstream adds 1/8 maps of floor(H/8) to the stem's ceil-sized ones).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/segnet.h"

namespace cudaseg::nets {

namespace pidnet {
class PagFM;
class Fusion;
}  // namespace pidnet

struct PIDNetOptions {
  int64_t num_classes = 19;
  int64_t m = 2;  // BasicBlocks of the 1/4 and 1/8 layers and of the P branch; 2 picks PAPPM and Light_Bag
  int64_t n = 3;  // BasicBlocks of layer3 and layer4
  int64_t planes = 64;
  int64_t ppm_planes = 96;
  int64_t head_planes = 128;
  bool augment = true;  // builds seghead_p and seghead_d (training outputs)
};

// get_pred_model's presets: "pidnet_s", "pidnet_m", "pidnet_l".
PIDNetOptions pidnet_preset(const std::string& arch_type, int64_t num_classes);

class PIDNet : public nn::SegNet {
 public:
  explicit PIDNet(const PIDNetOptions& options);

  // The logits [N, num_classes, H, W]: the 1/8 logits resized bilinearly
  // (align_corners false) to the input, as PIDNet's callers do.
  Tensor forward(const Tensor& x) override;
  // With augment: {main logits at the input size, the P branch's aux logits
  // (seghead_p, 1/8, not resized), the D branch's boundary logits (seghead_d,
  // [N, 1, H/8, W/8])}: upstream's [x_extra_p, x_, x_extra_d] with the main
  // output first, as every net here returns it. Without augment {main}.
  std::vector<Tensor> forward_train(const Tensor& x) override;
  // With augment, "boundary": PIDNet's BondaryLoss (utils/criterion.py,
  // 20 x class-balanced BCE) of the boundary logits (output 2), resized to
  // the labels, against pidnet_boundary_targets(labels). The P logits
  // (output 1) are an ordinary auxiliary output for the trainer.
  std::vector<nn::NetLoss> net_losses(const nn::NetLossOptions& options) const override;

  const PIDNetOptions& options() const { return options_; }

 private:
  std::vector<Tensor> run(const Tensor& x, bool training_outputs);

  PIDNetOptions options_;
  nn::ModulePtr conv1_, relu_, layer1_, layer2_, layer3_, layer4_, layer5_;
  nn::ModulePtr compression3_, compression4_, layer3_p_, layer4_p_, layer5_p_;
  nn::ModulePtr layer3_d_, layer4_d_, layer5_d_, diff3_, diff4_, spp_;
  nn::ModulePtr seghead_p_, seghead_d_, final_layer_;
  std::shared_ptr<pidnet::PagFM> pag3_, pag4_;
  std::shared_ptr<pidnet::Fusion> dfm_;
};

// The boundary target of the D branch's loss, from a label map [N, H, W]:
// 1 where the labels (as numbers, 255 included) convolved with the 3x3
// Laplacian [[-1,-1,-1],[-1,8,-1],[-1,-1,-1]] (zero padding) are non-zero,
// else 0; [N, 1, H, W] in `dtype`, a constant. PIDNet's datasets draw these
// edges from the labels with OpenCV's Canny; this is the same idea with an
// op the runtime has.
Tensor pidnet_boundary_targets(const Tensor& labels, DType dtype = DType::f32);

// PIDNet's BondaryLoss: coeff_bce * BCEWithLogits over all pixels of the
// boundary logits [N, 1, h, w] (resized bilinearly, align_corners false, to
// the targets' size) with weight neg/total on the boundary pixels and
// pos/total on the others (weighted_bce).
Tensor pidnet_boundary_loss(const Tensor& boundary_logits, const Tensor& targets, double coeff_bce = 20.0);

}  // namespace cudaseg::nets
