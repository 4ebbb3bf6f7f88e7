// Comparisons and where() on CUDA: one thread per output element in a
// grid-stride loop, a flat path when every operand is contiguous and
// StridedOffsets for views and broadcasts. The comparison is a runtime field
// (uniform branch, memory-bound kernels) so there is one instantiation per
// dtype; where() only moves elements, so it dispatches on the element width.
#include "cuda/elementwise.cuh"
#include "ops/kernels/compare.h"

namespace cudaseg::cuda {
namespace {

using ops::kernels::CompareOp;
using ops::kernels::compare_values;

template <typename T>
struct CompareF {
  CompareOp op;
  __device__ bool operator()(T x, T y) const { return compare_values(op, to_compute(x), to_compute(y)); }
};

template <typename T>
struct CompareScalarF {
  CompareOp op;
  double s;
  __device__ bool operator()(T x) const { return compare_values(op, static_cast<double>(to_compute(x)), s); }
};

template <typename E>
__global__ void where_strided(E* out, const bool* cond, const E* a, const E* b, int64_t n, StridedOffsets<4> idx) {
  CUDASEG_GRID_STRIDE(i, n) {
    int64_t off[4];
    idx.get(i, off);
    out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]];
  }
}

const char* op_name(CompareOp op) {
  switch (op) {
    case CompareOp::eq: return "eq";
    case CompareOp::ne: return "ne";
    case CompareOp::lt: return "lt";
    case CompareOp::le: return "le";
    case CompareOp::gt: return "gt";
    case CompareOp::ge: return "ge";
  }
  return "compare";
}

}  // namespace

void compare(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const char* name = op_name(op);
  dispatch_any(name, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    launch_map2<bool, T, T>(name, out, a, b, CompareF<T>{op});
  });
}

void compare_scalar(CompareOp op, const Tensor& a, double s, const Tensor& out) {
  const char* name = op_name(op);
  dispatch_any(name, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    launch_map1<bool, T>(name, out, a, CompareScalarF<T>{op, s});
  });
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(out.device().index);
  // Broadcast operands are the rule here (a scalar branch, a mask per pixel), so
  // there is no flat path.
  const auto idx = make_offsets<4>(out.shape(), {&out, &cond, &a, &b}, "where");
  dispatch_by_size(out.dtype(), [&](auto tag) {
    using E = decltype(tag);
    where_strided<E><<<blocks_for(n), kThreads, 0, stream_for(out)>>>(ptr<E>(out), ptr<const bool>(cond),
                                                                      ptr<const E>(a), ptr<const E>(b), n, idx);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("where ", cond.str(), ", ", a.str(), ", ", b.str());
}

CUDASEG_REGISTER_KERNEL(ops::kernels::compare, cuda, compare)
CUDASEG_REGISTER_KERNEL(ops::kernels::compare_scalar, cuda, compare_scalar)
CUDASEG_REGISTER_KERNEL(ops::kernels::where, cuda, where)

}  // namespace cudaseg::cuda
