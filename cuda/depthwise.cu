// Depthwise convolution (groups == C, multiplier M = O / C), hand-written
// because cuDNN's grouped kernels are slow with one input channel per group.
// Each output plane reads a single input plane, so the work splits by planes:
// blockIdx.y walks the (n, channel) planes, and the threads of a block walk
// the elements of one plane, which keeps every thread of a block on the same
// kh*kw weights (broadcast loads) and its input reads coalesced along W.
// - forward: a thread per output element gathers its kh*kw window (+ bias).
// - backward-data: a thread per input element gathers, over the M output
//   channels of its input channel, the outputs whose window covers it (the
//   transposed gather: no scatter, no atomics).
// - backward-weight: a block per (o, kernel row, chunk of up to 16 kernel
//   columns) and slice of the output plane sums the products over N and its
//   slice, the chunk's taps in registers, then reduces them across the block
//   (warp shuffles + shared memory, fixed order); a second kernel adds the
//   slices' partial sums in order. Slicing keeps the device busy when O*kh is
//   small; the slice count depends only on the shapes, so results are
//   reproducible across runs and devices.
// Indices within a plane are 32-bit (the launcher checks that they fit);
// plane offsets are 64-bit.
#include <climits>

#include "cuda/common.cuh"
#include "cuda/depthwise.h"

namespace cudaseg::cuda {
namespace {

struct Geom {
  int n, c, h, w;  // image side
  int o, ho, wo;   // output side
  int kh, kw, sh, sw, ph, pw, dh, dw;
  int mult;  // output channels per input channel
};

constexpr int kTapChunk = 16;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kMaxGridY = 65535;

template <typename T>
__global__ void forward_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                               T* __restrict__ y, Geom g) {
  using A = acc_t<T>;
  const int64_t planes = static_cast<int64_t>(g.n) * g.o;
  const int out_plane = g.ho * g.wo;
  for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const int o = static_cast<int>(p % g.o);
    const int64_t n = p / g.o;
    const T* xp = x + (n * g.c + o / g.mult) * static_cast<int64_t>(g.h) * g.w;
    const T* wp = w + static_cast<int64_t>(o) * g.kh * g.kw;
    const A b = bias ? load(bias[o]) : A(0);
    T* yp = y + p * out_plane;
    for (int s = blockIdx.x * blockDim.x + threadIdx.x; s < out_plane; s += gridDim.x * blockDim.x) {
      const int oh = s / g.wo, ow = s - oh * g.wo;
      const int ih0 = oh * g.sh - g.ph, iw0 = ow * g.sw - g.pw;
      A acc = b;
      for (int i = 0; i < g.kh; ++i) {
        const int ih = ih0 + i * g.dh;
        if (ih < 0 || ih >= g.h) continue;
        const T* xrow = xp + static_cast<int64_t>(ih) * g.w;
        const T* wrow = wp + i * g.kw;
        for (int j = 0; j < g.kw; ++j) {
          const int iw = iw0 + j * g.dw;
          if (iw >= 0 && iw < g.w) acc += load(wrow[j]) * load(xrow[iw]);
        }
      }
      yp[s] = store<T>(acc);
    }
  }
}

template <typename T>
__global__ void backward_input_kernel(const T* __restrict__ gy, const T* __restrict__ w, T* __restrict__ gx,
                                      Geom g) {
  using A = acc_t<T>;
  const int64_t planes = static_cast<int64_t>(g.n) * g.c;
  const int in_plane = g.h * g.w, out_plane = g.ho * g.wo, kk = g.kh * g.kw;
  for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const int c = static_cast<int>(p % g.c);
    const int64_t n = p / g.c;
    // The M output planes and filters of input channel c are consecutive.
    const T* gyp = gy + (n * g.o + static_cast<int64_t>(c) * g.mult) * out_plane;
    const T* wp = w + static_cast<int64_t>(c) * g.mult * kk;
    T* gxp = gx + p * in_plane;
    for (int s = blockIdx.x * blockDim.x + threadIdx.x; s < in_plane; s += gridDim.x * blockDim.x) {
      const int ih = s / g.w, iw = s - ih * g.w;
      A acc = 0;
      for (int m = 0; m < g.mult; ++m) {
        const T* gym = gyp + static_cast<int64_t>(m) * out_plane;
        const T* wm = wp + m * kk;
        for (int i = 0; i < g.kh; ++i) {
          // Output row oh reads input row oh*sh - ph + i*dh; invert that.
          const int th = ih + g.ph - i * g.dh;
          if (th < 0) break;  // th only decreases with i
          if (th % g.sh != 0) continue;
          const int oh = th / g.sh;
          if (oh >= g.ho) continue;
          for (int j = 0; j < g.kw; ++j) {
            const int tw = iw + g.pw - j * g.dw;
            if (tw < 0) break;
            if (tw % g.sw != 0) continue;
            const int ow = tw / g.sw;
            if (ow < g.wo) acc += load(wm[i * g.kw + j]) * load(gym[oh * g.wo + ow]);
          }
        }
      }
      gxp[s] = store<T>(acc);
    }
  }
}

