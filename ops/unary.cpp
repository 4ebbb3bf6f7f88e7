#include "ops/unary.h"

#include "ops/common.h"
#include "ops/cpu/unary.h"

#include "cudaseg_config.h"
#if CUDASEG_WITH_CUDA
#include "cuda/unary.h"
#endif

namespace cudaseg::ops {
namespace {

Tensor unary(const char* name, cpu::UnaryOp op, const Tensor& x, bool floating_only) {
  check_defined(name, "input", x);
  CUDASEG_CHECK(x.dtype() != DType::boolean, name, ": not supported for bool input ", x.str());
  CUDASEG_CHECK(!floating_only || is_floating(x.dtype()), name, ": expected a floating tensor, got ",
                x.str());
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cpu()) {
    cpu::unary(op, x, out);
    return out;
  }
#if CUDASEG_WITH_CUDA
  cuda::unary(op, x, out);
  return out;
#else
  no_kernel(name, x);
#endif
}

}  // namespace

Tensor neg(const Tensor& x) { return unary("neg", cpu::UnaryOp::neg, x, false); }
Tensor abs(const Tensor& x) { return unary("abs", cpu::UnaryOp::abs, x, false); }
Tensor sign(const Tensor& x) { return unary("sign", cpu::UnaryOp::sign, x, false); }
Tensor sqrt(const Tensor& x) { return unary("sqrt", cpu::UnaryOp::sqrt, x, true); }
Tensor rsqrt(const Tensor& x) { return unary("rsqrt", cpu::UnaryOp::rsqrt, x, true); }
Tensor exp(const Tensor& x) { return unary("exp", cpu::UnaryOp::exp, x, true); }
Tensor log(const Tensor& x) { return unary("log", cpu::UnaryOp::log, x, true); }

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  check_defined("clamp", "input", x);
  CUDASEG_CHECK(min || max, "clamp: at least one of 'min' and 'max' must be given (input ",
                shape_str(x.shape()), ")");
  CUDASEG_CHECK(x.dtype() != DType::boolean, "clamp: not supported for bool input ", x.str());
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_cpu()) {
    cpu::clamp(x, min.has_value(), min.value_or(0.0), max.has_value(), max.value_or(0.0), out);
    return out;
  }
#if CUDASEG_WITH_CUDA
  cuda::clamp(x, min.has_value(), min.value_or(0.0), max.has_value(), max.value_or(0.0), out);
  return out;
#else
  no_kernel("clamp", x);
#endif
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  check_defined("to_dtype", "input", x);
  return x.to(dtype);
}

}  // namespace cudaseg::ops
