#include "ops/unary.h"

#include "ops/common.h"
#include "ops/kernels/unary.h"

namespace cudaseg::ops {

Kernel<kernels::UnaryFn> kernels::unary("unary");
Kernel<kernels::ClampFn> kernels::clamp("clamp");

namespace {

using kernels::UnaryOp;

Tensor unary(const char* name, UnaryOp op, const Tensor& x, bool floating_only) {
  check_defined(name, "input", x);
  CUDASEG_CHECK(x.dtype() != DType::boolean, name, ": not supported for bool input ", x.str());
  CUDASEG_CHECK(!floating_only || is_floating(x.dtype()), name, ": expected a floating tensor, got ",
                x.str());
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::unary(x.device(), op, x, out);
  return out;
}

}  // namespace

Tensor neg(const Tensor& x) { return unary("neg", UnaryOp::neg, x, false); }
Tensor abs(const Tensor& x) { return unary("abs", UnaryOp::abs, x, false); }
Tensor sign(const Tensor& x) { return unary("sign", UnaryOp::sign, x, false); }
Tensor sqrt(const Tensor& x) { return unary("sqrt", UnaryOp::sqrt, x, true); }
Tensor rsqrt(const Tensor& x) { return unary("rsqrt", UnaryOp::rsqrt, x, true); }
Tensor exp(const Tensor& x) { return unary("exp", UnaryOp::exp, x, true); }
Tensor log(const Tensor& x) { return unary("log", UnaryOp::log, x, true); }

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  check_defined("clamp", "input", x);
  CUDASEG_CHECK(min || max, "clamp: at least one of 'min' and 'max' must be given (input ",
                shape_str(x.shape()), ")");
  CUDASEG_CHECK(x.dtype() != DType::boolean, "clamp: not supported for bool input ", x.str());
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kernels::clamp(x.device(), x, min.has_value(), min.value_or(0.0), max.has_value(), max.value_or(0.0), out);
  return out;
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  check_defined("to_dtype", "input", x);
  return x.to(dtype);
}

}  // namespace cudaseg::ops
