// Distillation objectives (cudaseg::fn), composed from differentiable ops so
// their backward is the ops' own. The teacher arguments are constants in
// training (the trainer computes them without history); gradients reach
// whichever inputs require them. Hinton KD is fn::kd_loss (autograd/loss.h).
//
// Where a teacher map's spatial size differs from the student's, it is
// resized to the student's (bilinear, align_corners=True, as FastSegFormer's
// multi-resolution code): the student, never the teacher, sets the size.
// Channel counts must match (the trainer's 1x1 adapters take care of that).
//
// The formulas are the papers'; where upstream code departs from its paper
// the function says so (shared/reference/distillation.md has the details).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::fn {

// The teacher map [N, C, h, w] at the student's [.., H, W] size, or itself.
Tensor resize_teacher(const Tensor& teacher, const Tensor& student);

// FastSegFormer's P&KL logits loss (README formula), per image
//   1/(W H) * (k1 T^2 sum_i KL(q_t,i || q_s,i) + (1 - k1) sum_i MSE_i),
//   q = softmax(z / T) over classes at pixel i, MSE_i = mean over classes of
//   (z_s - z_t)^2, then the mean over the batch.
// Upstream's kl_pixel_loss has the same KL term (its 'batchmean' KL divided
// by W H), but its MSE term is F.mse_loss (already a mean over the pixels)
// divided by W H once more: 1/(W H) times the paper's.
struct PklOptions {
  double k1 = 0.5;
  double temperature = 2.0;
};
Tensor pkl_loss(const Tensor& student_logits, const Tensor& teacher_logits, const PklOptions& options = {});

// FastSegFormer's NFD feature loss (README formula) for one pair:
//   ||Normal(F_t) - Normal(F_s)||_2 / (W_s H_s),
// the Euclidean norm over the whole [N, C, H, W] difference, Normal(F) =
// (F - mean_HW) / (std_HW + eps) per sample and channel (std unbiased, as
// torch.std). `student` is the student feature after its adapter. eps guards
// channels constant over the map (a dead ReLU channel); the paper has none.
// Upstream never calls its Normal() and never resizes at HEAD.
struct NfdOptions {
  double eps = 1e-5;
};
Tensor nfd_loss(const Tensor& student, const Tensor& teacher, const NfdOptions& options = {});

// Channel-wise distillation (Shu et al., ICCV 2021): per sample n and channel
// c, phi = softmax over the H*W positions of y / T, and
//   L = T^2 / (N C) * sum_{n,c,i} phi_t log(phi_t / phi_s).
struct CwdOptions {
  double temperature = 4.0;
};
Tensor cwd_loss(const Tensor& student, const Tensor& teacher, const CwdOptions& options = {});

// SEKD's MultiScaleContextAlignmentDistillationLoss over the stage pairs:
// for each scale (bilinear, align_corners=False, when != 1) and stage,
//   mean((F_s - F_t)^2) + mean((norm1(G_s) - norm1(G_t))^2),
// G = F F^T the [N, C, C] channel Gram matrix, norm1 the L2 normalisation
// over dim 1 (F.normalize, eps 1e-12); the sum over scales and stages
// divided by their count. Upstream's default scales [1, 1, 1] repeat one pass
// three times (the same value).
struct SekdContextOptions {
  std::vector<double> scales = {1.0, 1.0, 1.0};
};
Tensor sekd_context_loss(const std::vector<Tensor>& student, const std::vector<Tensor>& teacher,
                         const SekdContextOptions& options = {});

// SEKD's TextureDistillationLoss over the embedding levels, as maps
// [N, C, H, W] (the [N, H*W, C] patch tokens reshaped). Per level:
//   structural: a 2-level Laplacian pyramid with a 5x5 Gaussian (sigma 1,
//   zero padding 2): lap_k = x_k - blur(x_k), x_{k+1} = avgpool2(blur(x_k));
//   sum over [lap_0, lap_1, x_2] of mean((P(s) - P(t))^2);
//   statistical: 4x4 patches at stride 2, padding 2 (F.unfold), each
//   normalised by its mean and unbiased std (+1e-6); mean squared difference.
// The loss is mean over levels of structural + mean over levels of statistical.
Tensor sekd_texture_loss(const std::vector<Tensor>& student, const std::vector<Tensor>& teacher);

// SEKD's SelfSupervisedDistillationLoss (feature reconstruction): per stage
// the student feature with one zeroed rectangle per sample, of
// int(0.3 H) x int(0.3 W) at starts[stage][n] = {top, left}, against the
// teacher: mean((F_s * mask - F_t)^2), averaged over stages. Upstream draws
// the starts with torch.randint(0, H - int(0.3 H)); the caller draws them.
Tensor sekd_reconstruction_loss(const std::vector<Tensor>& student, const std::vector<Tensor>& teacher,
                                const std::vector<std::vector<std::array<int64_t, 2>>>& starts,
                                double mask_ratio = 0.3);

// SEKD's FeatureAlignmentLoss without channel projection: per stage and
// scale, both features resized by the scale factor (bilinear,
// align_corners=False, when != 1), mean squared difference; averaged.
Tensor sekd_alignment_loss(const std::vector<Tensor>& student, const std::vector<Tensor>& teacher,
                           const std::vector<double>& scales = {0.25});

}  // namespace cudaseg::fn
