// Class losses over logits [N, C, S] on CUDA: cross entropy, OHEM selection,
// Hinton distillation.
//
// One thread per position (n, s): it walks the C classes with stride S, so
// the threads of a warp read consecutive positions of each class plane
// (coalesced for segmentation's large S). The forward kernels are the first
// pass of a deterministic two-pass sum (cuda/loss_reduce.cuh): while a thread
// computes its position's log-softmax (max sweep, sum sweep, write sweep, as
// the CPU) it writes the log-probabilities and the per-position loss and adds
// the loss and the class weight to its block's partial sums, so the reduced
// loss costs no extra pass over the data. Backward kernels are elementwise
// per position. OHEM counts the hard positions with the same two-pass sum
// and, for its top-k fallback, sorts the losses with cub's stable radix sort
// (descending, so equal losses keep the lower index first, as the CPU).
#include <cub/device/device_radix_sort.cuh>

#include <cmath>
#include <limits>
#include <vector>

#include "cuda/loss_reduce.cuh"
#include "ops/kernels/loss.h"

namespace cudaseg::cuda {
namespace {

__device__ __forceinline__ int64_t base_of(int64_t p, int64_t c_count, int64_t s) {
  return (p / s) * c_count * s + p % s;
}

// log-sum-exp of x[c * s] * scale over c, two sweeps as the CPU's log_softmax.
template <typename T>
__device__ acc_t<T> log_sum_exp(const T* x, int64_t c_count, int64_t s, acc_t<T> scale) {
  using A = acc_t<T>;
  A mx = -static_cast<A>(INFINITY);
  for (int64_t c = 0; c < c_count; ++c) mx = max(mx, load(x[c * s]) * scale);
  A total = 0;
  for (int64_t c = 0; c < c_count; ++c) total += exp_(load(x[c * s]) * scale - mx);
  return mx + log_(total);
}

__global__ void invalid_target_kernel(const int64_t* t, int64_t n, int64_t classes, int64_t ignore,
                                      unsigned long long* first) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t v = t[i];
    if (v != ignore && (v < 0 || v >= classes)) atomicMin(first, static_cast<unsigned long long>(i));
  }
}

template <typename T>
struct CrossEntropyF {
  const T* x;
  const int64_t* t;
  const T* w;
  T* lp;
  T* loss;
  int64_t c_count, s, ignore;
  __device__ void operator()(int64_t, int64_t p, double (&acc)[2]) const {
    using A = acc_t<T>;
    const int64_t base = base_of(p, c_count, s);
    const A lse = log_sum_exp(x + base, c_count, s, A(1));
    for (int64_t c = 0; c < c_count; ++c) lp[base + c * s] = store<T>(load(x[base + c * s]) - lse);
    const int64_t tc = t[p];
    if (tc == ignore) {
      loss[p] = store<T>(A(0));
      return;
    }
    const A wt = w ? load(w[tc]) : A(1);
    const T l = store<T>(-wt * (load(x[base + tc * s]) - lse));
    loss[p] = l;
    acc[0] += static_cast<double>(load(l));
    acc[1] += static_cast<double>(wt);
  }
};

// The mean divides by the summed weight; both sums are kept for the host.
template <typename T>
struct CrossEntropyE {
  T* out;  // or null
  bool mean;
  double* keep;
  __device__ void operator()(int64_t, const double (&sums)[2]) const {
    if (out) out[0] = store<T>(static_cast<acc_t<T>>(mean ? sums[0] / sums[1] : sums[0]));
    keep[0] = sums[0];
    keep[1] = sums[1];
  }
};

