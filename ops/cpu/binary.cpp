#include <array>

#include "ops/cpu/kernels.h"
#include "runtime/strided.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

// Arithmetic type for an element type: the 16-bit floats compute in float.
template <typename T>
using Compute = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

template <typename T, typename F>
void apply2(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  T* o = static_cast<T*>(out.storage()->data());
  const T* pa = static_cast<const T*>(a.storage()->data());
  const T* pb = static_cast<const T*>(b.storage()->data());
  if (a.is_contiguous() && b.is_contiguous() && out.is_contiguous()) {
    o += out.offset();
    pa += a.offset();
    pb += b.offset();
    parallel_for(0, out.numel(), 1 << 15, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) o[i] = f(pa[i], pb[i]);
    });
    return;
  }
  for_each_strided<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()},
                      {out.offset(), a.offset(), b.offset()},
                      [&](const std::array<int64_t, 3>& k) { o[k[0]] = f(pa[k[1]], pb[k[2]]); });
}

}  // namespace

void binary(BinaryOp op, const Tensor& a, const Tensor& b, double alpha, const Tensor& out) {
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      CUDASEG_FAIL("binary arithmetic on bool tensors is not supported");
    } else {
      using C = Compute<T>;
      const C al = static_cast<C>(alpha);
      switch (op) {
        case BinaryOp::add:
          if (alpha == 1.0)
            apply2<T>(a, b, out, [](T x, T y) { return T(C(x) + C(y)); });
          else
            apply2<T>(a, b, out, [al](T x, T y) { return T(C(x) + al * C(y)); });
          break;
        case BinaryOp::sub:
          if (alpha == 1.0)
            apply2<T>(a, b, out, [](T x, T y) { return T(C(x) - C(y)); });
          else
            apply2<T>(a, b, out, [al](T x, T y) { return T(C(x) - al * C(y)); });
          break;
        case BinaryOp::mul: apply2<T>(a, b, out, [](T x, T y) { return T(C(x) * C(y)); }); break;
        case BinaryOp::div: apply2<T>(a, b, out, [](T x, T y) { return T(C(x) / C(y)); }); break;
      }
    }
  });
}

void affine_scalar(const Tensor& a, double scale, double shift, const Tensor& out) {
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      CUDASEG_FAIL("scalar arithmetic on bool tensors is not supported");
    } else {
      using C = Compute<T>;
      const C sc = static_cast<C>(scale), sh = static_cast<C>(shift);
      apply2<T>(a, a, out, [sc, sh](T x, T) { return T(C(x) * sc + sh); });
    }
  });
}

void sum_rows(const Tensor& x, int64_t rows, int64_t reduce_count, const Tensor& out) {
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      CUDASEG_FAIL("sum of a bool tensor is not supported");
    } else {
      // Accumulate in double (or int64 for integers) so the reference is not
      // the least accurate party in a comparison.
      using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
      const T* px = x.data<T>();
      T* po = out.data<T>();
      parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(reduce_count, 1)),
                   [&](int64_t s, int64_t e) {
                     for (int64_t r = s; r < e; ++r) {
                       Acc acc = 0;
                       const T* row = px + r * reduce_count;
                       for (int64_t i = 0; i < reduce_count; ++i) acc += static_cast<Acc>(convert<double>(row[i]));
                       po[r] = convert<T>(acc);
                     }
                   });
    }
  });
}

}  // namespace cudaseg::ops::cpu
