// Device copies for the runtime: strided copy with dtype conversion, fill and
// the Philox fills. One thread per output element; the index is decomposed
// over at most kMaxDims dimensions passed by value, so no device metadata
// allocation is needed.
#include <cuda_runtime.h>

#include "runtime/cuda/check.h"
#include "runtime/cuda/kernels.h"
#include "runtime/gpu.h"
#include "runtime/philox.h"

namespace cudaseg::runtime_cuda {
namespace {

constexpr int kMaxDims = 12;
constexpr int kThreads = 256;

struct Geometry {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t dst_strides[kMaxDims];
  int64_t src_strides[kMaxDims];
};

Geometry make_geometry(const Tensor& dst, const Tensor* src) {
  CUDASEG_CHECK(dst.dim() <= kMaxDims, "CUDA copy: tensors of more than ", kMaxDims, " dims (got ",
                shape_str(dst.shape()), ")");
  Geometry g{};
  g.ndim = static_cast<int>(dst.dim());
  for (int d = 0; d < g.ndim; ++d) {
    g.shape[d] = dst.shape()[d];
    g.dst_strides[d] = dst.strides()[d];
    g.src_strides[d] = src ? src->strides()[d] : 0;
  }
  return g;
}

template <typename D, typename S>
__global__ void copy_kernel(D* dst, const S* src, Geometry g, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rest = i, d_off = 0, s_off = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      const int64_t idx = rest % g.shape[d];
      rest /= g.shape[d];
      d_off += idx * g.dst_strides[d];
      s_off += idx * g.src_strides[d];
    }
    dst[d_off] = convert<D>(src[s_off]);
  }
}

template <typename T>
__global__ void fill_kernel(T* dst, T value, Geometry g, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rest = i, off = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      off += (rest % g.shape[d]) * g.dst_strides[d];
      rest /= g.shape[d];
    }
    dst[off] = value;
  }
}

template <typename T>
__global__ void uniform_kernel(T* dst, int64_t n, uint64_t seed, uint64_t offset, float low, float span) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = convert<T>(philox::scaled_uniform(seed, offset + static_cast<uint64_t>(i), low, span));
}

template <typename T>
__global__ void normal_kernel(T* dst, int64_t n, uint64_t seed, uint64_t offset, float mean, float stddev) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = convert<T>(philox::scaled_normal(seed, offset + static_cast<uint64_t>(i), mean, stddev));
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(blocks, 1), 65535));
}

cudaStream_t stream_of(const Tensor& t) {
  return static_cast<cudaStream_t>(gpu::Stream::current(t.device().index).handle());
}

template <typename T>
constexpr bool is_float_type() {
  return std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, Half> ||
         std::is_same_v<T, BFloat16>;
}

}  // namespace

void copy_strided(const Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  CUDASEG_CHECK(dst.device() == src.device(), "CUDA copy: ", dst.str(), " from ", src.str());
  gpu::DeviceGuard guard(dst.device().index);
  const Geometry g = make_geometry(dst, &src);
  dispatch_dtype(dst.dtype(), [&](auto dtag) {
    using D = decltype(dtag);
    dispatch_dtype(src.dtype(), [&](auto stag) {
      using S = decltype(stag);
      copy_kernel<D, S><<<grid_for(n), kThreads, 0, stream_of(dst)>>>(
          static_cast<D*>(dst.storage()->data()) + dst.offset(),
          static_cast<const S*>(src.storage()->data()) + src.offset(), g, n);
    });
  });
  // The kernel walks from the views' element 0 with offsets already applied.
  CUDASEG_CUDA_LAUNCH_CHECK("copy ", src.str(), " -> ", dst.str());
}

void fill(const Tensor& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(dst.device().index);
  const Geometry g = make_geometry(dst, nullptr);
  dispatch_dtype(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<T><<<grid_for(n), kThreads, 0, stream_of(dst)>>>(
        static_cast<T*>(dst.storage()->data()) + dst.offset(), convert<T>(value), g, n);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("fill ", dst.str());
}

void philox_uniform(const Tensor& dst, uint64_t seed, uint64_t offset, double low, double high) {
  CUDASEG_CHECK(dst.is_contiguous(), "philox_uniform: destination must be contiguous");
  const int64_t n = dst.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(dst.device().index);
  dispatch_dtype(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_type<T>()) {
      uniform_kernel<T><<<grid_for(n), kThreads, 0, stream_of(dst)>>>(
          dst.data<T>(), n, seed, offset, static_cast<float>(low), static_cast<float>(high - low));
    } else {
      CUDASEG_FAIL("philox_uniform: needs a floating dtype, got ", dtype_name(dst.dtype()));
    }
  });
  CUDASEG_CUDA_LAUNCH_CHECK("philox_uniform ", dst.str());
}

void philox_normal(const Tensor& dst, uint64_t seed, uint64_t offset, double mean, double stddev) {
  CUDASEG_CHECK(dst.is_contiguous(), "philox_normal: destination must be contiguous");
  const int64_t n = dst.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(dst.device().index);
  dispatch_dtype(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float_type<T>()) {
      normal_kernel<T><<<grid_for(n), kThreads, 0, stream_of(dst)>>>(
          dst.data<T>(), n, seed, offset, static_cast<float>(mean), static_cast<float>(stddev));
    } else {
      CUDASEG_FAIL("philox_normal: needs a floating dtype, got ", dtype_name(dst.dtype()));
    }
  });
  CUDASEG_CUDA_LAUNCH_CHECK("philox_normal ", dst.str());
}

}  // namespace cudaseg::runtime_cuda
