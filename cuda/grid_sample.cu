// Bilinear grid_sample on CUDA, forward and backward, following PyTorch's
// grid_sampler_2d as the CPU kernel does, with the same index maths
// (ops/kernels/grid_sample_index.h). One thread per
// output location (n, y, x): the grid entry, its unnormalised coordinates and
// the four neighbour weights are shared by all channels, so the thread
// computes them once and loops over the channels. Consecutive threads are
// consecutive x, so the per-channel output loads and stores coalesce.
//
// The grid gradient is a per-location sum over the channels, written once by
// its thread. The input gradient is a scatter into four neighbours from an
// arbitrary grid, so it uses atomicAdd (float, or double for float64): as in
// PyTorch it is non-deterministic in the last bits. For the 16-bit dtypes the
// adds go into a float buffer, converted once at the end, so that rounding to
// 11/8-bit mantissas happens once rather than at every add.
#include "cuda/common.cuh"
#include "ops/kernels/grid_sample_index.h"
#include "ops/kernels/resize.h"

namespace cudaseg::cuda {
namespace {

__device__ __forceinline__ int64_t first_thread() { return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ int64_t thread_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

using ops::kernels::grid_sampling::Coord;
using ops::kernels::grid_sampling::source_coord;
using ops::kernels::grid_sampling::Taps;
using ops::kernels::grid_sampling::taps;

struct GridShape {
  int64_t n, c, h, w, oh, ow;
};

template <typename T>
__global__ void grid_sample_kernel(const T* in, const T* grid, T* out, GridShape s, bool border, bool align_corners) {
  using A = acc_t<T>;
  const int64_t locations = s.n * s.oh * s.ow, plane = s.oh * s.ow;
  for (int64_t l = first_thread(); l < locations; l += thread_stride()) {
    const int64_t b = l / plane, k = l % plane;
    const Coord<A> cx = source_coord(load(grid[2 * l]), s.w, border, align_corners);
    const Coord<A> cy = source_coord(load(grid[2 * l + 1]), s.h, border, align_corners);
    const Taps<A> t = taps(cx.pos, cy.pos, s.w, s.h);
    const A wnw = (1 - t.tx) * (1 - t.ty), wne = t.tx * (1 - t.ty), wsw = (1 - t.tx) * t.ty, wse = t.tx * t.ty;
    const int64_t nw = t.y0 * s.w + t.x0;
    for (int64_t ch = 0; ch < s.c; ++ch) {
      const T* x = in + (b * s.c + ch) * s.h * s.w;
      A v = 0;
      if (t.in_y0 && t.in_x0) v += load(x[nw]) * wnw;
      if (t.in_y0 && t.in_x1) v += load(x[nw + 1]) * wne;
      if (t.in_y1 && t.in_x0) v += load(x[nw + s.w]) * wsw;
      if (t.in_y1 && t.in_x1) v += load(x[nw + s.w + 1]) * wse;
      out[(b * s.c + ch) * plane + k] = store<T>(v);
    }
  }
}

// gi (accumulation type, zeroed) and gg may each be null: that gradient is not wanted.
template <typename T>
__global__ void grid_sample_backward_kernel(const T* go, const T* in, const T* grid, acc_t<T>* gi, T* gg, GridShape s,
                                            bool border, bool align_corners) {
  using A = acc_t<T>;
  const int64_t locations = s.n * s.oh * s.ow, plane = s.oh * s.ow;
  for (int64_t l = first_thread(); l < locations; l += thread_stride()) {
    const int64_t b = l / plane, k = l % plane;
    const Coord<A> cx = source_coord(load(grid[2 * l]), s.w, border, align_corners);
    const Coord<A> cy = source_coord(load(grid[2 * l + 1]), s.h, border, align_corners);
    const Taps<A> t = taps(cx.pos, cy.pos, s.w, s.h);
    const int64_t nw = t.y0 * s.w + t.x0;
    // d(out)/d(x) and d(out)/d(y) in pixels, summed over channels.
    A gx = 0, gy = 0;
    for (int64_t ch = 0; ch < s.c; ++ch) {
      const int64_t p = b * s.c + ch;
      const A d = load(go[p * plane + k]);
      if (gi) {
        A* dx = gi + p * s.h * s.w;
        if (t.in_y0 && t.in_x0) atomicAdd(dx + nw, (1 - t.tx) * (1 - t.ty) * d);
        if (t.in_y0 && t.in_x1) atomicAdd(dx + nw + 1, t.tx * (1 - t.ty) * d);
        if (t.in_y1 && t.in_x0) atomicAdd(dx + nw + s.w, (1 - t.tx) * t.ty * d);
        if (t.in_y1 && t.in_x1) atomicAdd(dx + nw + s.w + 1, t.tx * t.ty * d);
      }
      if (gg) {
        const T* x = in + p * s.h * s.w;
        const A vnw = t.in_y0 && t.in_x0 ? load(x[nw]) : A(0);
        const A vne = t.in_y0 && t.in_x1 ? load(x[nw + 1]) : A(0);
        const A vsw = t.in_y1 && t.in_x0 ? load(x[nw + s.w]) : A(0);
        const A vse = t.in_y1 && t.in_x1 ? load(x[nw + s.w + 1]) : A(0);
        gx += d * ((vne - vnw) * (1 - t.ty) + (vse - vsw) * t.ty);
        gy += d * ((vsw - vnw) * (1 - t.tx) + (vse - vne) * t.tx);
      }
    }
    if (gg) {
      gg[2 * l] = store<T>(gx * cx.grad);
      gg[2 * l + 1] = store<T>(gy * cy.grad);
    }
  }
}

template <typename T>
__global__ void narrow_kernel(const float* src, T* dst, int64_t n) {
  for (int64_t i = first_thread(); i < n; i += thread_stride()) dst[i] = store<T>(src[i]);
}

GridShape grid_shape(const Tensor& input, const Tensor& grid) {
  return {input.size(0), input.size(1), input.size(2), input.size(3), grid.size(1), grid.size(2)};
}

}  // namespace

void grid_sample(const Tensor& input, const Tensor& grid, const Tensor& output, bool border, bool align_corners) {
  const GridShape s = grid_shape(input, grid);
  const int64_t locations = s.n * s.oh * s.ow;
  if (output.numel() == 0) return;
  gpu::DeviceGuard guard(output.device().index);
  dispatch_floating("grid_sample", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    grid_sample_kernel<T><<<blocks_for(locations), kThreads, 0, stream_for(output)>>>(
        ptr<const T>(input), ptr<const T>(grid), ptr<T>(output), s, border, align_corners);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("grid_sample ", input.str(), ", grid ", grid.str());
}

void grid_sample_backward(const Tensor& grad_output, const Tensor& input, const Tensor& grid,
                          const Tensor& grad_input, const Tensor& grad_grid, bool border, bool align_corners) {
  const char* op = "grid_sample_backward";
  if (!grad_input.defined() && !grad_grid.defined()) return;
  const GridShape s = grid_shape(input, grid);
  const int64_t locations = s.n * s.oh * s.ow;
  const Tensor& like = grad_input.defined() ? grad_input : grad_grid;
  gpu::DeviceGuard guard(like.device().index);
  cudaStream_t stream = stream_for(like);
  dispatch_floating(op, input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    constexpr bool narrow = !std::is_same_v<T, A>;
    Tensor acc;  // the float buffer of a 16-bit grad_input
    A* gi = nullptr;
    if (grad_input.defined()) {
      acc = narrow ? Tensor::empty(grad_input.shape(), DType::f32, grad_input.device()) : grad_input;
      gi = ptr<A>(acc);
      CUDASEG_CUDA_CHECK(cudaMemsetAsync(gi, 0, acc.numel() * sizeof(A), stream), op, " ", grad_input.str());
    }
    if (locations > 0) {
      grid_sample_backward_kernel<T><<<blocks_for(locations), kThreads, 0, stream>>>(
          ptr<const T>(grad_output), ptr<const T>(input), ptr<const T>(grid), gi,
          grad_grid.defined() ? ptr<T>(grad_grid) : nullptr, s, border, align_corners);
      CUDASEG_CUDA_LAUNCH_CHECK(op, " ", grad_output.str(), ", input ", input.str(), ", grid ", grid.str());
    }
    if constexpr (narrow) {
      if (grad_input.defined() && acc.numel() > 0) {
        narrow_kernel<T><<<blocks_for(acc.numel()), kThreads, 0, stream>>>(ptr<const float>(acc),
                                                                           ptr<T>(grad_input), acc.numel());
        CUDASEG_CUDA_LAUNCH_CHECK(op, " ", grad_input.str());
      }
    }
  });
}

CUDASEG_REGISTER_KERNEL(ops::kernels::grid_sample, cuda, grid_sample)
CUDASEG_REGISTER_KERNEL(ops::kernels::grid_sample_backward, cuda, grid_sample_backward)

}  // namespace cudaseg::cuda
