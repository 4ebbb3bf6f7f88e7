// Normalisation layers as pure tensor functions, forward and backward, with
// torch.nn.functional's names, arguments and defaults. Optional tensors
// (weight, bias, running statistics) are passed as undefined Tensor().
// Outputs are new contiguous tensors; inputs may be any strided view.
#pragma once

#include <array>
#include <vector>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

// Gradients of a normalisation with respect to input, weight and bias;
// undefined where not requested (output_mask) or where the weight is absent.
struct NormGrads {
  Tensor input, weight, bias;
};
using GradMask = std::array<bool, 3>;  // {input, weight, bias}

// F.batch_norm over input [N, C, *] with per-channel weight/bias/running
// stats [C]. Training normalises with the batch mean and biased variance and,
// when the running stats are defined, updates them in place:
// running = (1 - momentum) * running + momentum * stat, with the UNBIASED
// variance for running_var, exactly as PyTorch. Evaluation normalises with
// the running stats, which must then be defined.
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), bool training = false,
                  double momentum = 0.1, double eps = 1e-5);
// Backward of batch_norm. In training mode the batch statistics are
// recomputed from input and differentiated through; in evaluation mode the
// op is a per-channel affine map of the input.
NormGrads batch_norm_backward(const Tensor& grad_output, const Tensor& input, const Tensor& running_mean,
                              const Tensor& running_var, const Tensor& weight, bool training, double eps,
                              GradMask output_mask = {true, true, true});

// F.layer_norm: normalises over the last normalized_shape.size() dims, which
// must equal normalized_shape; weight and bias have shape normalized_shape.
Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
NormGrads layer_norm_backward(const Tensor& grad_output, const Tensor& input, const Shape& normalized_shape,
                              const Tensor& weight, double eps, GradMask output_mask = {true, true, true});

// Layer norm over the channel dim of input [N, C, *] at each position, with
// weight and bias [C]: the "LayerNorm2d" / channels_first LayerNorm of
// ConvNeXt and SegFormer-style decoders (they usually pass eps = 1e-6).
Tensor layer_norm_channels(const Tensor& input, const Tensor& weight = Tensor(), const Tensor& bias = Tensor(),
                           double eps = 1e-5);
NormGrads layer_norm_channels_backward(const Tensor& grad_output, const Tensor& input, const Tensor& weight,
                                       double eps, GradMask output_mask = {true, true, true});

// F.group_norm over input [N, C, *]: statistics per sample and group of
// C / num_groups channels; weight and bias [C].
Tensor group_norm(const Tensor& input, int64_t num_groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
NormGrads group_norm_backward(const Tensor& grad_output, const Tensor& input, int64_t num_groups,
                              const Tensor& weight, double eps, GradMask output_mask = {true, true, true});

// F.normalize: input / max(||input||_p along dim, eps), for a finite p > 0.
Tensor normalize(const Tensor& input, double p = 2.0, int64_t dim = 1, double eps = 1e-12);
Tensor normalize_backward(const Tensor& grad_output, const Tensor& input, double p = 2.0, int64_t dim = 1,
                          double eps = 1e-12);

}  // namespace cudaseg::ops
CUDASEG_API_END
