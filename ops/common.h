// Shared argument checks and dtype helpers of the op set. Every op checks its
// arguments first and throws cudaseg::Error naming itself, the argument and
// the shapes; then it calls its family's kernel table (ops/dispatch.h).
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::ops {

// Throws unless `t` is defined.
void check_defined(const char* op, const char* arg, const Tensor& t);
// Throws unless `t` has exactly `ndim` dims.
void check_dim(const char* op, const char* arg, const Tensor& t, int64_t ndim);
// Throws unless every defined tensor lives on the same device as the first.
void check_same_device(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> args);
// Throws unless every defined tensor has the first one's dtype.
void check_same_dtype(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> args);
// Throws unless the dtype is float32 or float64 (the CPU reference kernels' types).
void check_float(const char* op, const char* arg, const Tensor& t);

// NumPy/PyTorch broadcasting of two shapes, or an error naming `op`.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Calls f(T{}) for float or double, the dtypes of the CPU reference kernels.
template <typename F>
decltype(auto) dispatch_float(const char* op, DType dtype, F&& f) {
  if (dtype == DType::f32) return f(float{});
  if (dtype == DType::f64) return f(double{});
  CUDASEG_FAIL(op, ": the CPU kernel supports float32 and float64, got ", dtype_name(dtype));
}

}  // namespace cudaseg::ops
