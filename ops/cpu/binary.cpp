#include <array>
#include <cmath>

#include "ops/kernels/binary.h"
#include "ops/kernels/compare.h"
#include "runtime/strided.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

using kernels::BinaryOp;
using kernels::CompareOp;
using kernels::compare_values;

// Arithmetic type for an element type: the 16-bit floats compute in float.
template <typename T>
using Compute = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

template <typename T>
const T* base_ptr(const Tensor& t) {
  return static_cast<const T*>(t.storage()->data());
}

// out[i] = f(a[i], b[i]) over out's shape, with element types O, A, B.
template <typename O, typename A, typename B, typename F>
void apply2(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  O* o = static_cast<O*>(out.storage()->data());
  const A* pa = base_ptr<A>(a);
  const B* pb = base_ptr<B>(b);
  if (a.is_contiguous() && b.is_contiguous() && out.is_contiguous()) {
    o += out.offset();
    pa += a.offset();
    pb += b.offset();
    parallel_for(0, out.numel(), 1 << 15, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) o[i] = f(pa[i], pb[i]);
    });
    return;
  }
  // Broadcasts and views in rows: a channel or spatial attention's operand
  // steps by 0 along the row, a same-shaped one by 1; each pattern its own
  // loop the compiler vectorises.
  for_each_strided_row<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()},
                          {out.offset(), a.offset(), b.offset()},
                          [&](const std::array<int64_t, 3>& k, int64_t len, const std::array<int64_t, 3>& s) {
                            O* ro = o + k[0];
                            const A* ra = pa + k[1];
                            const B* rb = pb + k[2];
                            if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
                              for (int64_t i = 0; i < len; ++i) ro[i] = f(ra[i], rb[i]);
                            } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
                              const B bv = *rb;
                              for (int64_t i = 0; i < len; ++i) ro[i] = f(ra[i], bv);
                            } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
                              const A av = *ra;
                              for (int64_t i = 0; i < len; ++i) ro[i] = f(av, rb[i]);
                            } else {
                              for (int64_t i = 0; i < len; ++i) ro[i * s[0]] = f(ra[i * s[1]], rb[i * s[2]]);
                            }
                          });
}

template <typename C>
C apply_op(BinaryOp op, C x, C y, C alpha) {
  switch (op) {
    case BinaryOp::add: return x + alpha * y;
    case BinaryOp::sub: return x - alpha * y;
    case BinaryOp::mul: return x * y;
    case BinaryOp::div: return x / y;
    case BinaryOp::pow: return static_cast<C>(std::pow(x, y));
  }
  return x;
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
      // The common cases get their own loops so the compiler can vectorise them.
      if (op == BinaryOp::add && alpha == 1.0)
        apply2<T, T, T>(a, b, out, [](T x, T y) { return T(C(x) + C(y)); });
      else if (op == BinaryOp::sub && alpha == 1.0)
        apply2<T, T, T>(a, b, out, [](T x, T y) { return T(C(x) - C(y)); });
      else if (op == BinaryOp::mul)
        apply2<T, T, T>(a, b, out, [](T x, T y) { return T(C(x) * C(y)); });
      else
        apply2<T, T, T>(a, b, out, [op, al](T x, T y) { return T(apply_op<C>(op, C(x), C(y), al)); });
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
      apply2<T, T, T>(a, a, out, [sc, sh](T x, T) { return T(C(x) * sc + sh); });
    }
  });
}

void binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first, const Tensor& out) {
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      CUDASEG_FAIL("scalar arithmetic on bool tensors is not supported");
    } else {
      using C = Compute<T>;
      const C sc = static_cast<C>(s);
      if (scalar_first)
        apply2<T, T, T>(a, a, out, [op, sc](T x, T) { return T(apply_op<C>(op, sc, C(x), C(1))); });
      else
        apply2<T, T, T>(a, a, out, [op, sc](T x, T) { return T(apply_op<C>(op, C(x), sc, C(1))); });
    }
  });
}

void compare(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = std::conditional_t<std::is_same_v<T, bool>, bool, Compute<T>>;
    apply2<bool, T, T>(a, b, out, [op](T x, T y) { return compare_values<C>(op, C(x), C(y)); });
  });
}

void compare_scalar(CompareOp op, const Tensor& a, double s, const Tensor& out) {
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    apply2<bool, T, T>(a, a, out, [op, s](T x, T) { return compare_values<double>(op, convert<double>(x), s); });
  });
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = static_cast<T*>(out.storage()->data());
    const bool* pc = base_ptr<bool>(cond);
    const T* pa = base_ptr<T>(a);
    const T* pb = base_ptr<T>(b);
    for_each_strided<4>(out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()},
                        {out.offset(), cond.offset(), a.offset(), b.offset()},
                        [&](const std::array<int64_t, 4>& k) { o[k[0]] = pc[k[1]] ? pa[k[2]] : pb[k[3]]; });
  });
}

CUDASEG_REGISTER_KERNEL(kernels::binary, cpu, binary)
CUDASEG_REGISTER_KERNEL(kernels::affine_scalar, cpu, affine_scalar)
CUDASEG_REGISTER_KERNEL(kernels::binary_scalar, cpu, binary_scalar)
CUDASEG_REGISTER_KERNEL(kernels::compare, cpu, compare)
CUDASEG_REGISTER_KERNEL(kernels::compare_scalar, cpu, compare_scalar)
CUDASEG_REGISTER_KERNEL(kernels::where, cpu, where)

}  // namespace cudaseg::ops::cpu
