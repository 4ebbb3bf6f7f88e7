// Per-channel bias of convolutions: adding it and its gradient, on contiguous
// [N, O, H, W] tensors.
// - add: blockIdx.y walks the N*O planes, so a block reads one bias value,
//   and the threads of a block walk the plane's elements.
// - gradient: a block per (channel, slice of the H*W plane) sums its slice
//   over all N images (each thread a strided subset, then a fixed-order block
//   reduction through warp shuffles and shared memory) into a partial sum; a
//   second kernel adds the slices in order. Slicing fills the device when O
//   is small (a classifier's 19 channels); the slice count depends only on
//   the shape, so the result is reproducible. No atomics.
#include "cuda/common.cuh"
#include "ops/kernels/conv.h"

namespace cudaseg::cuda {
namespace {

constexpr unsigned kMaxGridY = 65535;

template <typename T>
__global__ void add_bias_kernel(T* __restrict__ y, const T* __restrict__ bias, int64_t planes, int64_t channels,
                                int64_t plane) {
  for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const acc_t<T> b = load(bias[p % channels]);
    T* yp = y + p * plane;
    for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < plane;
         k += static_cast<int64_t>(gridDim.x) * blockDim.x)
      yp[k] = store<T>(load(yp[k]) + b);
  }
}

// partial[blockIdx.x][o] = sum over n of gy[n, o, slice]; launched with kThreads threads.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    bias_grad_partial(const T* __restrict__ gy, acc_t<T>* __restrict__ partial, int64_t n, int64_t channels,
                      int64_t plane, int64_t slice_len) {
  using A = acc_t<T>;
  __shared__ A shared[kThreads / 32];
  const int64_t begin = blockIdx.x * slice_len;
  const int64_t end = min(plane, begin + slice_len);
  for (int64_t o = blockIdx.y; o < channels; o += gridDim.y) {
    A acc = 0;
    for (int64_t b = 0; b < n; ++b) {
      const T* row = gy + (b * channels + o) * plane;
      for (int64_t k = begin + threadIdx.x; k < end; k += blockDim.x) acc += load(row[k]);
    }
    // Every thread of the block reaches this point (o depends on blockIdx only).
    for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (threadIdx.x % 32 == 0) shared[threadIdx.x / 32] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
      A sum = 0;
      for (int k = 0; k < kThreads / 32; ++k) sum += shared[k];
      partial[blockIdx.x * channels + o] = sum;
    }
    __syncthreads();  // shared is rewritten for the next channel
  }
}

template <typename T>
__global__ void bias_grad_finish(const acc_t<T>* __restrict__ partial, T* __restrict__ gb, int64_t channels,
                                 int64_t slices) {
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < channels;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    acc_t<T> sum = 0;
    for (int64_t s = 0; s < slices; ++s) sum += partial[s * channels + o];
    gb[o] = store<T>(sum);
  }
}

void check_operands(const char* op, const Tensor& t, const Tensor& bias) {
  CUDASEG_CHECK(t.dim() == 4 && t.is_contiguous() && t.device().is_cuda() && bias.dim() == 1 &&
                    bias.is_contiguous() && bias.size(0) == t.size(1) && bias.dtype() == t.dtype() &&
                    bias.device() == t.device(),
                op, ": expected a contiguous 4-D CUDA tensor and a matching bias, got ", t.str(), " and ",
                bias.str());
}

}  // namespace

void add_channel_bias(const Tensor& y, const Tensor& bias) {
  const char* op = "conv bias add";
  check_operands(op, y, bias);
  if (y.numel() == 0) return;
  const int64_t planes = y.size(0) * y.size(1), plane = y.size(2) * y.size(3);
  gpu::DeviceGuard guard(y.device().index);
  dispatch_floating(op, y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const dim3 grid(blocks_for(plane), static_cast<unsigned>(std::min<int64_t>(planes, kMaxGridY)));
    add_bias_kernel<T><<<grid, kThreads, 0, stream_for(y)>>>(ptr<T>(y), ptr<const T>(bias), planes, y.size(1), plane);
  });
  CUDASEG_CUDA_LAUNCH_CHECK(op, " ", y.str(), " + ", bias.str());
}

void conv2d_backward_bias(const Tensor& gy, const Tensor& gb) {
  const char* op = "conv2d_backward_bias";
  check_operands(op, gy, gb);
  const int64_t channels = gy.size(1);
  if (channels == 0) return;
  const int64_t plane = gy.size(2) * gy.size(3);
  // Enough blocks to fill a large GPU, but at least ~8 elements per thread
  // and image in each slice.
  constexpr int64_t kTargetBlocks = 1024, kMinSlice = 8 * kThreads;
  const int64_t by_work = std::max<int64_t>(1, plane / kMinSlice);
  const int64_t by_fill = std::max<int64_t>(1, (kTargetBlocks + channels - 1) / channels);
  int64_t slices = std::min<int64_t>({by_work, by_fill, 1024});
  const int64_t slice_len = std::max<int64_t>(1, (plane + slices - 1) / slices);
  slices = std::max<int64_t>(1, (plane + slice_len - 1) / slice_len);
  gpu::DeviceGuard guard(gb.device().index);
  dispatch_floating(op, gb.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const DType acc_dtype = std::is_same_v<A, double> ? DType::f64 : DType::f32;
    Tensor partial = Tensor::empty({slices, channels}, acc_dtype, gb.device());
    cudaStream_t stream = stream_for(gb);
    const dim3 grid(static_cast<unsigned>(slices), static_cast<unsigned>(std::min<int64_t>(channels, kMaxGridY)));
    bias_grad_partial<T><<<grid, kThreads, 0, stream>>>(ptr<const T>(gy), ptr<A>(partial), gy.size(0), channels,
                                                        plane, slice_len);
    CUDASEG_CUDA_LAUNCH_CHECK(op, " ", gy.str());
    bias_grad_finish<T><<<blocks_for(channels), kThreads, 0, stream>>>(ptr<const A>(partial), ptr<T>(gb), channels,
                                                                      slices);
    CUDASEG_CUDA_LAUNCH_CHECK(op, " ", gy.str());
  });
}

CUDASEG_REGISTER_KERNEL(ops::kernels::conv2d_backward_bias, cuda, conv2d_backward_bias)
CUDASEG_REGISTER_KERNEL(ops::kernels::add_channel_bias, cuda, add_channel_bias)

}  // namespace cudaseg::cuda
