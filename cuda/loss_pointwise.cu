// Elementwise and per-sample losses on CUDA: mse, l1, smooth_l1, kl_div,
// binary cross entropy with logits, dice.
//
// Elementwise losses: with reduction 'none' one thread per element in a
// grid-stride loop writes the loss; otherwise the loss is computed inside
// the first pass of the deterministic two-pass sum (cuda/loss_reduce.cuh),
// so no per-element buffer exists. Dice sums p*g and p+g per sample with
// the same two-pass sum (rows = samples), then one thread per element writes
// the gradient from its sample's sums. Backward kernels are one thread per
// element.
#include "cuda/loss_reduce.cuh"
#include "ops/kernels/loss.h"

namespace cudaseg::cuda {
namespace {

template <typename A>
__device__ __forceinline__ A abs_(A v) {
  return v < A(0) ? -v : v;
}

template <typename A>
__device__ __forceinline__ A sign_(A v) {
  return static_cast<A>((v > A(0)) - (v < A(0)));
}

// log(1 + exp(-x)) without overflow.
template <typename A>
__device__ __forceinline__ A softplus_neg(A x) {
  const A e = exp_(-abs_(x));
  A l;
  if constexpr (std::is_same_v<A, double>) {
    l = log1p(e);
  } else {
    l = log1pf(e);
  }
  return l + (-x > A(0) ? -x : A(0));
}

template <typename A>
__device__ __forceinline__ A sigmoid_(A x) {
  return A(1) / (A(1) + exp_(-x));
}

template <typename A>
__device__ A pointwise_value(Pointwise kind, A x, A t, A b) {
  const A d = x - t;
  switch (kind) {
    case Pointwise::mse: return d * d;
    case Pointwise::l1: return abs_(d);
    case Pointwise::smooth_l1: return abs_(d) < b ? A(0.5) * d * d / b : abs_(d) - A(0.5) * b;
    case Pointwise::kl_div: return (t > A(0) ? t * log_(t) : A(0)) - t * x;
    case Pointwise::kl_div_log_target: return exp_(t) * (t - x);
  }
  return A(0);
}

template <typename T>
struct PointwiseLoss {
  const T* x;
  const T* t;
  Pointwise kind;
  acc_t<T> beta;
  __device__ acc_t<T> operator()(int64_t i) const { return pointwise_value(kind, load(x[i]), load(t[i]), beta); }
};

template <typename T>
struct BceLoss {
  const T* x;
  const T* y;
  const T* w;   // or null
  const T* pw;  // or null
  __device__ acc_t<T> operator()(int64_t i) const {
    using A = acc_t<T>;
    const A xi = load(x[i]), yi = load(y[i]);
    const A log_weight = pw ? A(1) + (load(pw[i]) - A(1)) * yi : A(1);
    const A l = (A(1) - yi) * xi + log_weight * softplus_neg(xi);
    return w ? load(w[i]) * l : l;
  }
};

template <typename T, typename L>
__global__ void elementwise_loss_kernel(L loss, T* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = store<T>(loss(i));
}

// The sum of the losses as they would be stored, so 'sum' equals the sum of 'none'.
template <typename T, typename L>
struct SumLoss {
  L loss;
  __device__ void operator()(int64_t, int64_t i, double (&acc)[1]) const {
    acc[0] += static_cast<double>(load(store<T>(loss(i))));
  }
};

template <typename T, typename L>
void launch_loss(const L& loss, int64_t n, bool reduce, double factor, const Tensor& out, const char* op) {
  if (reduce) {
    row_sums<1>(SumLoss<T, L>{loss}, StoreSum<T, 1>{ptr<T>(out), factor, nullptr}, 1, n, out.device(), op);
    return;
  }
  if (n == 0) return;
  elementwise_loss_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(out)>>>(loss, ptr<T>(out), n);
  CUDASEG_CUDA_LAUNCH_CHECK(op, " ", out.str());
}

template <typename T>
__global__ void pointwise_backward_kernel(Pointwise kind, const T* x, const T* t, acc_t<T> b, Upstream<T> up, T* gi,
                                          T* gt, int64_t n) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const A xi = load(x[i]), ti = load(t[i]), d = xi - ti, g = up.at(i);
    A di = 0, dt = 0;
    switch (kind) {
      case Pointwise::mse: di = A(2) * d, dt = -di; break;
      case Pointwise::l1: di = sign_(d), dt = -di; break;
      case Pointwise::smooth_l1: di = abs_(d) < b ? d / b : sign_(d), dt = -di; break;
      case Pointwise::kl_div: di = -ti, dt = log_(ti) + A(1) - xi; break;
      case Pointwise::kl_div_log_target: di = -exp_(ti), dt = exp_(ti) * (ti - xi + A(1)); break;
    }
    if (gi) gi[i] = store<T>(g * di);
    if (gt) gt[i] = store<T>(g * dt);
  }
}