// Row r = (o * kh + i) * chunks + chunk; slice blockIdx.x covers output-plane
// positions [blockIdx.x * slice_len, +slice_len) of every image. Writes
// partial[blockIdx.x][o][i][j] for the chunk's columns j. Launched with
// kThreads threads.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    backward_weight_partial(const T* __restrict__ gy, const T* __restrict__ x, acc_t<T>* __restrict__ partial,
                            Geom g, int chunks, int slice_len) {
  using A = acc_t<T>;
  __shared__ A shared[kTapChunk][kWarps];
  const int out_plane = g.ho * g.wo;
  const int begin = blockIdx.x * slice_len;
  const int end = min(out_plane, begin + slice_len);
  const int64_t rows = static_cast<int64_t>(g.o) * g.kh * chunks;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int chunk = static_cast<int>(r % chunks);
    const int64_t oi = r / chunks;  // o * kh + i
    const int i = static_cast<int>(oi % g.kh), o = static_cast<int>(oi / g.kh);
    const int j0 = chunk * kTapChunk, nj = min(kTapChunk, g.kw - j0);
    A acc[kTapChunk];
#pragma unroll
    for (int t = 0; t < kTapChunk; ++t) acc[t] = A(0);
    for (int n = 0; n < g.n; ++n) {
      const T* gyp = gy + (static_cast<int64_t>(n) * g.o + o) * out_plane;
      const T* xp = x + (static_cast<int64_t>(n) * g.c + o / g.mult) * static_cast<int64_t>(g.h) * g.w;
      for (int s = begin + static_cast<int>(threadIdx.x); s < end; s += blockDim.x) {
        const int oh = s / g.wo, ow = s - oh * g.wo;
        const int ih = oh * g.sh - g.ph + i * g.dh;
        if (ih < 0 || ih >= g.h) continue;
        const A gv = load(gyp[s]);
        const T* xrow = xp + static_cast<int64_t>(ih) * g.w;
        const int iw0 = ow * g.sw - g.pw + j0 * g.dw;
#pragma unroll
        for (int t = 0; t < kTapChunk; ++t) {
          const int iw = iw0 + t * g.dw;
          if (t < nj && iw >= 0 && iw < g.w) acc[t] += gv * load(xrow[iw]);
        }
      }
    }
    // Every thread of the block reaches this point (r depends on blockIdx only).
#pragma unroll
    for (int t = 0; t < kTapChunk; ++t)
      for (int off = 16; off > 0; off /= 2) acc[t] += __shfl_down_sync(0xffffffffu, acc[t], off);
    if (lane == 0) {
#pragma unroll
      for (int t = 0; t < kTapChunk; ++t) shared[t][warp] = acc[t];
    }
    __syncthreads();
    if (static_cast<int>(threadIdx.x) < nj) {
      A sum = 0;
      for (int k = 0; k < kWarps; ++k) sum += shared[threadIdx.x][k];
      partial[(static_cast<int64_t>(blockIdx.x) * g.o * g.kh + oi) * g.kw + j0 + threadIdx.x] = sum;
    }
    __syncthreads();  // shared is rewritten for the next row
  }
}

template <typename T>
__global__ void backward_weight_finish(const acc_t<T>* __restrict__ partial, T* __restrict__ gw, int64_t count,
                                       int slices) {
  using A = acc_t<T>;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < count;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    A sum = 0;
    for (int s = 0; s < slices; ++s) sum += partial[s * count + k];
    gw[k] = store<T>(sum);
  }
}

std::string describe(const char* op, const Tensor& image, const Tensor& w, const Tensor& out, const ConvSpec& s) {
  return std::string(op) + " (depthwise) image " + shape_str(image.shape()) + " weight " + shape_str(w.shape()) +
         " output " + shape_str(out.shape()) + " stride " + shape_str({s.stride[0], s.stride[1]}) + " padding " +
         shape_str({s.padding[0], s.padding[1]}) + " dilation " + shape_str({s.dilation[0], s.dilation[1]}) + " " +
         dtype_name(image.dtype());
}

// image [N, C, H, W], w [O, 1, kh, kw], out [N, O, Ho, Wo], checked.
Geom make_geom(const Tensor& image, const Tensor& w, const Tensor& out, const ConvSpec& s, const std::string& where) {
  for (const Tensor* t : {&image, &w, &out})
    CUDASEG_CHECK(t->dim() == 4 && t->is_contiguous() && t->device().is_cuda() && t->dtype() == image.dtype(),
                  where, ": expected contiguous 4-D CUDA tensors of one dtype, got ", t->str());
  const int64_t n = image.size(0), c = image.size(1), h = image.size(2), wd = image.size(3);
  const int64_t o = out.size(1), ho = out.size(2), wo = out.size(3);
  CUDASEG_CHECK(out.size(0) == n && c >= 1 && s.groups == c && o % c == 0 && w.size(0) == o && w.size(1) == 1, where,
                ": not a depthwise convolution");
  // Half the int range, so that a grid-stride step past the end cannot overflow.
  const int64_t limit = INT_MAX / 2;
  CUDASEG_CHECK(n <= limit && o <= limit && h * wd <= limit && ho * wo <= limit && h + 2 * s.padding[0] <= limit &&
                    wd + 2 * s.padding[1] <= limit && (ho - 1) * s.stride[0] <= limit &&
                    (wo - 1) * s.stride[1] <= limit && (w.size(2) - 1) * s.dilation[0] <= limit &&
                    (w.size(3) - 1) * s.dilation[1] <= limit && w.size(2) * w.size(3) <= limit,
                where, ": too large for the 32-bit in-plane indexing of the depthwise kernels");
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return Geom{i(n), i(c), i(h), i(wd), i(o), i(ho), i(wo), i(w.size(2)), i(w.size(3)),
              i(s.stride[0]), i(s.stride[1]), i(s.padding[0]), i(s.padding[1]), i(s.dilation[0]), i(s.dilation[1]),
              i(o / c)};
}

