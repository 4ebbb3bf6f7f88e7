// Elementwise unary math on CUDA: one thread per element in a grid-stride
// loop (map1 of elementwise.cuh), a flat path for contiguous input and
// StridedOffsets for views. The op is a runtime field of one functor per
// dtype: the branch is uniform across the grid and the kernels are bound by
// memory, so this keeps the instantiations few at no measurable cost.
#include "cuda/elementwise.cuh"
#include "ops/kernels/unary.h"

namespace cudaseg::cuda {
namespace {

using ops::kernels::UnaryOp;

template <typename C>
__device__ __forceinline__ C transcendental(UnaryOp op, C v) {
  if constexpr (std::is_same_v<C, float>) {
    switch (op) {
      case UnaryOp::sqrt: return sqrtf(v);
      case UnaryOp::rsqrt: return 1.0f / sqrtf(v);  // as the CPU: 1 / sqrt, not the approximate rsqrtf
      case UnaryOp::exp: return expf(v);
      case UnaryOp::log: return logf(v);
      default: return v;
    }
  } else {
    switch (op) {
      case UnaryOp::sqrt: return ::sqrt(v);
      case UnaryOp::rsqrt: return 1.0 / ::sqrt(v);
      case UnaryOp::exp: return ::exp(v);
      case UnaryOp::log: return ::log(v);
      default: return v;
    }
  }
}

template <typename T>
struct UnaryF {
  UnaryOp op;
  __device__ T operator()(T x) const {
    using C = compute_t<T>;
    const C v = to_compute(x);
    switch (op) {
      case UnaryOp::neg: return from_compute<T>(-v);
      case UnaryOp::abs: return from_compute<T>(v < C(0) ? -v : v);
      case UnaryOp::sign: return from_compute<T>(static_cast<C>((C(0) < v) - (v < C(0))));
      default:
        if constexpr (std::is_floating_point_v<C>) {
          return from_compute<T>(transcendental(op, v));
        } else {
          return x;  // refused on the host: integers take neg, abs and sign only
        }
    }
  }
};

template <typename T>
struct ClampF {
  bool has_lo, has_hi;
  compute_t<T> lo, hi;
  __device__ T operator()(T x) const {
    compute_t<T> r = to_compute(x);
    // NaN propagates: neither comparison holds for it.
    if (has_lo && r < lo) r = lo;
    if (has_hi && r > hi) r = hi;
    return from_compute<T>(r);
  }
};

const char* op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return "neg";
    case UnaryOp::abs: return "abs";
    case UnaryOp::sign: return "sign";
    case UnaryOp::sqrt: return "sqrt";
    case UnaryOp::rsqrt: return "rsqrt";
    case UnaryOp::exp: return "exp";
    case UnaryOp::log: return "log";
  }
  return "unary";
}

}  // namespace

void unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  const char* name = op_name(op);
  const bool transcendental_op = op != UnaryOp::neg && op != UnaryOp::abs && op != UnaryOp::sign;
  CUDASEG_CHECK(!transcendental_op || is_floating(x.dtype()), name, ": CUDA kernel needs a floating dtype, got ",
                x.str());
  dispatch_numeric(name, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    launch_map1<T, T>(name, out, x, UnaryF<T>{op});
  });
}

void clamp(const Tensor& x, bool has_lo, double lo, bool has_hi, double hi, const Tensor& out) {
  dispatch_numeric("clamp", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = compute_t<T>;
    launch_map1<T, T>("clamp", out, x, ClampF<T>{has_lo, has_hi, static_cast<C>(lo), static_cast<C>(hi)});
  });
}

CUDASEG_REGISTER_KERNEL(ops::kernels::unary, cuda, unary)
CUDASEG_REGISTER_KERNEL(ops::kernels::clamp, cuda, clamp)

}  // namespace cudaseg::cuda
