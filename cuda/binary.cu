// Broadcasting binary arithmetic and the tensor-scalar forms on CUDA. One
// thread per output element in a grid-stride loop (the map launchers of
// elementwise.cuh): contiguous operands take a flat path with no index
// arithmetic, the rest (permuted, sliced, broadcast) go through
// StridedOffsets. 16-bit types compute in float and integers in themselves,
// as the CPU kernels do, so results differ from theirs only by rounding.
#include "cuda/elementwise.cuh"
#include "ops/kernels/binary.h"

namespace cudaseg::cuda {
namespace {

using ops::kernels::BinaryOp;

template <typename C>
__device__ __forceinline__ C pow_c(C x, C y) {
  if constexpr (std::is_same_v<C, float>) {
    return powf(x, y);
  } else {
    return ::pow(x, y);
  }
}

// The op is a runtime field: the branch is uniform across the grid and these
// kernels are bound by memory, so one instantiation per dtype serves all ops.
template <typename C>
__device__ __forceinline__ C apply_op(BinaryOp op, C x, C y, C alpha) {
  switch (op) {
    case BinaryOp::add: return x + alpha * y;
    case BinaryOp::sub: return x - alpha * y;
    case BinaryOp::mul: return x * y;
    case BinaryOp::div: return x / y;
    case BinaryOp::pow:
      if constexpr (std::is_floating_point_v<C>) return pow_c(x, y);
      break;
  }
  return x;
}

// Functors rather than device lambdas: nvcc cannot define those inside the
// generic lambdas of the dtype dispatch.
template <typename T>
struct BinaryF {
  BinaryOp op;
  compute_t<T> alpha;
  __device__ T operator()(T x, T y) const {
    return from_compute<T>(apply_op(op, to_compute(x), to_compute(y), alpha));
  }
};

template <typename T>
struct AffineF {
  compute_t<T> scale, shift;
  __device__ T operator()(T x) const { return from_compute<T>(to_compute(x) * scale + shift); }
};

template <typename T>
struct ScalarF {
  BinaryOp op;
  compute_t<T> s;
  bool scalar_first;
  __device__ T operator()(T x) const {
    const compute_t<T> v = to_compute(x), one = 1;
    return from_compute<T>(scalar_first ? apply_op(op, s, v, one) : apply_op(op, v, s, one));
  }
};

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
    case BinaryOp::pow: return "pow";
  }
  return "binary";
}

void check_integer_op(BinaryOp op, const Tensor& t) {
  CUDASEG_CHECK(is_floating(t.dtype()) || (op != BinaryOp::div && op != BinaryOp::pow), op_name(op),
                ": CUDA kernel needs a floating dtype, got ", t.str());
}

}  // namespace

void binary(BinaryOp op, const Tensor& a, const Tensor& b, double alpha, const Tensor& out) {
  const char* name = op_name(op);
  check_integer_op(op, out);
  dispatch_numeric(name, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = compute_t<T>;
    launch_map2<T, T, T>(name, out, a, b, BinaryF<T>{op, static_cast<C>(alpha)});
  });
}

void affine_scalar(const Tensor& a, double scale, double shift, const Tensor& out) {
  dispatch_numeric("affine", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = compute_t<T>;
    launch_map1<T, T>("affine", out, a, AffineF<T>{static_cast<C>(scale), static_cast<C>(shift)});
  });
}

void binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first, const Tensor& out) {
  const char* name = op_name(op);
  check_integer_op(op, out);
  dispatch_numeric(name, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = compute_t<T>;
    launch_map1<T, T>(name, out, a, ScalarF<T>{op, static_cast<C>(s), scalar_first});
  });
}

CUDASEG_REGISTER_KERNEL(ops::kernels::binary, cuda, binary)
CUDASEG_REGISTER_KERNEL(ops::kernels::affine_scalar, cuda, affine_scalar)
CUDASEG_REGISTER_KERNEL(ops::kernels::binary_scalar, cuda, binary_scalar)

}  // namespace cudaseg::cuda
