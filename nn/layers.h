// The torch.nn layers the networks are built from, with torch's parameter
// names, shapes and default initialisation (kaiming-uniform with a = sqrt(5)
// for weights, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the same bound for
// biases; BatchNorm/LayerNorm weight 1, bias 0). Initial values come from the
// generator of nn::manual_seed, so a seeded construction is reproducible.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>

#include "nn/module.h"
#include "ops/conv.h"
#include "ops/pool.h"
#include "runtime/rng.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::nn {

// Seeds the generator every layer's initial parameters are drawn from.
void manual_seed(uint64_t seed);
Generator& init_generator();

// While a SkipInitGuard lives (on this thread), layers allocate their weights
// and biases without drawing initial values (their contents are unspecified)
// and the generator does not advance: for nets whose every parameter is about
// to be overwritten (a checkpoint load, a golden fill), where the draws of a
// large net would dominate the build time. Norm layers keep their constant
// init, buffers their values.
class SkipInitGuard {
 public:
  SkipInitGuard();
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;

 private:
  bool previous_;
};
bool init_skipped();

// While a MixedPrecisionGuard lives (on this thread), layers run in the dtype
// of their input, so mixed-precision training can keep float32 parameters
// (the optimizer's master copy) and feed the net a float16 or bfloat16 image:
// Conv2d, ConvTranspose2d, Linear and PReLU cast their parameters to the
// input's dtype through an autograd cast, so the gradients arrive in
// float32; BatchNorm2d and LayerNorm normalise in float32 (input cast up,
// output cast back), because the norm ops take one dtype for input, affine
// parameters and running statistics, and the running buffers must stay
// float32. Outside a guard a dtype mismatch stays an op error.
class MixedPrecisionGuard {
 public:
  MixedPrecisionGuard();
  ~MixedPrecisionGuard();
  MixedPrecisionGuard(const MixedPrecisionGuard&) = delete;
  MixedPrecisionGuard& operator=(const MixedPrecisionGuard&) = delete;

 private:
  bool previous_;
};
bool mixed_precision();
// `param` in the dtype of `x` under a MixedPrecisionGuard (through an autograd
// cast, so its gradient arrives in float32), else `param` itself: for a net's
// own parameters (layer scales, attention biases) used outside the layers.
Tensor like_input(const Tensor& param, const Tensor& x);

using Pair = std::array<int64_t, 2>;

struct Conv2dOptions {
  Pair kernel_size{1, 1};
  Pair stride{1, 1};
  Pair padding{0, 0};
  Pair dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, const Conv2dOptions& options);
  // The common square case: kernel k, stride s, padding p, dilation d.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
         int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1, bool bias = true);
  Tensor forward(const Tensor& x) override;
  const ops::Conv2dParams& params() const { return params_; }
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }

  Tensor weight, bias;
  // Activations fused into this convolution for inference (nn/fuse.h). `act`
  // (relu, relu6, PReLU, GELU) is applied by the convolution as it writes its
  // output (ops::conv2d_act) when no gradient is wanted, and by the autograd
  // ops otherwise; `epilogue` (the other argument-free activations) runs on
  // the output afterwards.
  std::optional<ops::ConvAct> act;
  std::function<Tensor(const Tensor&)> epilogue;

 private:
  ops::Conv2dParams params_;
  int64_t in_channels_, out_channels_;
};

struct ConvTranspose2dOptions {
  Pair kernel_size{1, 1};
  Pair stride{1, 1};
  Pair padding{0, 0};
  Pair output_padding{0, 0};
  Pair dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;
};

class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, const ConvTranspose2dOptions& options);
  Tensor forward(const Tensor& x) override;
  // weight is [in_channels, out_channels / groups, kh, kw].
  int64_t out_channels() const { return weight.size(1) * params_.groups; }
  int64_t groups() const { return params_.groups; }
  Tensor weight, bias;

 private:
  ops::ConvTranspose2dParams params_;
};

