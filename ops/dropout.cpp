#include "ops/dropout.h"

#include "cudaseg_config.h"
#include "ops/binary.h"
#include "ops/common.h"
#include "ops/cpu/dropout.h"
#if CUDASEG_WITH_CUDA
#include "cuda/binary.h"
#include "cuda/dropout.h"
#endif

namespace cudaseg::ops {
namespace {

#if CUDASEG_WITH_CUDA
// x * mask with the mask broadcast to x's shape, by the CUDA binary kernel.
Tensor masked(const char* op, const Tensor& x, const Tensor& mask) {
  check_same_device(op, {{"input", &x}, {"mask", &mask}});
  check_same_dtype(op, {{"input", &x}, {"mask", &mask}});
  const Shape shape = broadcast_shapes(op, x.shape(), mask.shape());
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  cuda::binary(cuda::BinaryOp::mul, x.expand(shape), mask.expand(shape), 1.0, out);
  return out;
}
#endif

DropoutResult apply_dropout(const char* op, const Tensor& input, const Shape& mask_shape, double p, bool training,
                            Generator& generator) {
  if (!training || p == 0) return {input, Tensor()};
#if !CUDASEG_WITH_CUDA
  if (!input.device().is_cpu()) no_kernel(op, input);
#endif
  Tensor mask = Tensor::empty(mask_shape, input.dtype(), input.device());
  const uint64_t start = generator.advance(static_cast<uint64_t>(mask.numel()));
#if CUDASEG_WITH_CUDA
  if (input.device().is_cuda()) {
    cuda::dropout_mask(generator.seed(), start, p, mask);
    return {masked(op, input, mask), mask};
  }
#endif
  cpu::dropout_mask(generator.seed(), start, p, mask);
  return {mul(input, mask), mask};
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
#if CUDASEG_WITH_CUDA
  if (grad_output.device().is_cuda()) return masked("dropout_backward", grad_output, mask);
#endif
  return mul(grad_output, mask);
}

}  // namespace cudaseg::ops
