// Pooling on CUDA, forward and backward. Forward kernels run one thread per
// output element (grid-stride), which scans its window: windows are small and
// neighbouring threads read neighbouring inputs, so loads coalesce. Backward
// kernels run one thread per *input* element, which gathers from the outputs
// whose windows cover it (avg and adaptive avg: that set is an index range
// computed from the geometry), so every gradient is written once, without
// floating-point atomics, and is the same on every run.
//
// max_pool2d_backward receives only indices (they may come from max_pool2d or
// adaptive_max_pool2d, with no geometry), so it derives the windows from the
// indices themselves: two small passes find, for every input row and column,
// the range of output rows and columns whose indices reach it (integer
// atomics on arrays of H + W entries; about kernel/stride wide for pooling),
// and each input element then sums the outputs in those ranges whose saved
// index names it, in increasing output order: the CPU kernel's order, so
// float32/float64 results are bitwise those of the CPU. max_unpool2d resolves
// repeated indices ("the last wins") with an integer atomicMax of the input
// position per output slot, also deterministic.
//
// Out-of-plane indices are reported through a flag in device memory that the
// launcher reads back (a stream synchronisation); while the stream is being
// captured into a CUDA graph nothing may wait, so the read-back is skipped and
// such indices are ignored by the kernels.
#include <climits>
#include <optional>

#include "cuda/common.cuh"
#include "ops/kernels/pool.h"

