// Nearest and bilinear upsampling on CUDA, forward and backward. The forward
// runs one thread per output element (grid-stride): it computes its source
// taps along each axis (a few flops, cheaper than a table lookup) and reads at
// most four inputs; consecutive threads are consecutive output columns, so
// stores coalesce and loads hit the same cache lines.
//
// The backward runs one thread per *input* element and gathers from the
// outputs that read it, so every gradient is written once, without atomics,
// and is the same on every run. Along each axis the source position of an
// output index never decreases with it, so the outputs whose taps touch input
// index i form one range, found by binary search over the same tap function the
// forward uses: for nearest, the outputs whose source is i; for bilinear, those
// whose first tap is i - 1 or i.
//
// Source coordinates follow the CPU kernels: nearest in float32 whatever
// the dtype (PyTorch's rule, so indices match exactly); bilinear in the
// accumulation type (float for float32/16-bit, as PyTorch's CUDA kernel; the
// CPU's double source coordinate differs by rounding only, and bilinear
// interpolation is continuous in it).
#include "cuda/common.cuh"
#include "ops/kernels/resize.h"

namespace cudaseg::cuda {
namespace {

__device__ __forceinline__ int64_t first_thread() { return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ int64_t thread_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// The first d in [lo, out) with key(d) > v, for a key that never decreases.
template <typename F>
__device__ int64_t first_above(int64_t lo, int64_t out, int64_t v, const F& key) {
  int64_t hi = out;
  while (lo < hi) {
    const int64_t m = lo + (hi - lo) / 2;
    if (key(m) > v) hi = m; else lo = m + 1;
  }
  return lo;
}

// ---- nearest ----

float nearest_scale(int64_t in, int64_t out, std::optional<double> scale) {
  return (scale && *scale > 0) ? static_cast<float>(1.0 / *scale) : static_cast<float>(in) / static_cast<float>(out);
}

struct NearestAxis {
  int64_t in;
  float scale;
  // min(floor(d * scale), in - 1) in float32; __fmul_rn keeps the one rounding.
  __device__ int64_t operator()(int64_t d) const {
    return min(static_cast<int64_t>(floorf(__fmul_rn(static_cast<float>(d), scale))), in - 1);
  }
};

template <typename T>
__global__ void nearest_kernel(const T* in, T* out, int64_t n, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                               NearestAxis ay, NearestAxis ax) {
  for (int64_t i = first_thread(); i < n; i += thread_stride()) {
    const int64_t ox = i % ow, oy = (i / ow) % oh, p = i / (ow * oh);
    out[i] = in[(p * ih + ay(oy)) * iw + ax(ox)];
  }
}

template <typename T>
__global__ void nearest_backward_kernel(const T* go, T* gi, int64_t n, int64_t ih, int64_t iw, int64_t oh,
                                        int64_t ow, NearestAxis ay, NearestAxis ax) {
  using A = acc_t<T>;
  for (int64_t j = first_thread(); j < n; j += thread_stride()) {
    const int64_t ix = j % iw, iy = (j / iw) % ih, p = j / (iw * ih);
    const int64_t oy0 = first_above(0, oh, iy - 1, ay), oy1 = first_above(oy0, oh, iy, ay);
    const int64_t ox0 = first_above(0, ow, ix - 1, ax), ox1 = first_above(ox0, ow, ix, ax);
    const T* dy = go + p * oh * ow;
    A acc = 0;
    for (int64_t oy = oy0; oy < oy1; ++oy)
      for (int64_t ox = ox0; ox < ox1; ++ox) acc += load(dy[oy * ow + ox]);
    gi[j] = store<T>(acc);
  }
}

// ---- bilinear ----

template <typename A>
struct Tap {
  int64_t i0, i1;
  A w0, w1;
};

// The ratio as the CPU kernel's linear_taps, in the accumulation type.
template <typename A>
A linear_ratio(int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  if (align_corners) return out > 1 ? static_cast<A>(in - 1) / static_cast<A>(out - 1) : A(0);
  return (scale && *scale > 0) ? static_cast<A>(1.0 / *scale) : static_cast<A>(in) / static_cast<A>(out);
}

template <typename A>
struct LinearAxis {
  int64_t in, out;
  bool align_corners;
  A ratio;
  // The two taps of output index d; an axis of unchanged size copies.
  __device__ Tap<A> tap(int64_t d) const {
    if (in == out) return {d, d, A(1), A(0)};
    const A fd = static_cast<A>(d);
    A src = align_corners ? ratio * fd : ratio * (fd + A(0.5)) - A(0.5);
    src = max(src, A(0));
    const int64_t i0 = min(static_cast<int64_t>(src), in - 1);
    const A w1 = min(src - static_cast<A>(i0), A(1));
    return {i0, i0 + (i0 < in - 1 ? 1 : 0), A(1) - w1, w1};
  }
  __device__ int64_t operator()(int64_t d) const { return tap(d).i0; }
  // The weight with which output d reads input i (0 when it does not).
  __device__ A weight(int64_t d, int64_t i) const {
    const Tap<A> t = tap(d);
    return (t.i0 == i ? t.w0 : A(0)) + (t.i1 == i ? t.w1 : A(0));
  }
};

template <typename T>
__global__ void bilinear_kernel(const T* in, T* out, int64_t n, LinearAxis<acc_t<T>> ay, LinearAxis<acc_t<T>> ax) {
  using A = acc_t<T>;
  for (int64_t i = first_thread(); i < n; i += thread_stride()) {
    const int64_t ox = i % ax.out, oy = (i / ax.out) % ay.out, p = i / (ax.out * ay.out);
    const Tap<A> ty = ay.tap(oy), tx = ax.tap(ox);
    const T* a = in + (p * ay.in + ty.i0) * ax.in;
    const T* b = in + (p * ay.in + ty.i1) * ax.in;
    // Along x first, then y: the CPU kernel's order.
    const A ra = load(a[tx.i0]) * tx.w0 + load(a[tx.i1]) * tx.w1;
    const A rb = load(b[tx.i0]) * tx.w0 + load(b[tx.i1]) * tx.w1;
    out[i] = store<T>(ra * ty.w0 + rb * ty.w1);
  }
}

template <typename T>
__global__ void bilinear_backward_kernel(const T* go, T* gi, int64_t n, LinearAxis<acc_t<T>> ay,
                                         LinearAxis<acc_t<T>> ax) {
  using A = acc_t<T>;
  const int64_t ih = ay.in, iw = ax.in, oh = ay.out, ow = ax.out;
  for (int64_t j = first_thread(); j < n; j += thread_stride()) {
    const int64_t ix = j % iw, iy = (j / iw) % ih, p = j / (iw * ih);
    // Outputs whose first tap is iy - 1 or iy: [first with i0 >= iy - 1, first with i0 > iy).
    const int64_t oy0 = first_above(0, oh, iy - 2, ay), oy1 = first_above(oy0, oh, iy, ay);
    const int64_t ox0 = first_above(0, ow, ix - 2, ax), ox1 = first_above(ox0, ow, ix, ax);
    const T* dy = go + p * oh * ow;
    A acc = 0;
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      A row = 0;
      for (int64_t ox = ox0; ox < ox1; ++ox) row += load(dy[oy * ow + ox]) * ax.weight(ox, ix);
      acc += row * ay.weight(oy, iy);
    }
    gi[j] = store<T>(acc);
  }
}

}  // namespace

void upsample_nearest2d(const Tensor& input, const Tensor& output, std::optional<double> scale_h,
                        std::optional<double> scale_w) {
  const int64_t n = output.numel();
  if (n == 0) return;
  const int64_t ih = input.size(2), iw = input.size(3), oh = output.size(2), ow = output.size(3);
  const NearestAxis ay{ih, nearest_scale(ih, oh, scale_h)}, ax{iw, nearest_scale(iw, ow, scale_w)};
  gpu::DeviceGuard guard(output.device().index);
  dispatch_floating("upsample_nearest2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    nearest_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(output)>>>(ptr<const T>(input), ptr<T>(output), n,
                                                                         ih, iw, oh, ow, ay, ax);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("upsample_nearest2d ", input.str(), " -> ", output.str());
}

void upsample_nearest2d_backward(const Tensor& grad_output, const Tensor& grad_input, std::optional<double> scale_h,
                                 std::optional<double> scale_w) {
  const int64_t n = grad_input.numel();
  if (n == 0) return;
  const int64_t ih = grad_input.size(2), iw = grad_input.size(3);
  const int64_t oh = grad_output.size(2), ow = grad_output.size(3);
  const NearestAxis ay{ih, nearest_scale(ih, oh, scale_h)}, ax{iw, nearest_scale(iw, ow, scale_w)};
  gpu::DeviceGuard guard(grad_input.device().index);
  dispatch_floating("upsample_nearest2d_backward", grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    nearest_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(grad_input)>>>(
        ptr<const T>(grad_output), ptr<T>(grad_input), n, ih, iw, oh, ow, ay, ax);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("upsample_nearest2d_backward ", grad_output.str(), " -> ", grad_input.str());
}

void upsample_bilinear2d(const Tensor& input, const Tensor& output, bool align_corners,
                         std::optional<double> scale_h, std::optional<double> scale_w) {
  const int64_t n = output.numel();
  if (n == 0) return;
  const int64_t ih = input.size(2), iw = input.size(3), oh = output.size(2), ow = output.size(3);
  gpu::DeviceGuard guard(output.device().index);
  dispatch_floating("upsample_bilinear2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const LinearAxis<A> ay{ih, oh, align_corners, linear_ratio<A>(ih, oh, align_corners, scale_h)};
    const LinearAxis<A> ax{iw, ow, align_corners, linear_ratio<A>(iw, ow, align_corners, scale_w)};
    bilinear_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(output)>>>(ptr<const T>(input), ptr<T>(output), n,
                                                                          ay, ax);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("upsample_bilinear2d ", input.str(), " -> ", output.str());
}

void upsample_bilinear2d_backward(const Tensor& grad_output, const Tensor& grad_input, bool align_corners,
                                  std::optional<double> scale_h, std::optional<double> scale_w) {
  const int64_t n = grad_input.numel();
  if (n == 0) return;
  const int64_t ih = grad_input.size(2), iw = grad_input.size(3);
  const int64_t oh = grad_output.size(2), ow = grad_output.size(3);
  gpu::DeviceGuard guard(grad_input.device().index);
  dispatch_floating("upsample_bilinear2d_backward", grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const LinearAxis<A> ay{ih, oh, align_corners, linear_ratio<A>(ih, oh, align_corners, scale_h)};
    const LinearAxis<A> ax{iw, ow, align_corners, linear_ratio<A>(iw, ow, align_corners, scale_w)};
    bilinear_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(grad_input)>>>(
        ptr<const T>(grad_output), ptr<T>(grad_input), n, ay, ax);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("upsample_bilinear2d_backward ", grad_output.str(), " -> ", grad_input.str());
}

CUDASEG_REGISTER_KERNEL(ops::kernels::upsample_nearest2d, cuda, upsample_nearest2d)
CUDASEG_REGISTER_KERNEL(ops::kernels::upsample_nearest2d_backward, cuda, upsample_nearest2d_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::upsample_bilinear2d, cuda, upsample_bilinear2d)
CUDASEG_REGISTER_KERNEL(ops::kernels::upsample_bilinear2d_backward, cuda, upsample_bilinear2d_backward)

}  // namespace cudaseg::cuda
