#include "ops/common.h"

namespace cudaseg::ops {

void check_defined(const char* op, const char* arg, const Tensor& t) {
  CUDASEG_CHECK(t.defined(), op, ": argument '", arg, "' is an undefined tensor");
}

void check_dim(const char* op, const char* arg, const Tensor& t, int64_t ndim) {
  check_defined(op, arg, t);
  CUDASEG_CHECK(t.dim() == ndim, op, ": expected '", arg, "' to have ", ndim, " dims, got shape ",
                shape_str(t.shape()));
}

void check_same_device(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> args) {
  const std::pair<const char*, const Tensor*>* first = nullptr;
  for (const auto& a : args) {
    if (!a.second->defined()) continue;
    if (!first) {
      first = &a;
      continue;
    }
    CUDASEG_CHECK(a.second->device() == first->second->device(), op, ": '", a.first, "' is on ",
                  a.second->device().str(), " but '", first->first, "' is on ",
                  first->second->device().str(), " (shapes ", shape_str(a.second->shape()), " and ",
                  shape_str(first->second->shape()), ")");
  }
}

void check_same_dtype(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> args) {
  const std::pair<const char*, const Tensor*>* first = nullptr;
  for (const auto& a : args) {
    if (!a.second->defined()) continue;
    if (!first) {
      first = &a;
      continue;
    }
    CUDASEG_CHECK(a.second->dtype() == first->second->dtype(), op, ": '", a.first, "' is ",
                  dtype_name(a.second->dtype()), " but '", first->first, "' is ",
                  dtype_name(first->second->dtype()));
  }
}

void check_float(const char* op, const char* arg, const Tensor& t) {
  check_defined(op, arg, t);
  CUDASEG_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64 || t.device().is_cuda(), op, ": '",
                arg, "' must be float32 or float64 on the CPU, got ", t.str());
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    CUDASEG_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                  " cannot be broadcast (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace cudaseg::ops