template <typename T>
__global__ void ce_backward_kernel(const T* lp, const int64_t* t, const T* w, int64_t ignore, Upstream<T> up, T* o,
                                   int64_t positions, int64_t c_count, int64_t s) {
  using A = acc_t<T>;
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < positions;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = base_of(p, c_count, s), tc = t[p];
    if (tc == ignore) {
      for (int64_t c = 0; c < c_count; ++c) o[base + c * s] = store<T>(A(0));
      continue;
    }
    const A g = up.at(p) * (w ? load(w[tc]) : A(1));
    for (int64_t c = 0; c < c_count; ++c) {
      A v = g * exp_(load(lp[base + c * s]));
      if (c == tc) v -= g;
      o[base + c * s] = store<T>(v);
    }
  }
}

// The threshold is compared in the losses' dtype, as torch compares tensors.
template <typename T>
__device__ __forceinline__ bool is_hard(T l, acc_t<T> threshold) {
  return load(l) > load(store<T>(threshold));
}

template <typename T>
struct HardF {
  const T* l;
  acc_t<T> threshold;
  __device__ void operator()(int64_t, int64_t i, double (&acc)[2]) const {
    if (!is_hard(l[i], threshold)) return;
    acc[0] += 1.0;
    acc[1] += static_cast<double>(load(l[i]));
  }
};

template <typename T>
__global__ void mark_hard_kernel(const T* l, acc_t<T> threshold, T* scale, int64_t n, int64_t kept) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    scale[i] = store<T>(is_hard(l[i], threshold) ? A(1) / static_cast<A>(kept) : A(0));
}

template <typename T>
__global__ void sort_keys_kernel(const T* l, acc_t<T>* keys, int64_t* index, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    keys[i] = load(l[i]);
    index[i] = i;
  }
}

template <typename T>
__global__ void mark_top_kernel(const int64_t* index, T* scale, int64_t kept) {
  using A = acc_t<T>;
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < kept;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x)
    scale[index[r]] = store<T>(A(1) / static_cast<A>(kept));
}

template <typename A>
struct SumF {
  const A* x;
  __device__ void operator()(int64_t, int64_t i, double (&acc)[1]) const { acc[0] += static_cast<double>(x[i]); }
};

template <typename T>
struct KdF {
  const T* xs;
  const T* xt;
  T* diff;
  int64_t c_count, s;
  acc_t<T> inv_t;
  __device__ void operator()(int64_t, int64_t p, double (&acc)[1]) const {
    using A = acc_t<T>;
    const int64_t base = base_of(p, c_count, s);
    const A lse_s = log_sum_exp(xs + base, c_count, s, inv_t), lse_t = log_sum_exp(xt + base, c_count, s, inv_t);
    for (int64_t c = 0; c < c_count; ++c) {
      const A lps = load(xs[base + c * s]) * inv_t - lse_s, lpt = load(xt[base + c * s]) * inv_t - lse_t;
      const A q = exp_(lpt);
      // q log q is 0 at q == 0 (torch's xlogy).
      if (q > 0) acc[0] += static_cast<double>(q * (lpt - lps));
      diff[base + c * s] = store<T>(exp_(lps) - q);
    }
  }
};

template <typename T>
__global__ void kd_backward_kernel(const T* d, Upstream<T> up, T* o, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    o[i] = store<T>(load(d[i]) * up.at(i));
}

// keys_in [count] sorted in descending order with their indices; the sort is
// stable, so equal keys keep the lower index first.
template <typename A>
void sort_descending(const Tensor& keys_in, const Tensor& index_in, const Tensor& keys_out, const Tensor& index_out,
                     int64_t count, cudaStream_t stream) {
  size_t bytes = 0;
  CUDASEG_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(nullptr, bytes, ptr<const A>(keys_in), ptr<A>(keys_out),
                                                               ptr<const int64_t>(index_in), ptr<int64_t>(index_out),
                                                               count, 0, static_cast<int>(sizeof(A) * 8), stream),
                     "ohem_cross_entropy (sizing the radix sort of ", count, " losses)");
  const Tensor temp = Tensor::empty({static_cast<int64_t>(bytes) + 1}, DType::u8, keys_in.device());
  CUDASEG_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(temp.raw_data(), bytes, ptr<const A>(keys_in),
                                                               ptr<A>(keys_out), ptr<const int64_t>(index_in),
                                                               ptr<int64_t>(index_out), count, 0,
                                                               static_cast<int>(sizeof(A) * 8), stream),
                     "ohem_cross_entropy (radix sort of ", count, " losses)");
}

