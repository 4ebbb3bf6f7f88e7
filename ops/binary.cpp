#include "ops/binary.h"

#include "ops/common.h"
#include "ops/cpu/kernels.h"

namespace cudaseg::ops {
namespace {

Tensor binary(const char* name, cpu::BinaryOp op, const Tensor& a, const Tensor& b, double alpha) {
  check_defined(name, "input", a);
  check_defined(name, "other", b);
  check_same_device(name, {{"input", &a}, {"other", &b}});
  check_same_dtype(name, {{"input", &a}, {"other", &b}});
  const Shape shape = broadcast_shapes(name, a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (a.device().is_cpu()) {
    cpu::binary(op, a.expand(shape), b.expand(shape), alpha, out);
    return out;
  }
  no_kernel(name, a);
}

Tensor affine(const char* name, const Tensor& a, double scale, double shift) {
  check_defined(name, "input", a);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (a.device().is_cpu()) {
    cpu::affine_scalar(a, scale, shift, out);
    return out;
  }
  no_kernel(name, a);
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, double alpha) { return binary("add", cpu::BinaryOp::add, a, b, alpha); }
Tensor sub(const Tensor& a, const Tensor& b, double alpha) { return binary("sub", cpu::BinaryOp::sub, a, b, alpha); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary("mul", cpu::BinaryOp::mul, a, b, 1.0); }
Tensor div(const Tensor& a, const Tensor& b) { return binary("div", cpu::BinaryOp::div, a, b, 1.0); }
Tensor add(const Tensor& a, double b) { return affine("add", a, 1.0, b); }
Tensor mul(const Tensor& a, double b) { return affine("mul", a, b, 0.0); }

}  // namespace cudaseg::ops