// A grid whose y walks `planes` planes and whose x covers `plane` elements.
dim3 plane_grid(int64_t planes, int64_t plane) {
  return dim3(blocks_for(plane), static_cast<unsigned>(std::min<int64_t>(planes, kMaxGridY)));
}

}  // namespace

void depthwise_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y, const ConvSpec& spec) {
  const std::string where = describe("conv2d forward", x, w, y, spec);
  const Geom g = make_geom(x, w, y, spec, where);
  if (bias.defined())
    CUDASEG_CHECK(bias.is_contiguous() && bias.numel() == g.o && bias.dtype() == y.dtype(), where, ": bad bias ",
                  bias.str());
  if (y.numel() == 0) return;
  gpu::DeviceGuard guard(y.device().index);
  dispatch_floating("conv2d", y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    forward_kernel<T><<<plane_grid(int64_t{g.n} * g.o, int64_t{g.ho} * g.wo), kThreads, 0, stream_for(y)>>>(
        ptr<const T>(x), ptr<const T>(w), bias.defined() ? ptr<const T>(bias) : nullptr, ptr<T>(y), g);
  });
  CUDASEG_CUDA_LAUNCH_CHECK(where);
}

void depthwise_backward_input(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvSpec& spec) {
  const std::string where = describe("conv2d backward-input", gx, w, gy, spec);
  const Geom g = make_geom(gx, w, gy, spec, where);
  if (gx.numel() == 0) return;
  gpu::DeviceGuard guard(gx.device().index);
  dispatch_floating("conv2d_backward_input", gx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    backward_input_kernel<T><<<plane_grid(int64_t{g.n} * g.c, int64_t{g.h} * g.w), kThreads, 0, stream_for(gx)>>>(
        ptr<const T>(gy), ptr<const T>(w), ptr<T>(gx), g);
  });
  CUDASEG_CUDA_LAUNCH_CHECK(where);
}

void depthwise_backward_weight(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvSpec& spec) {
  const std::string where = describe("conv2d backward-weight", x, gw, gy, spec);
  const Geom g = make_geom(x, gw, gy, spec, where);
  if (gw.numel() == 0) return;
  const int64_t out_plane = int64_t{g.ho} * g.wo;
  const int chunks = (g.kw + kTapChunk - 1) / kTapChunk;
  const int64_t rows = int64_t{g.o} * g.kh * chunks;
  // Enough blocks to fill a large GPU, but at least ~8 positions per thread
  // and image in each slice.
  constexpr int64_t kTargetBlocks = 1024, kMinSlice = 8 * kThreads;
  const int64_t by_work = std::max<int64_t>(1, out_plane / kMinSlice);
  const int64_t by_fill = std::max<int64_t>(1, (kTargetBlocks + rows - 1) / rows);
  int64_t slices = std::min<int64_t>({by_work, by_fill, 1024});
  const int64_t slice_len = std::max<int64_t>(1, (out_plane + slices - 1) / slices);
  slices = std::max<int64_t>(1, (out_plane + slice_len - 1) / slice_len);
  gpu::DeviceGuard guard(gw.device().index);
  dispatch_floating("conv2d_backward_weight", gw.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const DType acc_dtype = std::is_same_v<A, double> ? DType::f64 : DType::f32;
    Tensor partial = Tensor::empty({slices, gw.numel()}, acc_dtype, gw.device());
    cudaStream_t stream = stream_for(gw);
    const dim3 grid(static_cast<unsigned>(slices), static_cast<unsigned>(std::min<int64_t>(rows, kMaxGridY)));
    backward_weight_partial<T><<<grid, kThreads, 0, stream>>>(ptr<const T>(gy), ptr<const T>(x), ptr<A>(partial), g,
                                                              chunks, static_cast<int>(slice_len));
    CUDASEG_CUDA_LAUNCH_CHECK(where);
    backward_weight_finish<T><<<blocks_for(gw.numel()), kThreads, 0, stream>>>(ptr<const A>(partial), ptr<T>(gw),
                                                                              gw.numel(), static_cast<int>(slices));
    CUDASEG_CUDA_LAUNCH_CHECK(where);
  });
}

}  // namespace cudaseg::cuda