class BatchNorm2d : public Module {
 public:
  // count_batches false leaves out num_batches_tracked (InPlaceABN, which STDC-Seg's
  // released checkpoints use, keeps no count; its maths with activation 'none' is this layer's).
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                       bool track_running_stats = true, bool count_batches = true);
  // Training: batch statistics, running stats updated, num_batches_tracked += 1.
  // Eval: running statistics.
  Tensor forward(const Tensor& x) override;
  double eps() const { return eps_; }
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  double eps_, momentum_;
  bool track_;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(const Shape& normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;

 private:
  Shape normalized_shape_;
  double eps_;
};

// torch.nn.GroupNorm over [N, C, *]: statistics per sample and group of
// C / num_groups channels, affine weight and bias [C] (ones and zeros).
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;

 private:
  int64_t groups_;
  double eps_;
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

enum class ActKind { relu, relu6, leaky_relu, elu, celu, selu, gelu, gelu_tanh, silu, hardswish, hardsigmoid,
                     hardtanh, sigmoid, tanh };

// A parameter-free activation (ReLU, ReLU6, LeakyReLU(slope), ELU(alpha), ...).
class Activation : public Module {
 public:
  explicit Activation(ActKind kind, double arg0 = 0.0, double arg1 = 0.0);
  Tensor forward(const Tensor& x) override;
  ActKind kind() const { return kind_; }

 private:
  ActKind kind_;
  double arg0_, arg1_;
};

// Activations by torch's names ("relu", "relu6", "prelu", "silu", "hardswish",
// "gelu", "selu", "elu", "leaky_relu", "sigmoid", "tanh", "none" -> Identity).
ModulePtr make_activation(const std::string& name, int64_t channels = 1);

class PReLU : public Module {
 public:
  explicit PReLU(int64_t num_parameters = 1, double init = 0.25);
  Tensor forward(const Tensor& x) override;
  Tensor weight;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(const ops::MaxPool2dParams& params);
  MaxPool2d(int64_t kernel_size, int64_t stride, int64_t padding = 0, bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;

 private:
  ops::MaxPool2dParams params_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(const ops::AvgPool2dParams& params);
  AvgPool2d(int64_t kernel_size, int64_t stride, int64_t padding = 0);
  Tensor forward(const Tensor& x) override;

 private:
  ops::AvgPool2dParams params_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Pair output_size);
  explicit AdaptiveAvgPool2d(int64_t output_size) : AdaptiveAvgPool2d(Pair{output_size, output_size}) {}
  Tensor forward(const Tensor& x) override;

 private:
  Pair size_;
};

class AdaptiveMaxPool2d : public Module {
 public:
  explicit AdaptiveMaxPool2d(Pair output_size);
  explicit AdaptiveMaxPool2d(int64_t output_size) : AdaptiveMaxPool2d(Pair{output_size, output_size}) {}
  Tensor forward(const Tensor& x) override;

 private:
  Pair size_;
};

// torch.nn.Upsample: by output size or scale factor, mode "nearest" or "bilinear".
class Upsample : public Module {
 public:
  Upsample(std::optional<Pair> size, std::optional<std::array<double, 2>> scale_factor, std::string mode,
           std::optional<bool> align_corners = std::nullopt);
  Tensor forward(const Tensor& x) override;

 private:
  std::optional<Pair> size_;
  std::optional<std::array<double, 2>> scale_;
  std::string mode_;
  std::optional<bool> align_corners_;
};

// Dropout / Dropout2d: identity in eval; in training, a Philox mask from init_generator().
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, bool channelwise = false);
  Tensor forward(const Tensor& x) override;

 private:
  double p_;
  bool channelwise_;
};

// DropPath (stochastic depth, timm's drop_path): identity in eval or at p = 0;
// in training each sample of the batch is zeroed with probability p and the
// kept ones scaled by 1 / (1 - p), one Philox draw per sample from
// init_generator() (the generator contract of ops/dropout.h).
class DropPath : public Module {
 public:
  explicit DropPath(double p = 0.0);
  Tensor forward(const Tensor& x) override;
  double p() const { return p_; }

 private:
  double p_;
};

}  // namespace cudaseg::nn
CUDASEG_API_END