std::vector<double> to_host(const Tensor& t) {
  std::vector<double> h(static_cast<size_t>(t.numel()));
  gpu::copy_device_to_host(h.data(), t.raw_data(), h.size() * sizeof(double), t.device().index);
  return h;
}

}  // namespace

int64_t first_invalid_target(const Tensor& target, int64_t classes, int64_t ignore_index) {
  const int64_t n = target.numel();
  if (n == 0) return -1;
  gpu::DeviceGuard guard(target.device().index);
  cudaStream_t stream = stream_for(target);
  const Tensor first = Tensor::empty({1}, DType::i64, target.device());
  CUDASEG_CUDA_CHECK(cudaMemsetAsync(first.raw_data(), 0xff, sizeof(int64_t), stream), "checking targets ",
                     target.str());
  invalid_target_kernel<<<blocks_for(n), kThreads, 0, stream>>>(
      ptr<const int64_t>(target), n, classes, ignore_index, ptr<unsigned long long>(first));
  CUDASEG_CUDA_LAUNCH_CHECK("checking targets ", target.str());
  unsigned long long index = 0;
  gpu::copy_device_to_host(&index, first.raw_data(), sizeof(index), target.device().index);
  return index == std::numeric_limits<unsigned long long>::max() ? -1 : static_cast<int64_t>(index);
}

double cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                             const Tensor& log_probs, const Tensor& loss, const Tensor& reduced, bool mean) {
  const int64_t n = logits.size(0), c_count = logits.size(1), s = logits.size(2);
  gpu::DeviceGuard guard(logits.device().index);
  const Tensor keep = Tensor::zeros({2}, DType::f64, logits.device());
  dispatch_floating("cross_entropy", logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const CrossEntropyF<T> f{ptr<const T>(logits), ptr<const int64_t>(target), ptr_or_null<const T>(weight),
                             ptr<T>(log_probs), ptr<T>(loss), c_count, s, ignore_index};
    row_sums<2>(f, CrossEntropyE<T>{ptr_or_null<T>(reduced), mean, ptr<double>(keep)}, 1, n * s, logits.device(),
                "cross_entropy");
  });
  return to_host(keep)[1];
}

