// Inference preparation of a module tree: BatchNorm folding and conv +
// activation fusion. The chains come from Module::fusable_chains() (Sequential
// finds Conv2d or ConvTranspose2d, BatchNorm2d [, activation], and Conv2d,
// activation, among consecutive children; nets declare the chains of their
// own forward), so a net's forward code is never
// rewritten: the folded BatchNorm and the fused activation are bypassed
// (Module::set_bypassed) and the convolution carries their effect.
//
// For a convolution W, b followed by BatchNorm (gamma, beta, mean, var, eps):
//   s = gamma / sqrt(var + eps),  W' = W * s (per output channel),
//   b' = (b - mean) * s + beta
// computed in double and stored in the convolution's dtype. A convolution
// without a bias gets one as a non-persistent buffer "bias", so the prepared
// net's state_dict() keeps the checkpoint's keys (with folded values): a
// prepared net is for inference only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace cudaseg::nn {

struct FuseOptions {
  bool fold_batchnorm = true;
  // The activation after a folded BatchNorm, or straight after a Conv2d in a
  // Sequential, joins the convolution: relu, relu6, GELU (erf form) and
  // PReLU (one slope or one per channel) are applied by the convolution as it
  // stores its output (ops::conv2d_act); the other argument-free ones (silu,
  // hardswish, hardsigmoid, sigmoid, tanh, gelu_tanh, selu) run on its output
  // as its epilogue. One activation module that a net applies after several
  // convolutions (its chains all name it) joins all of them, or, when one
  // of them cannot take it, none.
  bool fuse_activations = true;
};

struct FuseReport {
  int64_t folded_batchnorms = 0;
  int64_t fused_activations = 0;
  // Declared chains left as they are, with the reason ("head.0: BatchNorm2d uses batch statistics").
  std::vector<std::string> skipped;
};

// Folds and fuses every chain declared in `root`'s tree, in place. The tree
// must be in eval mode (a BatchNorm in training mode is an error naming it).
// Running it twice is harmless: folded chains are skipped.
FuseReport fuse_for_inference(nn::Module& root, const FuseOptions& options = {});

// The activation `module` applies when it is an nn::Activation or only wraps
// one (a parameter-free module whose single child is one), else null.
nn::Activation* activation_leaf(nn::Module& module);

// act(a + b), the residual join that ends many blocks: one pass
// (ops::add_act) where `act` applies relu, relu6 or a PReLU (itself or
// through parameter-free wrappers), or is a Sequential of a BatchNorm2d with
// running statistics and such an activation (ops::add_batch_norm_act), a and
// b are of one shape, no gradient is wanted and no forward hook observes
// (hooks see the modules' outputs as before); else act(fn::add(a, b)). The
// same bits either way.
Tensor activate_sum(nn::Module& act, const Tensor& a, const Tensor& b);

}  // namespace cudaseg::nn
