// SEKD ("A Multi-Level Knowledge Distillation for Enhanced Crop Segmentation
// in Precision Agriculture", xl-alt/SEKD): a SegFormer MiT-B0 student
// distilled from a MiT-B3 teacher through the stage features and the patch
// embeddings. Both are SEKD's own SegFormer
// class, whose forward returns the four stage features, the logits at 1/4
// (not upsampled) and the four patch-embedding token maps; the student is
// wrapped by FEF/FEA, whose feature embeddings (1x1 conv-BN-ReLU, CBAM,
// 3x3 conv-BN, CBAM) lift the student's features to the teacher's widths and
// whose Linear projections do the same for the embeddings. Those layers only
// serve the distillation losses but are part of the student checkpoint
// (eval/eval.py loads the whole FEF).
//
// Mirrors xl-alt/SEKD @ 6bcd627: train/models/Segformer4EmbeddingKD.py (the
// student's mit_bX) and Segformer4EmbeddingKD_teacher.py (the teacher's, the
// same code), train/knowledge_distillation.py (FEF, FEA, FeatureEmbedding,
// CBAM). The MiT encoder and the all-MLP decoder are nets/segformer.h's
// (SEKD's backbone is NVlabs' bit for bit); SEKD's model class is the
// encoder itself, so its keys are at the top level (patch_embed1.proj, ...,
// linear_c4.proj, linear_fuse.conv, linear_pred), with `student.` before them
// in the student checkpoint.
//
// Registry:
//   {"name": "sekd_teacher", "backbone": "mit_b3", "num_classes": 3}
//   {"name": "sekd_student", "backbone": "mit_b0", "num_classes": 3, "embed": 5,
//    "in_channels": [], "out_channels": [64, 128, 320, 512]}
// "drop_path_rate" (0.1, which mit_bX fixes) is the stochastic depth and the
// Dropout2d rate before linear_pred; the golden tests set it to 0. The
// student's "in_channels" defaults to the backbone's widths (FEF's default,
// [32, 64, 160, 256], is MiT-B0's) and must equal them. Upstream's mit_b1
// (and b4, b5) drop their keyword arguments and keep 3 classes; here every
// variant takes num_classes.
//
// forward() gives the 1/4 logits resized bilinearly (align_corners false) to
// the input, forward_train() {those, the 1/4 logits}; forward_kd() gives what
// the distillation needs (upstream's forward return).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "nets/segformer.h"
#include "nn/layers.h"
#include "nn/segnet.h"

namespace cudaseg::nets {

// Upstream's forward return: features [N, C_s, H_s, W_s] (FEF-fused for the
// student), logits [N, classes, H/4, W/4], embeds [N, H_s * W_s, C_s] (the
// patch embeddings; projected for the student: all four at embed 5, the
// embed-th alone at 1..4, none at 0).
struct SekdOutputs {
  std::vector<Tensor> features;
  Tensor logits;
  std::vector<Tensor> embeds;
};

// SEKD's mit_bX (Segformer4EmbeddingKD.MixVisionTransformer with its decoder).
class SekdSegFormer : public nn::SegNet {
 public:
  SekdSegFormer(const std::string& backbone, int64_t num_classes, double drop_path_rate = 0.1);
  SekdOutputs forward_kd(const Tensor& x);
  Tensor forward(const Tensor& x) override;
  std::vector<Tensor> forward_train(const Tensor& x) override;
  const MiTConfig& config() const { return config_; }

 private:
  SekdOutputs compute(const Tensor& x);  // forward_kd's body, unreported

  MiTConfig config_;
  MiTStages stages_;
  SegFormerFuseLayers fuse_;
  nn::ModulePtr dropout_;  // null at drop_path_rate 0, as upstream
  std::shared_ptr<nn::Conv2d> linear_pred_;
};

// FEF(mit_bX(num_classes), embed, in_channels, out_channels): the student.
class SekdStudent : public nn::SegNet {
 public:
  SekdStudent(const std::string& backbone, int64_t num_classes, int64_t embed,
              const std::vector<int64_t>& in_channels, const std::vector<int64_t>& out_channels,
              double drop_path_rate = 0.1);
  SekdOutputs forward_kd(const Tensor& x);
  Tensor forward(const Tensor& x) override;
  std::vector<Tensor> forward_train(const Tensor& x) override;

  std::shared_ptr<SekdSegFormer> student;

 private:
  SekdOutputs compute(const Tensor& x);

  int64_t embed_;
  std::shared_ptr<nn::ModuleList> embeddings_, embed_projections_;
};

}  // namespace cudaseg::nets
