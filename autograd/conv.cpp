#include "autograd/conv.h"

#include "autograd/activation.h"
#include "autograd/engine.h"
#include "autograd/shape.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

// Inputs: (input, weight, bias). The input is saved only when the weight
// needs a gradient and the weight only when the input does.
template <typename Params, bool Transposed>
struct ConvBackward : Node {
  const char* name() const override { return Transposed ? "ConvTranspose2dBackward" : "Conv2dBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    std::vector<Tensor> out(3);
    const Tensor& gy = g[0];
    if (next_edges[0].valid()) {
      const Tensor w = weight.unpack(*this);
      if constexpr (Transposed)
        out[0] = ops::conv_transpose2d_backward_input(gy, w, input_shape, params);
      else
        out[0] = ops::conv2d_backward_input(gy, w, input_shape, params);
    }
    if (next_edges[1].valid()) {
      const Tensor x = input.unpack(*this);
      if constexpr (Transposed)
        out[1] = ops::conv_transpose2d_backward_weight(gy, x, weight_shape, params);
      else
        out[1] = ops::conv2d_backward_weight(gy, x, weight_shape, params);
    }
    if (next_edges[2].valid()) out[2] = ops::conv2d_backward_bias(gy);
    return out;
  }
  void release_saved() override {
    input.reset();
    weight.reset();
  }
  SavedTensor input, weight;
  Shape input_shape, weight_shape;
  Params params;
};

template <bool Transposed, typename Params>
void record_conv(const Tensor& input, const Tensor& weight, const Tensor& bias, const Params& params, Tensor* out) {
  if (!autograd::any_requires_grad({&input, &weight, &bias})) return;
  auto node = std::make_shared<ConvBackward<Params, Transposed>>();
  if (weight.requires_grad()) node->input = SavedTensor(input);
  if (input.requires_grad()) node->weight = SavedTensor(weight);
  node->input_shape = input.shape();
  node->weight_shape = weight.shape();
  node->params = params;
  autograd::record(node, {&input, &weight, &bias}, {out});
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const ops::Conv2dParams& params) {
  Tensor out = ops::conv2d(input, weight, bias, params);
  record_conv<false>(input, weight, bias, params, &out);
  return out;
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const ops::ConvTranspose2dParams& params) {
  Tensor out = ops::conv_transpose2d(input, weight, bias, params);
  record_conv<true>(input, weight, bias, params, &out);
  return out;
}

Tensor depthwise_conv2d_tokens(const Tensor& x, int64_t h, int64_t w, const Tensor& weight, const Tensor& bias,
                               bool gelu) {
  if (!autograd::any_requires_grad({&x, &weight, &bias}))
    return ops::depthwise_conv2d_tokens(x, h, w, weight, bias, gelu);
  // Through the map, whose ops carry the gradients.
  CUDASEG_CHECK(x.dim() == 3 && weight.dim() == 4, "depthwise_conv2d_tokens: input ", shape_str(x.shape()),
                " and weight ", shape_str(weight.shape()), " are not tokens [N, h * w, C] and a [C, 1, k, k] kernel");
  const int64_t c = x.size(2), k = weight.size(2);
  ops::Conv2dParams p;
  p.padding = {k / 2, k / 2};
  p.groups = c;
  Tensor y = fn::conv2d(fn::reshape(fn::transpose(x, 1, 2), {x.size(0), c, h, w}), weight, bias, p);
  if (gelu) y = fn::gelu(y);
  return fn::transpose(fn::flatten(y, 2), 1, 2);
}

}  // namespace cudaseg::fn
