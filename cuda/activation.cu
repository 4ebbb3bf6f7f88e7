// Activations on CUDA. The pointwise ones are one kernel pair (forward,
// backward) instantiated per activation functor: one thread per element in a
// grid-stride loop over contiguous data, computing in acc_t<T>. The functors
// copy the CPU kernel's formulas and its choices at the kinks and for NaN
// (the clamps are written as std::min / std::max are, so NaN propagates).
// prelu's input gradient is pointwise; its weight gradient is a per-channel
// sum over N * S, done with the deterministic two-level channel reduction of
// cuda/reduction.cuh. glu gives a thread to each output element, which reads
// both halves.
#include "cuda/reduction.cuh"
#include "ops/kernels/activation.h"

namespace cudaseg::cuda {
namespace {

using ops::kernels::Activation;
using ops::kernels::ActivationArgs;
using ops::kernels::kGeluCubic;
using ops::kernels::kInvSqrt2Pi;
using ops::kernels::kSeluAlpha;
using ops::kernels::kSeluScale;
using ops::kernels::kSqrt1_2;
using ops::kernels::kSqrt2OverPi;

template <typename A>
__device__ A clamp_like_std(A v, A lo, A hi) {
  const A m = v < lo ? lo : v;
  return hi < m ? hi : m;
}
template <typename A>
__device__ A sigmoid_of(A v) {
  return A(1) / (A(1) + exp(-v));
}

// Each functor: fwd(x) = f(x), grad(x) = f'(x) (of the output for sigmoid, tanh).
template <typename A>
struct Relu {
  __device__ A fwd(A v) const { return v < A(0) ? A(0) : v; }
  __device__ A grad(A v) const { return v > A(0) ? A(1) : A(0); }
};
template <typename A>
struct LeakyRelu {
  A slope;
  __device__ A fwd(A v) const { return v > A(0) ? v : slope * v; }
  __device__ A grad(A v) const { return v > A(0) ? A(1) : slope; }
};
template <typename A>
struct Elu {
  A alpha;
  __device__ A fwd(A v) const { return v > A(0) ? v : alpha * expm1(v); }
  __device__ A grad(A v) const { return v > A(0) ? A(1) : alpha * exp(v); }
};
template <typename A>
struct Celu {
  A alpha;
  __device__ A fwd(A v) const { return v > A(0) ? v : alpha * expm1(v / alpha); }
  __device__ A grad(A v) const { return v > A(0) ? A(1) : exp(v / alpha); }
};
template <typename A>
struct Selu {
  __device__ A fwd(A v) const { return A(kSeluScale) * (v > A(0) ? v : A(kSeluAlpha) * expm1(v)); }
  __device__ A grad(A v) const { return v > A(0) ? A(kSeluScale) : A(kSeluScale * kSeluAlpha) * exp(v); }
};
template <typename A>
struct Gelu {
  __device__ A fwd(A v) const { return A(0.5) * v * (A(1) + erf(v * A(kSqrt1_2))); }
  __device__ A grad(A v) const {
    return A(0.5) * (A(1) + erf(v * A(kSqrt1_2))) + v * A(kInvSqrt2Pi) * exp(A(-0.5) * v * v);
  }
};
template <typename A>
struct GeluTanh {
  __device__ A inner(A v) const { return A(kSqrt2OverPi) * (v + A(kGeluCubic) * v * v * v); }
  __device__ A fwd(A v) const { return A(0.5) * v * (A(1) + tanh(inner(v))); }
  __device__ A grad(A v) const {
    const A t = tanh(inner(v));
    return A(0.5) * (A(1) + t) +
           A(0.5) * v * (A(1) - t * t) * A(kSqrt2OverPi) * (A(1) + A(3 * kGeluCubic) * v * v);
  }
};
template <typename A>
struct Silu {
  __device__ A fwd(A v) const { return v * sigmoid_of(v); }
  __device__ A grad(A v) const {
    const A s = sigmoid_of(v);
    return s * (A(1) + v * (A(1) - s));
  }
};
template <typename A>
struct Hardswish {
  __device__ A fwd(A v) const { return v * clamp_like_std(v + A(3), A(0), A(6)) / A(6); }
  __device__ A grad(A v) const { return v < A(-3) ? A(0) : (v <= A(3) ? v / A(3) + A(0.5) : A(1)); }
};
template <typename A>
struct Hardsigmoid {
  __device__ A fwd(A v) const { return clamp_like_std(v + A(3), A(0), A(6)) / A(6); }
  __device__ A grad(A v) const { return v > A(-3) && v < A(3) ? A(1) / A(6) : A(0); }
};
template <typename A>
struct Hardtanh {
  A lo, hi;
  __device__ A fwd(A v) const { return clamp_like_std(v, lo, hi); }
  __device__ A grad(A v) const { return v > lo && v < hi ? A(1) : A(0); }
};
template <typename A>
struct Sigmoid {
  __device__ A fwd(A v) const { return sigmoid_of(v); }
  __device__ A grad(A y) const { return y * (A(1) - y); }
};
template <typename A>
struct Tanh {
  __device__ A fwd(A v) const { return tanh(v); }
  __device__ A grad(A y) const { return A(1) - y * y; }
};

// Calls visit(functor) with the functor of args.kind.
template <typename A, typename V>
void with_functor(const ActivationArgs& args, V&& visit) {
  const A a = static_cast<A>(args.a), b = static_cast<A>(args.b);
  switch (args.kind) {
    case Activation::relu: return visit(Relu<A>{});
    case Activation::leaky_relu: return visit(LeakyRelu<A>{a});
    case Activation::elu: return visit(Elu<A>{a});
    case Activation::celu: return visit(Celu<A>{a});
    case Activation::selu: return visit(Selu<A>{});
    case Activation::gelu: return visit(Gelu<A>{});
    case Activation::gelu_tanh: return visit(GeluTanh<A>{});
    case Activation::silu: return visit(Silu<A>{});
    case Activation::hardswish: return visit(Hardswish<A>{});
    case Activation::hardsigmoid: return visit(Hardsigmoid<A>{});
    case Activation::hardtanh: return visit(Hardtanh<A>{a, b});
    case Activation::sigmoid: return visit(Sigmoid<A>{});
    case Activation::tanh: return visit(Tanh<A>{});
  }
  CUDASEG_FAIL("activation: unknown kind ", static_cast<int>(args.kind));
}

template <typename T, typename F>
__global__ void forward_kernel(const T* x, T* out, int64_t n, F f) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = store<T>(f.fwd(load(x[i])));
}

template <typename T, typename F>
__global__ void backward_kernel(const T* g, const T* x, T* out, int64_t n, F f) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = store<T>(load(g[i]) * f.grad(load(x[i])));
}

