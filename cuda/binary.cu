// Broadcasting binary arithmetic and scalar affine maps on CUDA. One thread
// per output element in a grid-stride loop; contiguous operands take a flat
// path with no index arithmetic, the rest go through StridedOffsets.
#include "cuda/binary.h"
#include "cuda/indexing.cuh"

namespace cudaseg::cuda {
namespace {

template <typename T, typename F>
__global__ void binary_flat(T* out, const T* a, const T* b, int64_t n, F f) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = store<T>(f(load(a[i]), load(b[i])));
}

template <typename T, typename F>
__global__ void binary_strided(T* out, const T* a, const T* b, int64_t n, StridedOffsets<3> idx, F f) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[3];
    idx.get(i, off);
    out[off[0]] = store<T>(f(load(a[off[1]]), load(b[off[2]])));
  }
}

template <typename T, typename F>
void launch(const Tensor& a, const Tensor& b, const Tensor& out, F f, const char* op) {
  const int64_t n = out.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(out.device().index);
  cudaStream_t stream = stream_for(out);
  if (a.is_contiguous() && b.is_contiguous() && out.is_contiguous()) {
    binary_flat<T><<<blocks_for(n), kThreads, 0, stream>>>(ptr<T>(out), ptr<const T>(a), ptr<const T>(b), n, f);
  } else {
    const auto idx = make_offsets<3>(out.shape(), {&out, &a, &b}, op);
    binary_strided<T><<<blocks_for(n), kThreads, 0, stream>>>(ptr<T>(out), ptr<const T>(a), ptr<const T>(b), n,
                                                               idx, f);
  }
  CUDASEG_CUDA_LAUNCH_CHECK(op, " ", a.str(), ", ", b.str());
}

// Functors rather than device lambdas: nvcc cannot define those inside the
// generic lambdas of the dtype dispatch.
template <typename A>
struct AddF {
  A alpha;
  __device__ A operator()(A x, A y) const { return x + alpha * y; }
};
template <typename A>
struct MulF {
  __device__ A operator()(A x, A y) const { return x * y; }
};
template <typename A>
struct DivF {
  __device__ A operator()(A x, A y) const { return x / y; }
};
template <typename A>
struct AffineF {
  A scale, shift;
  __device__ A operator()(A x, A) const { return x * scale + shift; }
};

}  // namespace

void binary(BinaryOp op, const Tensor& a, const Tensor& b, double alpha, const Tensor& out) {
  const char* name = op == BinaryOp::add ? "add" : op == BinaryOp::sub ? "sub" : op == BinaryOp::mul ? "mul" : "div";
  dispatch_floating(name, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    switch (op) {
      case BinaryOp::add: launch<T>(a, b, out, AddF<A>{static_cast<A>(alpha)}, name); break;
      case BinaryOp::sub: launch<T>(a, b, out, AddF<A>{static_cast<A>(-alpha)}, name); break;
      case BinaryOp::mul: launch<T>(a, b, out, MulF<A>{}, name); break;
      case BinaryOp::div: launch<T>(a, b, out, DivF<A>{}, name); break;
    }
  });
}

void affine_scalar(const Tensor& a, double scale, double shift, const Tensor& out) {
  dispatch_floating("affine", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    launch<T>(a, a, out, AffineF<A>{static_cast<A>(scale), static_cast<A>(shift)}, "affine");
  });
}

}  // namespace cudaseg::cuda
