#include "ops/compare.h"

#include "ops/common.h"
#include "ops/kernels/compare.h"

namespace cudaseg::ops {

Kernel<kernels::CompareFn> kernels::compare("compare");
Kernel<kernels::CompareScalarFn> kernels::compare_scalar("compare_scalar");
Kernel<kernels::WhereFn> kernels::where("where");

using kernels::CompareOp;

namespace {

Tensor compare(const char* name, CompareOp op, const Tensor& a, const Tensor& b) {
  check_defined(name, "input", a);
  check_defined(name, "other", b);
  check_same_device(name, {{"input", &a}, {"other", &b}});
  check_same_dtype(name, {{"input", &a}, {"other", &b}});
  const Shape shape = broadcast_shapes(name, a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, DType::boolean, a.device());
  kernels::compare(a.device(), op, a.expand(shape), b.expand(shape), out);
  return out;
}

Tensor compare(const char* name, CompareOp op, const Tensor& a, double b) {
  check_defined(name, "input", a);
  Tensor out = Tensor::empty(a.shape(), DType::boolean, a.device());
  kernels::compare_scalar(a.device(), op, a, b, out);
  return out;
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare("eq", CompareOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare("ne", CompareOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare("lt", CompareOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare("le", CompareOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare("gt", CompareOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare("ge", CompareOp::ge, a, b); }
Tensor eq(const Tensor& a, double b) { return compare("eq", CompareOp::eq, a, b); }
Tensor ne(const Tensor& a, double b) { return compare("ne", CompareOp::ne, a, b); }
Tensor lt(const Tensor& a, double b) { return compare("lt", CompareOp::lt, a, b); }
Tensor le(const Tensor& a, double b) { return compare("le", CompareOp::le, a, b); }
Tensor gt(const Tensor& a, double b) { return compare("gt", CompareOp::gt, a, b); }
Tensor ge(const Tensor& a, double b) { return compare("ge", CompareOp::ge, a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined("where", "condition", cond);
  check_defined("where", "input", a);
  check_defined("where", "other", b);
  CUDASEG_CHECK(cond.dtype() == DType::boolean, "where: condition must be a bool tensor, got ", cond.str());
  check_same_device("where", {{"condition", &cond}, {"input", &a}, {"other", &b}});
  check_same_dtype("where", {{"input", &a}, {"other", &b}});
  const Shape shape =
      broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  kernels::where(a.device(), cond.expand(shape), a.expand(shape), b.expand(shape), out);
  return out;
}

}  // namespace cudaseg::ops
