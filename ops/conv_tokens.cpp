#include "ops/common.h"
#include "ops/conv.h"
#include "ops/kernels/conv.h"

namespace cudaseg::ops {

Kernel<kernels::DepthwiseTokensFn> kernels::depthwise_conv2d_tokens("depthwise_conv2d_tokens");

Tensor depthwise_conv2d_tokens(const Tensor& x, int64_t h, int64_t w, const Tensor& weight, const Tensor& bias,
                               bool gelu) {
  constexpr const char* op = "depthwise_conv2d_tokens";
  check_defined(op, "input", x);
  check_defined(op, "weight", weight);
  check_same_device(op, {{"input", &x}, {"weight", &weight}, {"bias", &bias}});
  check_same_dtype(op, {{"input", &x}, {"weight", &weight}, {"bias", &bias}});
  CUDASEG_CHECK(x.dim() == 3 && h >= 1 && w >= 1 && x.size(1) == h * w, op, ": input ", shape_str(x.shape()),
                " is not tokens [N, h * w, C] of a ", h, "x", w, " map");
  const int64_t c = x.size(2);
  CUDASEG_CHECK(weight.dim() == 4 && weight.size(0) == c && weight.size(1) == 1 && weight.size(2) == weight.size(3) &&
                    weight.size(2) % 2 == 1,
                op, ": weight ", shape_str(weight.shape()), " is not a depthwise [", c, ", 1, k, k] kernel of odd k");
  if (bias.defined())
    CUDASEG_CHECK(bias.dim() == 1 && bias.size(0) == c, op, ": bias ", shape_str(bias.shape()), " is not [", c, "]");
  const int64_t k = weight.size(2);
  if (kernels::depthwise_conv2d_tokens.has(x.device().type)) {
    Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
    kernels::depthwise_conv2d_tokens(x.device(), x.contiguous(), h, w, weight.contiguous(),
                                     bias.defined() ? bias.contiguous() : bias, gelu, y);
    return y;
  }
  Conv2dParams p;
  p.padding = {k / 2, k / 2};
  p.groups = c;
  ConvAct act;
  act.gelu = gelu;
  const Tensor map = x.transpose(1, 2).reshape({x.size(0), c, h, w});
  return conv2d_act(map, weight, bias, p, act).flatten(2).transpose(1, 2).contiguous();
}

}  // namespace cudaseg::ops