namespace cudaseg::cuda {
namespace {

using ops::kernels::PoolGeometry;

__device__ __forceinline__ int64_t first_thread() { return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ int64_t thread_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

template <typename A>
__device__ __forceinline__ bool beats(A v, A best) {
  return v > best || isnan(v);
}

// PyTorch's adaptive window of output o along an axis: [floor(o*in/out), ceil((o+1)*in/out)).
__device__ __forceinline__ int64_t adaptive_start(int64_t o, int64_t out, int64_t in) {
  return (o / out) * in + ((o % out) * in) / out;
}
__device__ __forceinline__ int64_t adaptive_end(int64_t o, int64_t out, int64_t in) {
  return 1 + ((o + 1) * in - 1) / out;
}

// The outputs [lo, hi) whose adaptive windows contain input index i. Starts
// and ends both grow with o, so each bound is a binary search.
__device__ void adaptive_cover(int64_t i, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  int64_t a = 0, b = out;
  while (a < b) {
    const int64_t m = a + (b - a) / 2;
    if (adaptive_end(m, out, in) > i) b = m; else a = m + 1;
  }
  lo = a;
  b = out;
  while (a < b) {
    const int64_t m = a + (b - a) / 2;
    if (adaptive_start(m, out, in) > i) b = m; else a = m + 1;
  }
  hi = a;
}

// Records an out-of-plane index (any one of them) for IndexCheck.
__device__ __forceinline__ void report_bad(int64_t* flag, int64_t k) {
  flag[1] = k;
  __threadfence();
  flag[0] = 1;
}

// A two-word flag in device memory: [found, one bad index].
class IndexCheck {
 public:
  IndexCheck(const Tensor& like, cudaStream_t stream)
      : buf_(Tensor::empty({2}, DType::i64, like.device())), stream_(stream) {
    CUDASEG_CUDA_CHECK(cudaMemsetAsync(buf_.raw_data(), 0, 2 * sizeof(int64_t), stream_), "index check");
  }
  int64_t* flag() const { return ptr<int64_t>(buf_); }
  // The bad index the kernels met, if any (never read during graph capture).
  std::optional<int64_t> bad_index() const {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    CUDASEG_CUDA_CHECK(cudaStreamIsCapturing(stream_, &capture), "index check");
    if (capture != cudaStreamCaptureStatusNone) return std::nullopt;
    int64_t host[2] = {0, 0};
    CUDASEG_CUDA_CHECK(cudaMemcpyAsync(host, buf_.raw_data(), sizeof(host), cudaMemcpyDeviceToHost, stream_),
                       "index check");
    CUDASEG_CUDA_CHECK(cudaStreamSynchronize(stream_), "index check");
    if (host[0] == 0) return std::nullopt;
    return host[1];
  }

 private:
  Tensor buf_;
  cudaStream_t stream_;
};

// ---- max pooling ----

template <typename T>
__global__ void max_pool2d_kernel(const T* in, T* out, int64_t* idx, int64_t n, PoolGeometry g) {
  using A = acc_t<T>;
  for (int64_t i = first_thread(); i < n; i += thread_stride()) {
    const int64_t ox = i % g.ow, oy = (i / g.ow) % g.oh, p = i / (g.ow * g.oh);
    const T* x = in + p * g.ih * g.iw;
    int64_t y0 = oy * g.sh - g.ph, x0 = ox * g.sw - g.pw;
    const int64_t y1 = min(y0 + (g.kh - 1) * g.dh + 1, g.ih), x1 = min(x0 + (g.kw - 1) * g.dw + 1, g.iw);
    while (y0 < 0) y0 += g.dh;
    while (x0 < 0) x0 += g.dw;
    // As PyTorch: the index starts at the first element inside the input even
    // when every value is -inf.
    int64_t best_index = y0 * g.iw + x0;
    A best = -INFINITY;
    for (int64_t iy = y0; iy < y1; iy += g.dh)
      for (int64_t ix = x0; ix < x1; ix += g.dw) {
        const A v = load(x[iy * g.iw + ix]);
        if (beats(v, best)) {
          best = v;
          best_index = iy * g.iw + ix;
        }
      }
    out[i] = store<T>(best);
    idx[i] = best_index;
  }
}

template <typename T>
__global__ void adaptive_max_pool2d_kernel(const T* in, T* out, int64_t* idx, int64_t n, int64_t ih, int64_t iw,
                                           int64_t oh, int64_t ow) {
  using A = acc_t<T>;
  for (int64_t i = first_thread(); i < n; i += thread_stride()) {
    const int64_t ox = i % ow, oy = (i / ow) % oh, p = i / (ow * oh);
    const T* x = in + p * ih * iw;
    const int64_t y0 = adaptive_start(oy, oh, ih), y1 = adaptive_end(oy, oh, ih);
    const int64_t x0 = adaptive_start(ox, ow, iw), x1 = adaptive_end(ox, ow, iw);
    int64_t best_index = y0 * iw + x0;
    A best = -INFINITY;
    for (int64_t iy = y0; iy < y1; ++iy)
      for (int64_t ix = x0; ix < x1; ++ix) {
        const A v = load(x[iy * iw + ix]);
        if (beats(v, best)) {
          best = v;
          best_index = iy * iw + ix;
        }
      }
    out[i] = store<T>(best);
    idx[i] = best_index;
  }
}

// The max-pool backward inverts the indices through the rows and columns they
// reach. Pass 1: for each output row oy (column ox), the least and greatest
// input row (column) that any plane's index in it names, by integer atomics.
// Out-of-plane indices are reported and left out.
__global__ void index_row_bounds_kernel(const int64_t* idx, int64_t planes, int64_t oh, int64_t ow, int64_t iw,
                                        int64_t in_plane, int* row_min, int* row_max, int64_t* flag) {
  for (int64_t t = first_thread(); t < planes * oh; t += thread_stride()) {
    const int64_t* row = idx + t * ow;
    int lo = INT_MAX, hi = -1;
    for (int64_t ox = 0; ox < ow; ++ox) {
      const int64_t k = row[ox];
      if (k < 0 || k >= in_plane) {
        report_bad(flag, k);
        continue;
      }
      lo = min(lo, static_cast<int>(k / iw));
      hi = max(hi, static_cast<int>(k / iw));
    }
    if (hi >= 0) {
      atomicMin(row_min + t % oh, lo);
      atomicMax(row_max + t % oh, hi);
    }
  }
}

// Threads are consecutive columns of one plane, so the loads coalesce.
__global__ void index_col_bounds_kernel(const int64_t* idx, int64_t planes, int64_t oh, int64_t ow, int64_t iw,
                                        int64_t in_plane, int* col_min, int* col_max) {
  for (int64_t t = first_thread(); t < planes * ow; t += thread_stride()) {
    const int64_t* col = idx + (t / ow) * oh * ow + t % ow;
    int lo = INT_MAX, hi = -1;
    for (int64_t oy = 0; oy < oh; ++oy) {
      const int64_t k = col[oy * ow];
      if (k < 0 || k >= in_plane) continue;
      lo = min(lo, static_cast<int>(k % iw));
      hi = max(hi, static_cast<int>(k % iw));
    }
    if (hi >= 0) {
      atomicMin(col_min + t % ow, lo);
      atomicMax(col_max + t % ow, hi);
    }
  }
}

// Pass 2: for each input row r, the least and greatest output row whose
// bounds contain it (likewise columns). Every output whose index is (r, c)
// lies in that row range and the column range of c.
__global__ void cover_kernel(const int* o_min, const int* o_max, int64_t n_o, int* lo, int* hi) {
  for (int64_t o = first_thread(); o < n_o; o += thread_stride())
    for (int r = o_min[o]; r <= o_max[o]; ++r) {
      atomicMin(lo + r, static_cast<int>(o));
      atomicMax(hi + r, static_cast<int>(o));
    }
}

// Pass 3: each input element sums the outputs in its ranges whose index names
// it, in increasing output order: the CPU kernel's order of additions.
template <typename T>
__global__ void max_pool2d_backward_kernel(const T* go, const int64_t* idx, T* gi, int64_t n, int64_t ih, int64_t iw,
                                           int64_t oh, int64_t ow, const int* row_lo, const int* row_hi,
                                           const int* col_lo, const int* col_hi) {
  using A = acc_t<T>;
  for (int64_t j = first_thread(); j < n; j += thread_stride()) {
    const int64_t ix = j % iw, iy = (j / iw) % ih, p = j / (iw * ih);
    const int64_t self = iy * iw + ix;
    const int64_t* pi = idx + p * oh * ow;
    const T* pg = go + p * oh * ow;
    A acc = 0;
    for (int64_t oy = row_lo[iy]; oy <= row_hi[iy]; ++oy)
      for (int64_t ox = col_lo[ix]; ox <= col_hi[ix]; ++ox)
        if (pi[oy * ow + ox] == self) acc += load(pg[oy * ow + ox]);
    gi[j] = store<T>(acc);
  }
}

// ---- max unpooling ----

// winner[plane slot] = the largest input position that targets it.
__global__ void unpool_winner_kernel(const int64_t* idx, long long* winner, int64_t n_in, int64_t in_plane,
                                     int64_t out_plane, int64_t* flag) {
  for (int64_t i = first_thread(); i < n_in; i += thread_stride()) {
    const int64_t k = idx[i];
    if (k < 0 || k >= out_plane) {
      report_bad(flag, k);
      continue;
    }
    atomicMax(winner + (i / in_plane) * out_plane + k, static_cast<long long>(i));
  }
}

template <typename T>
__global__ void unpool_fill_kernel(const T* in, const long long* winner, T* out, int64_t n_out) {
  for (int64_t j = first_thread(); j < n_out; j += thread_stride()) {
    const long long w = winner[j];
    out[j] = w >= 0 ? in[w] : store<T>(0);
  }
}

// output[i] = source[plane of i, idx[i]]; an out-of-plane index gives 0.
template <typename T>
__global__ void gather_plane_kernel(const T* src, const int64_t* idx, T* out, int64_t n, int64_t out_plane,
                                    int64_t src_plane, int64_t* flag) {
  for (int64_t i = first_thread(); i < n; i += thread_stride()) {
    const int64_t k = idx[i];
    if (k < 0 || k >= src_plane) {
      report_bad(flag, k);
      out[i] = store<T>(0);
    } else {
      out[i] = src[(i / out_plane) * src_plane + k];
    }
  }
}

// ---- average pooling ----

using ops::kernels::avg_window;
using ops::kernels::AvgWindow;

template <typename T>
__global__ void avg_pool2d_kernel(const T* in, T* out, int64_t n, PoolGeometry g, bool count_include_pad,
                                  int64_t divisor_override) {
  using A = acc_t<T>;
  for (int64_t i = first_thread(); i < n; i += thread_stride()) {
    const int64_t ox = i % g.ow, oy = (i / g.ow) % g.oh, p = i / (g.ow * g.oh);
    const T* x = in + p * g.ih * g.iw;
    const AvgWindow w = avg_window(g, oy, ox, count_include_pad, divisor_override);
    A sum = 0;
    for (int64_t iy = w.y0; iy < w.y1; ++iy)
      for (int64_t ix = w.x0; ix < w.x1; ++ix) sum += load(x[iy * g.iw + ix]);
    // A window wholly in the padding is 0, as PyTorch (no 0/0).
    out[i] = store<T>((w.y0 >= w.y1 || w.x0 >= w.x1) ? A(0) : sum / static_cast<A>(w.divisor));
  }
}

// The outputs [lo, hi) along an axis whose unclipped windows
// [o*s - pad, o*s - pad + k) contain input index i.
__device__ __forceinline__ void window_cover(int64_t i, int64_t k, int64_t s, int64_t pad, int64_t out, int64_t& lo,
                                             int64_t& hi) {
  const int64_t a = i + pad - k + 1;  // o*s >= a
  lo = a <= 0 ? 0 : (a + s - 1) / s;
  hi = min((i + pad) / s + 1, out);
}

template <typename T>
__global__ void avg_pool2d_backward_kernel(const T* go, T* gi, int64_t n, PoolGeometry g, bool count_include_pad,
                                           int64_t divisor_override) {
  using A = acc_t<T>;
  for (int64_t j = first_thread(); j < n; j += thread_stride()) {
    const int64_t ix = j % g.iw, iy = (j / g.iw) % g.ih, p = j / (g.iw * g.ih);
    const T* dy = go + p * g.oh * g.ow;
    int64_t oy0, oy1, ox0, ox1;
    window_cover(iy, g.kh, g.sh, g.ph, g.oh, oy0, oy1);
    window_cover(ix, g.kw, g.sw, g.pw, g.ow, ox0, ox1);
    A acc = 0;
    for (int64_t oy = oy0; oy < oy1; ++oy)
      for (int64_t ox = ox0; ox < ox1; ++ox) {
        const AvgWindow w = avg_window(g, oy, ox, count_include_pad, divisor_override);
        if (iy < w.y0 || iy >= w.y1 || ix < w.x0 || ix >= w.x1) continue;
        acc += load(dy[oy * g.ow + ox]) / static_cast<A>(w.divisor);
      }
    gi[j] = store<T>(acc);
  }
}

template <typename T>
__global__ void adaptive_avg_pool2d_kernel(const T* in, T* out, int64_t n, int64_t ih, int64_t iw, int64_t oh,
                                           int64_t ow) {
  using A = acc_t<T>;
  for (int64_t i = first_thread(); i < n; i += thread_stride()) {
    const int64_t ox = i % ow, oy = (i / ow) % oh, p = i / (ow * oh);
    const T* x = in + p * ih * iw;
    const int64_t y0 = adaptive_start(oy, oh, ih), y1 = adaptive_end(oy, oh, ih);
    const int64_t x0 = adaptive_start(ox, ow, iw), x1 = adaptive_end(ox, ow, iw);
    A sum = 0;
    for (int64_t iy = y0; iy < y1; ++iy)
      for (int64_t ix = x0; ix < x1; ++ix) sum += load(x[iy * iw + ix]);
    out[i] = store<T>(sum / static_cast<A>(y1 - y0) / static_cast<A>(x1 - x0));
  }
}

template <typename T>
__global__ void adaptive_avg_pool2d_backward_kernel(const T* go, T* gi, int64_t n, int64_t ih, int64_t iw,
                                                    int64_t oh, int64_t ow) {
  using A = acc_t<T>;
  for (int64_t j = first_thread(); j < n; j += thread_stride()) {
    const int64_t ix = j % iw, iy = (j / iw) % ih, p = j / (iw * ih);
    const T* dy = go + p * oh * ow;
    int64_t oy0, oy1, ox0, ox1;
    adaptive_cover(iy, ih, oh, oy0, oy1);
    adaptive_cover(ix, iw, ow, ox0, ox1);
    A acc = 0;
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      const A hy = static_cast<A>(adaptive_end(oy, oh, ih) - adaptive_start(oy, oh, ih));
      for (int64_t ox = ox0; ox < ox1; ++ox) {
        const A wx = static_cast<A>(adaptive_end(ox, ow, iw) - adaptive_start(ox, ow, iw));
        acc += load(dy[oy * ow + ox]) / hy / wx;
      }
    }
    gi[j] = store<T>(acc);
  }
}

int64_t plane_size(const Tensor& t) { return t.size(-2) * t.size(-1); }

}  // namespace

void max_pool2d(const Tensor& input, const PoolGeometry& g, const Tensor& output, const Tensor& indices) {
  const int64_t n = output.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(output.device().index);
  dispatch_floating("max_pool2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    max_pool2d_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(output)>>>(ptr<const T>(input), ptr<T>(output),
                                                                            ptr<int64_t>(indices), n, g);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("max_pool2d ", input.str(), " -> ", output.str());
}

void max_pool2d_backward(const Tensor& grad_output, const Tensor& indices, const Tensor& grad_input) {
  const char* op = "max_pool2d_backward";
  const int64_t n = grad_input.numel();
  if (n == 0) return;
  const int64_t ih = grad_input.size(2), iw = grad_input.size(3), oh = grad_output.size(2), ow = grad_output.size(3);
  const int64_t planes = grad_input.size(0) * grad_input.size(1);
  CUDASEG_CHECK(std::max({ih, iw, oh, ow}) < INT_MAX, op, ": planes of ", shape_str(grad_output.shape()), " and ",
                shape_str(grad_input.shape()), " are too large for the CUDA kernel");
  gpu::DeviceGuard guard(grad_input.device().index);
  cudaStream_t stream = stream_for(grad_input);
  IndexCheck check(grad_input, stream);
  // Lower bounds start at a huge value (bytes 0x7F), upper ones at -1 (0xFF):
  // [row_min(oh), col_min(ow), row_lo(ih), col_lo(iw)] and the same for the maxima.
  const int64_t n_bounds = oh + ow + ih + iw;
  Tensor lows = Tensor::empty({n_bounds}, DType::i32, grad_input.device());
  Tensor highs = Tensor::empty({n_bounds}, DType::i32, grad_input.device());
  CUDASEG_CUDA_CHECK(cudaMemsetAsync(lows.raw_data(), 0x7F, n_bounds * sizeof(int), stream), op);
  CUDASEG_CUDA_CHECK(cudaMemsetAsync(highs.raw_data(), 0xFF, n_bounds * sizeof(int), stream), op);
  int* row_min = ptr<int>(lows);
  int* col_min = row_min + oh;
  int* row_lo = col_min + ow;
  int* col_lo = row_lo + ih;
  int* row_max = ptr<int>(highs);
  int* col_max = row_max + oh;
  int* row_hi = col_max + ow;
  int* col_hi = row_hi + ih;
  const int64_t* idx = ptr<const int64_t>(indices);
  if (planes * oh * ow > 0) {
    index_row_bounds_kernel<<<blocks_for(planes * oh), kThreads, 0, stream>>>(idx, planes, oh, ow, iw, ih * iw,
                                                                             row_min, row_max, check.flag());
    index_col_bounds_kernel<<<blocks_for(planes * ow), kThreads, 0, stream>>>(idx, planes, oh, ow, iw, ih * iw,
                                                                             col_min, col_max);
    cover_kernel<<<blocks_for(oh), kThreads, 0, stream>>>(row_min, row_max, oh, row_lo, row_hi);
    cover_kernel<<<blocks_for(ow), kThreads, 0, stream>>>(col_min, col_max, ow, col_lo, col_hi);
    CUDASEG_CUDA_LAUNCH_CHECK(op, " ", grad_output.str(), " -> ", grad_input.str());
  }
  dispatch_floating(op, grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    max_pool2d_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(
        ptr<const T>(grad_output), idx, ptr<T>(grad_input), n, ih, iw, oh, ow, row_lo, row_hi, col_lo, col_hi);
  });
  CUDASEG_CUDA_LAUNCH_CHECK(op, " ", grad_output.str(), " -> ", grad_input.str());
  if (const auto bad = check.bad_index())
    CUDASEG_FAIL(op, ": index ", *bad, " is outside the input plane ", ih, "x", iw, " of ",
                 shape_str(grad_input.shape()));
}