template <typename T>
__global__ void bce_backward_kernel(const T* x, const T* y, const T* w, const T* pw, Upstream<T> up, T* gi, T* gt,
                                    int64_t n) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const A xi = load(x[i]), yi = load(y[i]), p = pw ? load(pw[i]) : A(1);
    A g = up.at(i);
    if (w) g *= load(w[i]);
    // l = -[p y log s(x) + (1 - y) log(1 - s(x))]
    if (gi) gi[i] = store<T>(g * (sigmoid_(xi) * (p * yi + A(1) - yi) - p * yi));
    if (gt) gt[i] = store<T>(g * ((p - A(1)) * softplus_neg(xi) - xi));
  }
}

// Per sample r of [N, M]: sums of p*g and of p + g.
template <typename T>
struct DiceF {
  const T* x;
  const T* g;
  int64_t m;
  bool apply_sigmoid;
  __device__ void operator()(int64_t r, int64_t j, double (&acc)[2]) const {
    using A = acc_t<T>;
    const A xv = load(x[r * m + j]), gv = load(g[r * m + j]);
    const A p = apply_sigmoid ? sigmoid_(xv) : xv;
    acc[0] += static_cast<double>(p * gv);
    acc[1] += static_cast<double>(p) + static_cast<double>(gv);
  }
};

// out[r] = the dice loss of sample r, or the sums kept for the backward.
template <typename T>
struct DiceE {
  T* out;        // or null
  double* keep;  // [N, 2], or null
  double smooth;
  __device__ void operator()(int64_t r, const double (&sums)[2]) const {
    if (out) out[r] = store<T>(static_cast<acc_t<T>>(1.0 - (2.0 * sums[0] + smooth) / (sums[1] + smooth)));
    if (keep) {
      keep[2 * r] = sums[0];
      keep[2 * r + 1] = sums[1];
    }
  }
};

template <typename T>
__global__ void dice_backward_kernel(const T* x, const T* g, const double* sums, double smooth, bool apply_sigmoid,
                                     Upstream<T> up, T* gi, T* gt, int64_t n, int64_t m) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n * m;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / m;
    // l = 1 - num / den: dl/dp_j = -(2 g_j den - num) / den^2, and symmetrically for g_j.
    const double num = 2.0 * sums[2 * r] + smooth, den = sums[2 * r + 1] + smooth;
    const double c = -static_cast<double>(up.at(r)) / (den * den);
    const A xv = load(x[i]);
    const A p = apply_sigmoid ? sigmoid_(xv) : xv;
    if (gi) {
      const double dp = c * (2.0 * static_cast<double>(load(g[i])) * den - num);
      gi[i] = store<T>(static_cast<A>(apply_sigmoid ? dp * static_cast<double>(p * (A(1) - p)) : dp));
    }
    if (gt) gt[i] = store<T>(static_cast<A>(c * (2.0 * static_cast<double>(p) * den - num)));
  }
}

template <typename T>
struct SumT {
  const T* x;
  __device__ void operator()(int64_t, int64_t i, double (&acc)[1]) const { acc[0] += static_cast<double>(load(x[i])); }
};

using ops::Reduction;

// The factor of the sum the kernels reduce into a 0-dim `out`.
double sum_factor(Reduction r, const Tensor& input) {
  if (r == Reduction::mean) return 1.0 / static_cast<double>(input.numel());
  if (r == Reduction::batchmean) return 1.0 / static_cast<double>(input.dim() == 0 ? 1 : input.size(0));
  return 1.0;
}

}  // namespace

void pointwise_loss(Pointwise kind, const Tensor& input, const Tensor& target, double beta, Reduction r,
                    const Tensor& out) {
  const bool reduce = r != Reduction::none;
  const double factor = sum_factor(r, input);
  gpu::DeviceGuard guard(out.device().index);
  dispatch_floating("loss", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const PointwiseLoss<T> loss{ptr<const T>(input), ptr<const T>(target), kind, static_cast<acc_t<T>>(beta)};
    launch_loss<T>(loss, input.numel(), reduce, factor, out, "loss");
  });
}

void pointwise_loss_backward(Pointwise kind, const Tensor& input, const Tensor& target, double beta,
                             const UpstreamGrad& grad, const Tensor& grad_input, const Tensor& grad_target) {
  const int64_t n = input.numel();
  if (n == 0 || (!grad_input.defined() && !grad_target.defined())) return;
  gpu::DeviceGuard guard(input.device().index);
  dispatch_floating("loss_backward", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    pointwise_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(input)>>>(
        kind, ptr<const T>(input), ptr<const T>(target), static_cast<acc_t<T>>(beta), upstream_of<T>(grad),
        ptr_or_null<T>(grad_input), ptr_or_null<T>(grad_target), n);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("loss_backward ", input.str());
}

void bce_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight, const Tensor& pos_weight,
                     Reduction r, const Tensor& out) {
  const bool reduce = r != Reduction::none;
  const double factor = sum_factor(r, input);
  constexpr const char* op = "binary_cross_entropy_with_logits";
  gpu::DeviceGuard guard(out.device().index);
  dispatch_floating(op, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const BceLoss<T> loss{ptr<const T>(input), ptr<const T>(target), ptr_or_null<const T>(weight),
                          ptr_or_null<const T>(pos_weight)};
    launch_loss<T>(loss, input.numel(), reduce, factor, out, op);
  });
}

