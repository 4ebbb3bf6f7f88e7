#include <array>
#include <cmath>

#include "ops/kernels/unary.h"
#include "runtime/strided.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

using kernels::UnaryOp;

template <typename T>
using Compute = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

// out[i] = f(x[i]); out is contiguous.
template <typename T, typename F>
void map(const Tensor& x, const Tensor& out, F f) {
  T* o = out.data<T>();
  if (x.is_contiguous()) {
    const T* px = x.data<T>();
    parallel_for(0, out.numel(), 1 << 15, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) o[i] = f(px[i]);
    });
    return;
  }
  const T* base = static_cast<const T*>(x.storage()->data());
  for_each_strided<2>(x.shape(), {&out.strides(), &x.strides()}, {0, x.offset()},
                      [&](const std::array<int64_t, 2>& k) { o[k[0]] = f(base[k[1]]); });
}

}  // namespace

void unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      CUDASEG_FAIL("unary math on bool tensors is not supported");
    } else {
      using C = Compute<T>;
      switch (op) {
        case UnaryOp::neg:
          map<T>(x, out, [](T v) { return T(-C(v)); });
          break;
        case UnaryOp::abs:
          map<T>(x, out, [](T v) { return T(C(v) < C(0) ? -C(v) : C(v)); });
          break;
        case UnaryOp::sign:
          map<T>(x, out, [](T v) { return T(C((C(0) < C(v)) - (C(v) < C(0)))); });
          break;
        case UnaryOp::sqrt:
          map<T>(x, out, [](T v) { return T(C(std::sqrt(C(v)))); });
          break;
        case UnaryOp::rsqrt:
          map<T>(x, out, [](T v) { return T(C(1) / C(std::sqrt(C(v)))); });
          break;
        case UnaryOp::exp:
          map<T>(x, out, [](T v) { return T(C(std::exp(C(v)))); });
          break;
        case UnaryOp::log:
          map<T>(x, out, [](T v) { return T(C(std::log(C(v)))); });
          break;
      }
    }
  });
}

void clamp(const Tensor& x, bool has_lo, double lo, bool has_hi, double hi, const Tensor& out) {
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      CUDASEG_FAIL("clamp on bool tensors is not supported");
    } else {
      using C = Compute<T>;
      const C l = static_cast<C>(lo), h = static_cast<C>(hi);
      // NaN propagates: neither comparison holds for it.
      map<T>(x, out, [=](T v) {
        C r = C(v);
        if (has_lo && r < l) r = l;
        if (has_hi && r > h) r = h;
        return T(r);
      });
    }
  });
}

CUDASEG_REGISTER_KERNEL(kernels::unary, cpu, unary)
CUDASEG_REGISTER_KERNEL(kernels::clamp, cpu, clamp)

}  // namespace cudaseg::ops::cpu