void max_unpool2d(const Tensor& input, const Tensor& indices, const Tensor& output) {
  const char* op = "max_unpool2d";
  const int64_t n_in = input.numel(), n_out = output.numel();
  if (n_out == 0) return;
  gpu::DeviceGuard guard(output.device().index);
  cudaStream_t stream = stream_for(output);
  IndexCheck check(output, stream);
  Tensor winner = Tensor::empty(output.shape(), DType::i64, output.device());
  // All-ones bytes: -1, no winner yet.
  CUDASEG_CUDA_CHECK(cudaMemsetAsync(winner.raw_data(), 0xFF, n_out * sizeof(int64_t), stream), op);
  if (n_in > 0) {
    unpool_winner_kernel<<<blocks_for(n_in), kThreads, 0, stream>>>(
        ptr<const int64_t>(indices), ptr<long long>(winner), n_in, plane_size(input), plane_size(output),
        check.flag());
    CUDASEG_CUDA_LAUNCH_CHECK(op, " ", input.str(), " -> ", output.str());
  }
  dispatch_floating(op, input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    unpool_fill_kernel<T><<<blocks_for(n_out), kThreads, 0, stream>>>(ptr<const T>(input),
                                                                       ptr<const long long>(winner), ptr<T>(output),
                                                                       n_out);
  });
  CUDASEG_CUDA_LAUNCH_CHECK(op, " ", input.str(), " -> ", output.str());
  if (const auto bad = check.bad_index())
    CUDASEG_FAIL(op, ": index ", *bad, " in 'indices' ", shape_str(indices.shape()), " is outside the output plane ",
                 output.size(-2), "x", output.size(-1));
}