void bce_with_logits_backward(const Tensor& input, const Tensor& target, const Tensor& weight,
                              const Tensor& pos_weight, const UpstreamGrad& grad, const Tensor& grad_input,
                              const Tensor& grad_target) {
  constexpr const char* op = "binary_cross_entropy_with_logits_backward";
  const int64_t n = input.numel();
  if (n == 0 || (!grad_input.defined() && !grad_target.defined())) return;
  gpu::DeviceGuard guard(input.device().index);
  dispatch_floating(op, input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    bce_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(input)>>>(
        ptr<const T>(input), ptr<const T>(target), ptr_or_null<const T>(weight), ptr_or_null<const T>(pos_weight),
        upstream_of<T>(grad), ptr_or_null<T>(grad_input), ptr_or_null<T>(grad_target), n);
  });
  CUDASEG_CUDA_LAUNCH_CHECK(op, " ", input.str());
}

void dice(const Tensor& input, const Tensor& target, double smooth, bool apply_sigmoid, const Tensor& out) {
  const int64_t n = input.size(0), m = input.size(1);
  gpu::DeviceGuard guard(out.device().index);
  dispatch_floating("dice_loss", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    row_sums<2>(DiceF<T>{ptr<const T>(input), ptr<const T>(target), m, apply_sigmoid},
                DiceE<T>{ptr<T>(out), nullptr, smooth}, n, m, out.device(), "dice_loss");
  });
}

void dice_backward(const Tensor& input, const Tensor& target, double smooth, bool apply_sigmoid,
                   const UpstreamGrad& grad, const Tensor& grad_input, const Tensor& grad_target) {
  constexpr const char* op = "dice_loss_backward";
  const int64_t n = input.size(0), m = input.size(1);
  if (n * m == 0 || (!grad_input.defined() && !grad_target.defined())) return;
  gpu::DeviceGuard guard(input.device().index);
  const Tensor sums = Tensor::empty({n * 2}, DType::f64, input.device());
  dispatch_floating(op, input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    row_sums<2>(DiceF<T>{ptr<const T>(input), ptr<const T>(target), m, apply_sigmoid},
                DiceE<T>{nullptr, ptr<double>(sums), smooth}, n, m, input.device(), op);
    dice_backward_kernel<T><<<blocks_for(n * m), kThreads, 0, stream_for(input)>>>(
        ptr<const T>(input), ptr<const T>(target), ptr<const double>(sums), smooth, apply_sigmoid,
        upstream_of<T>(grad), ptr_or_null<T>(grad_input), ptr_or_null<T>(grad_target), n, m);
  });
  CUDASEG_CUDA_LAUNCH_CHECK(op, " ", input.str());
}

namespace {

// out (0-dim) = factor * sum(x), x contiguous.
void sum_scaled(const Tensor& x, double factor, const Tensor& out) {
  gpu::DeviceGuard guard(out.device().index);
  dispatch_floating("loss", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    row_sums<1>(SumT<T>{ptr<const T>(x)}, StoreSum<T, 1>{ptr<T>(out), factor, nullptr}, 1, x.numel(), out.device(),
                "loss");
  });
}

}  // namespace

Tensor reduce_losses(const Tensor& l, Reduction r, int64_t batch) {
  if (r == Reduction::none) return l;
  Tensor out = Tensor::empty({}, l.dtype(), l.device());
  const double divisor = r == Reduction::mean        ? static_cast<double>(l.numel())
                         : r == Reduction::batchmean ? static_cast<double>(batch)
                                                     : 1.0;
  sum_scaled(l.contiguous(), 1.0 / divisor, out);
  return out;
}

CUDASEG_REGISTER_KERNEL(ops::kernels::pointwise_loss, cuda, pointwise_loss)
CUDASEG_REGISTER_KERNEL(ops::kernels::pointwise_loss_backward, cuda, pointwise_loss_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::bce_with_logits, cuda, bce_with_logits)
CUDASEG_REGISTER_KERNEL(ops::kernels::bce_with_logits_backward, cuda, bce_with_logits_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::dice, cuda, dice)
CUDASEG_REGISTER_KERNEL(ops::kernels::dice_backward, cuda, dice_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::reduce_losses, cuda, reduce_losses)

}  // namespace cudaseg::cuda
