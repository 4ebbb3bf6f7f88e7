#include "ops/dropout.h"

#include "ops/binary.h"
#include "ops/common.h"
#include "ops/kernels/dropout.h"

namespace cudaseg::ops {

Kernel<kernels::DropoutMaskFn> kernels::dropout_mask("dropout_mask");

namespace {

// x * mask with the mask broadcast to x's shape; checked here so that a
// mismatch names the dropout op and its mask rather than mul's operands.
Tensor masked(const char* op, const Tensor& x, const Tensor& mask) {
  check_same_device(op, {{"input", &x}, {"mask", &mask}});
  check_same_dtype(op, {{"input", &x}, {"mask", &mask}});
  return mul(x, mask);
}

DropoutResult apply_dropout(const char* op, const Tensor& input, const Shape& mask_shape, double p, bool training,
                            Generator& generator) {
  if (!training || p == 0) return {input, Tensor()};
  Tensor mask = Tensor::empty(mask_shape, input.dtype(), input.device());
  const uint64_t start = generator.advance(static_cast<uint64_t>(mask.numel()));
  kernels::dropout_mask(input.device(), generator.seed(), start, p, mask);
  return {masked(op, input, mask), mask};
}

void check_p(const char* op, const Tensor& input, double p) {
  check_float(op, "input", input);
  CUDASEG_CHECK(p >= 0 && p <= 1, op, ": probability p must be in [0, 1], got ", p, " (input ",
                shape_str(input.shape()), ")");
}

}  // namespace

DropoutResult dropout(const Tensor& input, double p, bool training, Generator& generator) {
  check_p("dropout", input, p);
  return apply_dropout("dropout", input, input.shape(), p, training, generator);
}

DropoutResult dropout2d(const Tensor& input, double p, bool training, Generator& generator) {
  check_p("dropout2d", input, p);
  CUDASEG_CHECK(input.dim() == 3 || input.dim() == 4, "dropout2d: expected input [N, C, H, W] or [N, C, L], got ",
                shape_str(input.shape()));
  Shape mask_shape(input.dim(), 1);
  mask_shape[0] = input.size(0);
  mask_shape[1] = input.size(1);
  return apply_dropout("dropout2d", input, mask_shape, p, training, generator);
}

Tensor dropout_backward(const Tensor& grad_output, const Tensor& mask) {
  check_defined("dropout_backward", "grad_output", grad_output);
  check_defined("dropout_backward", "mask", mask);
  return masked("dropout_backward", grad_output, mask);
}

}  // namespace cudaseg::ops
