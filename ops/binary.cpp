#include "ops/binary.h"

#include "ops/common.h"
#include "ops/kernels/binary.h"

namespace cudaseg::ops {

Kernel<kernels::BinaryFn> kernels::binary("binary");
Kernel<kernels::AffineScalarFn> kernels::affine_scalar("affine_scalar");
Kernel<kernels::BinaryScalarFn> kernels::binary_scalar("binary_scalar");

namespace {

using kernels::BinaryOp;

void check_arith(const char* name, const Tensor& a) {
  CUDASEG_CHECK(a.dtype() != DType::boolean, name, ": arithmetic on a bool tensor ", a.str(),
                " is not supported");
}

Tensor binary(const char* name, BinaryOp op, const Tensor& a, const Tensor& b, double alpha) {
  check_defined(name, "input", a);
  check_defined(name, "other", b);
  check_same_device(name, {{"input", &a}, {"other", &b}});
  check_same_dtype(name, {{"input", &a}, {"other", &b}});
  check_arith(name, a);
  const Shape shape = broadcast_shapes(name, a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  kernels::binary(a.device(), op, a.expand(shape), b.expand(shape), alpha, out);
  return out;
}

Tensor affine(const char* name, const Tensor& a, double scale, double shift) {
  check_defined(name, "input", a);
  check_arith(name, a);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  kernels::affine_scalar(a.device(), a, scale, shift, out);
  return out;
}

Tensor scalar_op(const char* name, BinaryOp op, const Tensor& a, double s, bool scalar_first) {
  check_defined(name, "input", a);
  check_arith(name, a);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  kernels::binary_scalar(a.device(), op, a, s, scalar_first, out);
  return out;
}

void check_floating(const char* name, const Tensor& a) {
  CUDASEG_CHECK(is_floating(a.dtype()), name, ": expected a floating tensor, got ", a.str());
}

// True division promotes integers to the default float dtype, as PyTorch does.
Tensor as_floating(const Tensor& t) { return is_floating(t.dtype()) || !t.defined() ? t : t.to(DType::f32); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, double alpha) { return binary("add", BinaryOp::add, a, b, alpha); }
Tensor sub(const Tensor& a, const Tensor& b, double alpha) { return binary("sub", BinaryOp::sub, a, b, alpha); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary("mul", BinaryOp::mul, a, b, 1.0); }

Tensor div(const Tensor& a, const Tensor& b) {
  check_defined("div", "input", a);
  check_defined("div", "other", b);
  check_same_dtype("div", {{"input", &a}, {"other", &b}});
  return binary("div", BinaryOp::div, as_floating(a), as_floating(b), 1.0);
}

Tensor pow(const Tensor& a, const Tensor& b) {
  check_defined("pow", "input", a);
  check_floating("pow", a);
  return binary("pow", BinaryOp::pow, a, b, 1.0);
}

Tensor add(const Tensor& a, double b) { return affine("add", a, 1.0, b); }
Tensor sub(const Tensor& a, double b) { return scalar_op("sub", BinaryOp::sub, a, b, false); }
Tensor rsub(const Tensor& a, double b) { return scalar_op("rsub", BinaryOp::sub, a, b, true); }
Tensor mul(const Tensor& a, double b) { return affine("mul", a, b, 0.0); }

Tensor div(const Tensor& a, double b) {
  check_defined("div", "input", a);
  return scalar_op("div", BinaryOp::div, as_floating(a), b, false);
}

Tensor pow(const Tensor& a, double exponent) {
  check_defined("pow", "input", a);
  check_floating("pow", a);
  return scalar_op("pow", BinaryOp::pow, a, exponent, false);
}

}  // namespace cudaseg::ops