// The weight of flat element i of x [N, C, S].
template <typename T>
__device__ acc_t<T> prelu_weight(const T* w, bool shared, int64_t i, int64_t C, int64_t S) {
  return load(w[shared ? 0 : (i / S) % C]);
}

template <typename T>
__global__ void prelu_kernel(const T* x, const T* w, T* out, int64_t n, bool shared, int64_t C, int64_t S) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const acc_t<T> v = load(x[i]);
    out[i] = store<T>(v > 0 ? v : prelu_weight(w, shared, i, C, S) * v);
  }
}

template <typename T>
__global__ void prelu_input_grad(const T* g, const T* x, const T* w, T* gx, int64_t n, bool shared, int64_t C,
                                 int64_t S) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const acc_t<T> gv = load(g[i]);
    gx[i] = store<T>(load(x[i]) > 0 ? gv : prelu_weight(w, shared, i, C, S) * gv);
  }
}

// grad * x over the non-positive side, per channel of an [N, C, S] view.
template <typename T>
struct PreluWeightGrad {
  const T* g;
  const T* x;
  int64_t C, S;
  __device__ acc_t<T> operator()(acc_t<T> acc, int64_t n, int64_t c, int64_t s) const {
    const int64_t k = (n * C + c) * S + s;
    const acc_t<T> v = load(x[k]);
    return v > 0 ? acc : acc + load(g[k]) * v;
  }
};

template <typename T>
__global__ void store_sums(const acc_t<T>* sums, T* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = store<T>(sums[i]);
}

// Output element i of [O, H, I] reads a at x[a_off] and b at x[a_off + H * I].
__device__ __forceinline__ int64_t glu_a_offset(int64_t i, int64_t HI) { return (i / HI) * 2 * HI + i % HI; }

template <typename T>
__global__ void glu_kernel(const T* x, T* out, int64_t n, int64_t HI) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = glu_a_offset(i, HI);
    out[i] = store<T>(load(x[k]) * sigmoid_of(load(x[k + HI])));
  }
}

template <typename T>
__global__ void glu_backward_kernel(const T* g, const T* x, T* gx, int64_t n, int64_t HI) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = glu_a_offset(i, HI);
    const A gv = load(g[i]), a = load(x[k]), sb = sigmoid_of(load(x[k + HI]));
    gx[k] = store<T>(gv * sb);
    gx[k + HI] = store<T>(gv * a * sb * (A(1) - sb));
  }
}

}  // namespace