void max_unpool2d_backward(const Tensor& grad_output, const Tensor& indices, const Tensor& grad_input) {
  const char* op = "max_unpool2d_backward";
  const int64_t n = grad_input.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(grad_input.device().index);
  cudaStream_t stream = stream_for(grad_input);
  IndexCheck check(grad_input, stream);
  dispatch_floating(op, grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    gather_plane_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(ptr<const T>(grad_output),
                                                                    ptr<const int64_t>(indices), ptr<T>(grad_input),
                                                                    n, plane_size(grad_input),
                                                                    plane_size(grad_output), check.flag());
  });
  CUDASEG_CUDA_LAUNCH_CHECK(op, " ", grad_output.str(), " -> ", grad_input.str());
  if (const auto bad = check.bad_index())
    CUDASEG_FAIL(op, ": index ", *bad, " in 'indices' ", shape_str(indices.shape()), " is outside the plane ",
                 grad_output.size(-2), "x", grad_output.size(-1));
}

void avg_pool2d(const Tensor& input, const PoolGeometry& g, bool count_include_pad, int64_t divisor_override,
                const Tensor& output) {
  const int64_t n = output.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(output.device().index);
  dispatch_floating("avg_pool2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    avg_pool2d_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(output)>>>(
        ptr<const T>(input), ptr<T>(output), n, g, count_include_pad, divisor_override);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("avg_pool2d ", input.str(), " -> ", output.str());
}

