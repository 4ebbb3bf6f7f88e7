// Shape kernels on CUDA that move data by computed indices: pad and its
// backward, index_select and its backward.
//
// Forward kernels are gathers: one thread per output element (grid-stride),
// which decomposes its index and reads the one source element; they only move
// elements, so they dispatch on the element width. The backward kernels are
// gathers too, rather than scatters with atomics: one thread per input
// element sums every output element that read it, in a fixed order, so the
// result is deterministic. pad_backward runs one such pass per padded dim
// (reflect sends at most three outputs of a dim to one input, replicate a
// contiguous range), and index_add walks an inverse index (for each input
// row, the positions j that selected it, built on the host in increasing j).
#include <cstring>

#include "cuda/elementwise.cuh"
#include "ops/kernels/shape.h"

namespace cudaseg::cuda {
namespace {

using ops::kernels::PadKind;

struct PadGeometry {
  int ndim;
  int64_t in[kMaxDims], out[kMaxDims], before[kMaxDims];
};

// The input index output index `o` of a dim reads, or -1 for constant padding.
__device__ __forceinline__ int64_t pad_source(int64_t o, int64_t before, int64_t n, PadKind kind) {
  int64_t i = o - before;
  if (kind == PadKind::reflect) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
    return i;
  }
  if (kind == PadKind::replicate) return i < 0 ? 0 : (i >= n ? n - 1 : i);
  return i < 0 || i >= n ? -1 : i;
}

template <typename E>
__global__ void pad_kernel(E* out, const E* x, int64_t n, PadGeometry g, PadKind kind, E fill) {
  CUDASEG_GRID_STRIDE(e, n) {
    int64_t rest = e, off = 0, stride = 1;
    bool inside = true;
    for (int d = g.ndim - 1; d >= 0 && inside; --d) {
      const int64_t i = pad_source(rest % g.out[d], g.before[d], g.in[d], kind);
      rest /= g.out[d];
      inside = i >= 0;
      off += i * stride;
      stride *= g.in[d];
    }
    out[e] = inside ? x[off] : fill;
  }
}

// One dim of pad's backward: grad viewed as [outer, out_d, inner], result as
// [outer, in_d, inner]; each result element sums the grad elements whose
// source it was, in increasing output index.
template <typename T>
__global__ void pad_backward_dim_kernel(T* result, const T* grad, int64_t n, int64_t in_d, int64_t out_d,
                                        int64_t inner, int64_t before, PadKind kind) {
  CUDASEG_GRID_STRIDE(e, n) {
    const int64_t r = e % inner, i = (e / inner) % in_d, o = e / (inner * in_d);
    const T* g = grad + o * out_d * inner + r;
    compute_t<T> acc = 0;
    auto add_range = [&](int64_t lo, int64_t hi) {
      lo = lo < 0 ? 0 : lo;
      hi = hi > out_d ? out_d : hi;
      for (int64_t j = lo; j < hi; ++j) acc += to_compute(g[j * inner]);
    };
    if (kind == PadKind::replicate) {
      // Index 0 also takes everything left of the input, in_d - 1 everything right.
      add_range(i == 0 ? 0 : i + before, i == in_d - 1 ? out_d : i + before + 1);
    } else if (kind == PadKind::reflect) {
      if (i > 0) add_range(before - i, before - i + 1);  // the left mirror: j - before == -i
      add_range(i + before, i + before + 1);
      const int64_t right = before + 2 * (in_d - 1) - i;  // j - before == 2 (in_d - 1) - i >= in_d
      if (i <= in_d - 2) add_range(right, right + 1);
    } else {
      add_range(i + before, i + before + 1);
    }
    result[e] = from_compute<T>(acc);
  }
}

template <typename E>
__global__ void index_select_kernel(E* out, const E* x, const int64_t* index, int64_t n_out, int64_t n, int64_t k,
                                    int64_t inner) {
  CUDASEG_GRID_STRIDE(e, n_out) {
    const int64_t r = e % inner, j = (e / inner) % k, o = e / (inner * k);
    out[e] = x[(o * n + index[j]) * inner + r];
  }
}

// starts[m] .. starts[m + 1] delimit, in `order`, the positions j with index[j] == m.
template <typename T>
__global__ void index_add_kernel(T* out, const T* src, const int64_t* starts, const int64_t* order, int64_t n_out,
                                 int64_t n, int64_t k, int64_t inner) {
  CUDASEG_GRID_STRIDE(e, n_out) {
    const int64_t r = e % inner, m = (e / inner) % n, o = e / (inner * n);
    compute_t<T> acc = 0;
    for (int64_t p = starts[m]; p < starts[m + 1]; ++p) acc += to_compute(src[(o * k + order[p]) * inner + r]);
    out[e] = from_compute<T>(acc);
  }
}

}  // namespace