void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                            int64_t ignore_index, const UpstreamGrad& grad, const Tensor& position_scale,
                            const Tensor& out) {
  const int64_t n = log_probs.size(0), c_count = log_probs.size(1), s = log_probs.size(2);
  if (n * s == 0) return;
  gpu::DeviceGuard guard(out.device().index);
  dispatch_floating("cross_entropy_backward", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ce_backward_kernel<T><<<blocks_for(n * s), kThreads, 0, stream_for(out)>>>(
        ptr<const T>(log_probs), ptr<const int64_t>(target), ptr_or_null<const T>(weight), ignore_index,
        upstream_of<T>(grad, position_scale), ptr<T>(out), n * s, c_count, s);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("cross_entropy_backward ", log_probs.str());
}

int64_t ohem_select(const Tensor& losses, double threshold, int64_t n_min, const Tensor& scale, double* mean) {
  constexpr const char* op = "ohem_cross_entropy";
  const int64_t count = losses.numel();
  gpu::DeviceGuard guard(losses.device().index);
  cudaStream_t stream = stream_for(losses);
  int64_t kept = 0;
  dispatch_floating(op, losses.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const Tensor keep = Tensor::zeros({2}, DType::f64, losses.device());
    row_sums<2>(HardF<T>{ptr<const T>(losses), static_cast<A>(threshold)},
                StoreSum<T, 2>{nullptr, 1.0, ptr<double>(keep)}, 1, count, losses.device(), op);
    const std::vector<double> hard = to_host(keep);
    if (hard[0] >= static_cast<double>(n_min)) {
      kept = static_cast<int64_t>(hard[0]);
      *mean = hard[1] / static_cast<double>(kept);  // 0/0 = NaN when nothing is kept, as torch's mean
      if (count > 0)
        mark_hard_kernel<T><<<blocks_for(count), kThreads, 0, stream>>>(ptr<const T>(losses), static_cast<A>(threshold),
                                                                        ptr<T>(scale), count, kept);
      CUDASEG_CUDA_LAUNCH_CHECK(op, " marking ", kept, " hard positions of ", losses.str());
      return;
    }
    // Too few hard positions: the n_min largest losses, over all positions.
    const DType key_dtype = std::is_same_v<A, double> ? DType::f64 : DType::f32;
    const Tensor keys = Tensor::empty({count}, key_dtype, losses.device());
    const Tensor index = Tensor::empty({count}, DType::i64, losses.device());
    const Tensor sorted = Tensor::empty({count}, key_dtype, losses.device());
    const Tensor order = Tensor::empty({count}, DType::i64, losses.device());
    sort_keys_kernel<T><<<blocks_for(count), kThreads, 0, stream>>>(ptr<const T>(losses), ptr<A>(keys),
                                                                    ptr<int64_t>(index), count);
    CUDASEG_CUDA_LAUNCH_CHECK(op, " sort keys of ", losses.str());
    sort_descending<A>(keys, index, sorted, order, count, stream);
    Tensor(scale).fill_(0.0);
    kept = n_min;
    mark_top_kernel<T><<<blocks_for(kept), kThreads, 0, stream>>>(ptr<const int64_t>(order), ptr<T>(scale), kept);
    CUDASEG_CUDA_LAUNCH_CHECK(op, " marking the ", kept, " largest losses of ", losses.str());
    row_sums<1>(SumF<A>{ptr<const A>(sorted)}, StoreSum<T, 1>{nullptr, 1.0, ptr<double>(keep)}, 1, kept,
                losses.device(), op);
    *mean = to_host(keep)[0] / static_cast<double>(kept);
  });
  return kept;
}

void kd_forward(const Tensor& student, const Tensor& teacher, double temperature, double divisor,
                const Tensor& prob_diff, const Tensor& reduced) {
  const double factor = temperature * temperature / divisor;
  const int64_t n = student.size(0), c_count = student.size(1), s = student.size(2);
  gpu::DeviceGuard guard(student.device().index);
  dispatch_floating("kd_loss", student.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const KdF<T> f{ptr<const T>(student), ptr<const T>(teacher), ptr<T>(prob_diff), c_count, s,
                   static_cast<acc_t<T>>(1.0 / temperature)};
    row_sums<1>(f, StoreSum<T, 1>{ptr<T>(reduced), factor, nullptr}, 1, n * s, student.device(), "kd_loss");
  });
}

void kd_backward(const Tensor& prob_diff, const Tensor& grad, double grad_scale, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(out.device().index);
  dispatch_floating("kd_loss_backward", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const Upstream<T> up{ptr<const T>(grad), nullptr, static_cast<acc_t<T>>(grad_scale), false};
    kd_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(out)>>>(ptr<const T>(prob_diff), up, ptr<T>(out), n);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("kd_loss_backward ", prob_diff.str());
}

CUDASEG_REGISTER_KERNEL(ops::kernels::first_invalid_target, cuda, first_invalid_target)
CUDASEG_REGISTER_KERNEL(ops::kernels::cross_entropy_forward, cuda, cross_entropy_forward)
CUDASEG_REGISTER_KERNEL(ops::kernels::cross_entropy_backward, cuda, cross_entropy_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::ohem_select, cuda, ohem_select)
CUDASEG_REGISTER_KERNEL(ops::kernels::kd_forward, cuda, kd_forward)
CUDASEG_REGISTER_KERNEL(ops::kernels::kd_backward, cuda, kd_backward)

}  // namespace cudaseg::cuda