void avg_pool2d_backward(const Tensor& grad_output, const PoolGeometry& g, bool count_include_pad,
                         int64_t divisor_override, const Tensor& grad_input) {
  const int64_t n = grad_input.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(grad_input.device().index);
  dispatch_floating("avg_pool2d_backward", grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    avg_pool2d_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(grad_input)>>>(
        ptr<const T>(grad_output), ptr<T>(grad_input), n, g, count_include_pad, divisor_override);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("avg_pool2d_backward ", grad_output.str(), " -> ", grad_input.str());
}

void adaptive_avg_pool2d(const Tensor& input, const Tensor& output) {
  const int64_t n = output.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(output.device().index);
  dispatch_floating("adaptive_avg_pool2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    adaptive_avg_pool2d_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(output)>>>(
        ptr<const T>(input), ptr<T>(output), n, input.size(2), input.size(3), output.size(2), output.size(3));
  });
  CUDASEG_CUDA_LAUNCH_CHECK("adaptive_avg_pool2d ", input.str(), " -> ", output.str());
}

void adaptive_avg_pool2d_backward(const Tensor& grad_output, const Tensor& grad_input) {
  const int64_t n = grad_input.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(grad_input.device().index);
  dispatch_floating("adaptive_avg_pool2d_backward", grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    adaptive_avg_pool2d_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(grad_input)>>>(
        ptr<const T>(grad_output), ptr<T>(grad_input), n, grad_input.size(2), grad_input.size(3),
        grad_output.size(2), grad_output.size(3));
  });
  CUDASEG_CUDA_LAUNCH_CHECK("adaptive_avg_pool2d_backward ", grad_output.str(), " -> ", grad_input.str());
}