void pad(const Tensor& x, const std::vector<int64_t>& before, PadKind kind, double value, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  CUDASEG_CHECK(out.dim() <= kMaxDims, "pad: CUDA kernel takes at most ", kMaxDims, " dims, got ",
                shape_str(out.shape()));
  CUDASEG_CHECK(x.is_contiguous() && out.is_contiguous(), "pad: CUDA kernel needs contiguous tensors, got ",
                x.str(), " -> ", out.str());
  PadGeometry g{};
  g.ndim = static_cast<int>(out.dim());
  for (int d = 0; d < g.ndim; ++d) {
    g.in[d] = x.size(d);
    g.out[d] = out.size(d);
    g.before[d] = before[d];
  }
  // The fill value's bits in the dtype, computed on the host.
  uint64_t fill_bits = 0;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    const auto v = convert<decltype(tag)>(value);
    std::memcpy(&fill_bits, &v, sizeof(v));
  });
  gpu::DeviceGuard guard(out.device().index);
  dispatch_by_size(x.dtype(), [&](auto tag) {
    using E = decltype(tag);
    E fill;
    std::memcpy(&fill, &fill_bits, sizeof(E));
    pad_kernel<E><<<blocks_for(n), kThreads, 0, stream_for(out)>>>(ptr<E>(out), ptr<const E>(x), n, g, kind, fill);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("pad ", x.str(), " -> ", out.str());
}

void pad_backward(const Tensor& grad, const std::vector<int64_t>& before, PadKind kind, const Tensor& grad_input) {
  CUDASEG_CHECK(grad.is_contiguous() && grad_input.is_contiguous(),
                "pad_backward: CUDA kernel needs contiguous tensors, got ", grad.str(), " -> ", grad_input.str());
  std::vector<int64_t> dims;  // the dims a pass must undo, last first
  for (int64_t d = grad.dim() - 1; d >= 0; --d)
    if (before[d] != 0 || grad.size(d) != grad_input.size(d)) dims.push_back(d);
  if (dims.empty()) {
    Tensor(grad_input).copy_(grad);  // a handle to the same tensor; copy_ is not const
    return;
  }
  gpu::DeviceGuard guard(grad.device().index);
  Tensor cur = grad;
  for (size_t p = 0; p < dims.size(); ++p) {
    const int64_t d = dims[p];
    Shape shape = cur.shape();
    shape[d] = grad_input.size(d);
    Tensor next = p + 1 == dims.size() ? grad_input : Tensor::empty(shape, grad.dtype(), grad.device());
    const int64_t n = next.numel();
    int64_t inner = 1;
    for (int64_t k = d + 1; k < cur.dim(); ++k) inner *= cur.size(k);
    if (n > 0) {
      dispatch_numeric("pad_backward", grad.dtype(), [&](auto tag) {
        using T = decltype(tag);
        pad_backward_dim_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(next)>>>(
            ptr<T>(next), ptr<const T>(cur), n, shape[d], cur.size(d), inner, before[d], kind);
      });
      CUDASEG_CUDA_LAUNCH_CHECK("pad_backward ", cur.str(), " -> ", next.str(), " along dim ", d);
    }
    cur = next;
  }
}

void index_select(const Tensor& x, int64_t outer, int64_t inner, const Tensor& index, const Tensor& out) {
  const int64_t n_out = out.numel();
  if (n_out == 0) return;
  CUDASEG_CHECK(x.is_contiguous() && out.is_contiguous() && index.is_contiguous() && index.dtype() == DType::i64 &&
                    index.device() == x.device(),
                "index_select: CUDA kernel needs contiguous tensors and an int64 index on ", x.device().str(),
                ", got ", x.str(), ", index ", index.str());
  const int64_t k = index.numel(), n = x.numel() / (outer * inner);
  gpu::DeviceGuard guard(out.device().index);
  dispatch_by_size(x.dtype(), [&](auto tag) {
    using E = decltype(tag);
    index_select_kernel<E><<<blocks_for(n_out), kThreads, 0, stream_for(out)>>>(
        ptr<E>(out), ptr<const E>(x), ptr<const int64_t>(index), n_out, n, k, inner);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("index_select ", x.str(), " -> ", out.str());
}

void index_add(const Tensor& src, int64_t outer, int64_t inner, const Tensor& index, const Tensor& out) {
  const int64_t n_out = out.numel();
  if (n_out == 0) return;
  CUDASEG_CHECK(src.is_contiguous() && out.is_contiguous(), "index_select_backward: CUDA kernel needs contiguous ",
                "tensors, got ", src.str(), " -> ", out.str());
  const int64_t k = index.numel(), n = n_out / (outer * inner);
  // The inverse index, built on the host (a counting sort, stable in j).
  const std::vector<double> idx = index.to_vector();
  std::vector<double> starts(static_cast<size_t>(n + 1), 0.0), order(static_cast<size_t>(std::max<int64_t>(k, 1)), 0.0);
  for (double v : idx) {
    CUDASEG_CHECK(v >= 0 && v < static_cast<double>(n), "index_select_backward: index ", static_cast<int64_t>(v),
                  " out of range for a dim of size ", n, " (grad ", src.str(), ")");
    starts[static_cast<size_t>(v) + 1] += 1;
  }
  for (int64_t m = 0; m < n; ++m) starts[m + 1] += starts[m];
  std::vector<double> fill(starts.begin(), starts.end() - 1);
  for (int64_t j = 0; j < k; ++j) order[static_cast<size_t>(fill[static_cast<size_t>(idx[j])]++)] = static_cast<double>(j);
  const Tensor d_starts = Tensor::from_vector(starts, {n + 1}, DType::i64).to(out.device());
  const Tensor d_order = Tensor::from_vector(order, {static_cast<int64_t>(order.size())}, DType::i64).to(out.device());
  gpu::DeviceGuard guard(out.device().index);
  dispatch_numeric("index_select_backward", src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    index_add_kernel<T><<<blocks_for(n_out), kThreads, 0, stream_for(out)>>>(
        ptr<T>(out), ptr<const T>(src), ptr<const int64_t>(d_starts), ptr<const int64_t>(d_order), n_out, n, k,
        inner);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("index_select_backward ", src.str(), " -> ", out.str());
}

CUDASEG_REGISTER_KERNEL(ops::kernels::pad, cuda, pad)
CUDASEG_REGISTER_KERNEL(ops::kernels::pad_backward, cuda, pad_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::index_select, cuda, index_select)
CUDASEG_REGISTER_KERNEL(ops::kernels::index_add, cuda, index_add)

}  // namespace cudaseg::cuda
