#include "ops/compare.h"

#include "ops/common.h"
#include "ops/cpu/kernels.h"

#include "cudaseg_config.h"
#if CUDASEG_WITH_CUDA
#include "cuda/compare.h"
#endif

namespace cudaseg::ops {
namespace {

Tensor compare(const char* name, cpu::CompareOp op, const Tensor& a, const Tensor& b) {
  check_defined(name, "input", a);
  check_defined(name, "other", b);
  check_same_device(name, {{"input", &a}, {"other", &b}});
  check_same_dtype(name, {{"input", &a}, {"other", &b}});
  const Shape shape = broadcast_shapes(name, a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, DType::boolean, a.device());
  if (a.device().is_cpu()) {
    cpu::compare(op, a.expand(shape), b.expand(shape), out);
    return out;
  }
#if CUDASEG_WITH_CUDA
  cuda::compare(op, a.expand(shape), b.expand(shape), out);
  return out;
#else
  no_kernel(name, a);
#endif
}

Tensor compare(const char* name, cpu::CompareOp op, const Tensor& a, double b) {
  check_defined(name, "input", a);
  Tensor out = Tensor::empty(a.shape(), DType::boolean, a.device());
  if (a.device().is_cpu()) {
    cpu::compare_scalar(op, a, b, out);
    return out;
  }
#if CUDASEG_WITH_CUDA
  cuda::compare_scalar(op, a, b, out);
  return out;
#else
  no_kernel(name, a);
#endif
}

}  // namespace

Tensor eq(const Tensor& a, const Tensor& b) { return compare("eq", cpu::CompareOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare("ne", cpu::CompareOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare("lt", cpu::CompareOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare("le", cpu::CompareOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare("gt", cpu::CompareOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare("ge", cpu::CompareOp::ge, a, b); }
Tensor eq(const Tensor& a, double b) { return compare("eq", cpu::CompareOp::eq, a, b); }
Tensor ne(const Tensor& a, double b) { return compare("ne", cpu::CompareOp::ne, a, b); }
Tensor lt(const Tensor& a, double b) { return compare("lt", cpu::CompareOp::lt, a, b); }
Tensor le(const Tensor& a, double b) { return compare("le", cpu::CompareOp::le, a, b); }
Tensor gt(const Tensor& a, double b) { return compare("gt", cpu::CompareOp::gt, a, b); }
Tensor ge(const Tensor& a, double b) { return compare("ge", cpu::CompareOp::ge, a, b); }

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
  if (a.device().is_cpu()) {
    cpu::where(cond.expand(shape), a.expand(shape), b.expand(shape), out);
    return out;
  }
#if CUDASEG_WITH_CUDA
  cuda::where(cond.expand(shape), a.expand(shape), b.expand(shape), out);
  return out;
#else
  no_kernel("where", a);
#endif
}

}  // namespace cudaseg::ops