void adaptive_max_pool2d(const Tensor& input, const Tensor& output, const Tensor& indices) {
  const int64_t n = output.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(output.device().index);
  dispatch_floating("adaptive_max_pool2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    adaptive_max_pool2d_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(output)>>>(
        ptr<const T>(input), ptr<T>(output), ptr<int64_t>(indices), n, input.size(2), input.size(3), output.size(2),
        output.size(3));
  });
  CUDASEG_CUDA_LAUNCH_CHECK("adaptive_max_pool2d ", input.str(), " -> ", output.str());
}

CUDASEG_REGISTER_KERNEL(ops::kernels::max_pool2d, cuda, max_pool2d)
CUDASEG_REGISTER_KERNEL(ops::kernels::max_pool2d_backward, cuda, max_pool2d_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::max_unpool2d, cuda, max_unpool2d)
CUDASEG_REGISTER_KERNEL(ops::kernels::max_unpool2d_backward, cuda, max_unpool2d_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::avg_pool2d, cuda, avg_pool2d)
CUDASEG_REGISTER_KERNEL(ops::kernels::avg_pool2d_backward, cuda, avg_pool2d_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::adaptive_avg_pool2d, cuda, adaptive_avg_pool2d)
CUDASEG_REGISTER_KERNEL(ops::kernels::adaptive_avg_pool2d_backward, cuda, adaptive_avg_pool2d_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::adaptive_max_pool2d, cuda, adaptive_max_pool2d)

}  // namespace cudaseg::cuda