void activation(const ActivationArgs& args, const Tensor& x, const Tensor& out) {
  const int64_t n = x.numel();
  gpu::DeviceGuard guard(x.device().index);
  cudaStream_t stream = stream_for(x);
  dispatch_floating("activation", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    with_functor<acc_t<T>>(args, [&](auto f) {
      forward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(ptr<const T>(x), ptr<T>(out), n, f);
    });
    CUDASEG_CUDA_LAUNCH_CHECK("activation ", static_cast<int>(args.kind), " ", x.str());
  });
}

void activation_backward(const ActivationArgs& args, const Tensor& grad, const Tensor& x,
                         const Tensor& grad_input) {
  const int64_t n = x.numel();
  gpu::DeviceGuard guard(x.device().index);
  cudaStream_t stream = stream_for(x);
  dispatch_floating("activation_backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    with_functor<acc_t<T>>(args, [&](auto f) {
      backward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(ptr<const T>(grad), ptr<const T>(x),
                                                                 ptr<T>(grad_input), n, f);
    });
    CUDASEG_CUDA_LAUNCH_CHECK("activation_backward ", static_cast<int>(args.kind), " ", x.str());
  });
}

void prelu(const Tensor& x, const Tensor& weight, const Tensor& out) {
  const int64_t n = x.numel(), C = x.size(1), S = x.size(2);
  gpu::DeviceGuard guard(x.device().index);
  dispatch_floating("prelu", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    prelu_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(x)>>>(ptr<const T>(x), ptr<const T>(weight),
                                                                     ptr<T>(out), n, weight.numel() == 1, C, S);
    CUDASEG_CUDA_LAUNCH_CHECK("prelu ", x.str(), ", weight ", weight.str());
  });
}

void prelu_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& grad_input,
                    const Tensor& grad_weight) {
  const int64_t n = x.numel(), N = x.size(0), C = x.size(1), S = x.size(2);
  const bool shared = weight.numel() == 1;
  gpu::DeviceGuard guard(x.device().index);
  cudaStream_t stream = stream_for(x);
  dispatch_floating("prelu_backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    if (grad_input.defined()) {
      prelu_input_grad<T><<<blocks_for(n), kThreads, 0, stream>>>(ptr<const T>(grad), ptr<const T>(x),
                                                                   ptr<const T>(weight), ptr<T>(grad_input), n,
                                                                   shared, C, S);
      CUDASEG_CUDA_LAUNCH_CHECK("prelu_backward ", x.str(), ", weight ", weight.str());
    }
    if (!grad_weight.defined()) return;
    // A shared weight sees x as one channel of C * S positions.
    const int64_t Cw = shared ? 1 : C, Sw = shared ? C * S : S;
    const Tensor sums = channel_reduce(PreluWeightGrad<T>{ptr<const T>(grad), ptr<const T>(x), Cw, Sw},
                                       SumOp<A>{}, A(0), N, Cw, Sw, x, "prelu_backward");
    store_sums<T><<<blocks_for(Cw), kThreads, 0, stream>>>(scratch_ptr<const A>(sums), ptr<T>(grad_weight), Cw);
    CUDASEG_CUDA_LAUNCH_CHECK("prelu_backward (weight grad) ", x.str(), ", weight ", weight.str());
  });
}

void glu(const Tensor& x, const Tensor& out) {
  const int64_t n = out.numel(), HI = out.size(1) * out.size(2);
  gpu::DeviceGuard guard(x.device().index);
  dispatch_floating("glu", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    glu_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(x)>>>(ptr<const T>(x), ptr<T>(out), n, HI);
    CUDASEG_CUDA_LAUNCH_CHECK("glu ", x.str());
  });
}

void glu_backward(const Tensor& grad, const Tensor& x, const Tensor& grad_input) {
  const int64_t n = grad.numel(), HI = grad.size(1) * grad.size(2);
  gpu::DeviceGuard guard(x.device().index);
  dispatch_floating("glu_backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    glu_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(x)>>>(ptr<const T>(grad), ptr<const T>(x),
                                                                           ptr<T>(grad_input), n, HI);
    CUDASEG_CUDA_LAUNCH_CHECK("glu_backward ", x.str(), ", grad ", grad.str());
  });
}

CUDASEG_REGISTER_KERNEL(ops::kernels::activation, cuda, activation)
CUDASEG_REGISTER_KERNEL(ops::kernels::activation_backward, cuda, activation_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::prelu, cuda, prelu)
CUDASEG_REGISTER_KERNEL(ops::kernels::prelu_backward, cuda, prelu_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::glu, cuda, glu)
CUDASEG_REGISTER_KERNEL(ops::kernels::glu_backward, cuda, glu_backward)

}  // namespace cudaseg::cuda
