#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/activation.h"
#include "ops/binary.h"
#include "ops/common.h"
#include "ops/cpu/conv_direct.h"
#include "ops/kernels/activation.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

using kernels::Activation;
using kernels::ActivationArgs;
using kernels::kGeluCubic;
using kernels::kInvSqrt2Pi;
using kernels::kSeluAlpha;
using kernels::kSeluScale;
using kernels::kSqrt1_2;
using kernels::kSqrt2OverPi;

constexpr int64_t kGrain = 1 << 14;

double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// out[i] = f(x[i]), computed in C: double by default; T itself for the
// activations that only compare and select (exact in any precision, the same
// bits as through double), a loop the compiler vectorises where the double
// round trip does not.
template <typename T, typename C = double, typename F>
void map1(const Tensor& x, const Tensor& out, F f) {
  const T* px = x.data<T>();
  T* po = out.data<T>();
  parallel_for(0, x.numel(), kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) po[i] = static_cast<T>(f(static_cast<C>(px[i])));
  });
}

// out[i] = g[i] * df(x[i]).
template <typename T, typename F>
void map_grad(const Tensor& g, const Tensor& x, const Tensor& out, F df) {
  const T* pg = g.data<T>();
  const T* px = x.data<T>();
  T* po = out.data<T>();
  parallel_for(0, x.numel(), kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) po[i] = static_cast<T>(pg[i] * df(static_cast<double>(px[i])));
  });
}

// out[i] = pass(x[i]) ? g[i] : 0, the gradient of the piecewise-linear
// activations in T, as PyTorch's threshold_backward: a masked-off NaN or
// negative g gives +0. map_grad's double round trip kept this loop scalar
// (relu's backward was 5% of a training step), and so did g * mask, which
// GCC turns into a branch per element (g * 1 is g) that mispredicted on the
// random signs of x; a select of the loaded g vectorises.
template <typename T, typename P>
void mask_grad(const Tensor& g, const Tensor& x, const Tensor& out, P pass) {
  const T* pg = g.data<T>();
  const T* px = x.data<T>();
  T* po = out.data<T>();
  parallel_for(0, x.numel(), kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const T gi = pg[i];
      po[i] = pass(px[i]) ? gi : T(0);
    }
  });
}

template <typename T>
void forward_typed(const ActivationArgs& args, const Tensor& x, const Tensor& out) {
  const double a = args.a, b = args.b;
  switch (args.kind) {
    case Activation::relu: return map1<T, T>(x, out, [](T v) { return v < T(0) ? T(0) : v; });
    case Activation::leaky_relu: return map1<T>(x, out, [a](double v) { return v > 0 ? v : a * v; });
    case Activation::elu: return map1<T>(x, out, [a](double v) { return v > 0 ? v : a * std::expm1(v); });
    case Activation::celu:
      return map1<T>(x, out, [a](double v) { return v > 0 ? v : a * std::expm1(v / a); });
    case Activation::selu:
      return map1<T>(x, out, [](double v) { return kSeluScale * (v > 0 ? v : kSeluAlpha * std::expm1(v)); });
    case Activation::gelu:
      return map1<T>(x, out, [](double v) { return 0.5 * v * (1.0 + std::erf(v * kSqrt1_2)); });
    case Activation::gelu_tanh:
      return map1<T>(x, out, [](double v) {
        return 0.5 * v * (1.0 + std::tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v)));
      });
    case Activation::silu: return map1<T>(x, out, [](double v) { return v * sigmoid_of(v); });
    case Activation::hardswish:
      return map1<T>(x, out, [](double v) { return v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0; });
    case Activation::hardsigmoid:
      return map1<T>(x, out, [](double v) { return std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0; });
    case Activation::hardtanh: return map1<T>(x, out, [a, b](double v) { return std::min(std::max(v, a), b); });
    case Activation::sigmoid: return map1<T>(x, out, sigmoid_of);
    case Activation::tanh: return map1<T>(x, out, [](double v) { return std::tanh(v); });
  }
}

// Derivatives at the kinks follow PyTorch: relu'(0) = 0, leaky/elu/celu/selu
// take their negative branch at 0, hardtanh/hardsigmoid are flat at both
// ends, hardswish uses x/3 + 1/2 on the closed interval [-3, 3].
template <typename T>
void backward_typed(const ActivationArgs& args, const Tensor& g, const Tensor& x, const Tensor& out) {
  const double a = args.a, b = args.b;
  switch (args.kind) {
    case Activation::relu: return mask_grad<T>(g, x, out, [](T v) { return v > T(0); });
    case Activation::leaky_relu: return map_grad<T>(g, x, out, [a](double v) { return v > 0 ? 1.0 : a; });
    case Activation::elu: return map_grad<T>(g, x, out, [a](double v) { return v > 0 ? 1.0 : a * std::exp(v); });
    case Activation::celu:
      return map_grad<T>(g, x, out, [a](double v) { return v > 0 ? 1.0 : std::exp(v / a); });
    case Activation::selu:
      return map_grad<T>(g, x, out,
                         [](double v) { return v > 0 ? kSeluScale : kSeluScale * kSeluAlpha * std::exp(v); });
    case Activation::gelu:
      return map_grad<T>(g, x, out, [](double v) {
        return 0.5 * (1.0 + std::erf(v * kSqrt1_2)) + v * kInvSqrt2Pi * std::exp(-0.5 * v * v);
      });
    case Activation::gelu_tanh:
      return map_grad<T>(g, x, out, [](double v) {
        const double t = std::tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v));
        return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3.0 * kGeluCubic * v * v);
      });
    case Activation::silu:
      return map_grad<T>(g, x, out, [](double v) {
        const double s = sigmoid_of(v);
        return s * (1.0 + v * (1.0 - s));
      });
    case Activation::hardswish:
      return map_grad<T>(g, x, out, [](double v) { return v < -3.0 ? 0.0 : (v <= 3.0 ? v / 3.0 + 0.5 : 1.0); });
    case Activation::hardsigmoid:
      return map_grad<T>(g, x, out, [](double v) { return v > -3.0 && v < 3.0 ? 1.0 / 6.0 : 0.0; });
    case Activation::hardtanh:
      return mask_grad<T>(g, x, out,
                          [a, b](T v) { return (static_cast<double>(v) > a) & (static_cast<double>(v) < b); });
    case Activation::sigmoid: return map_grad<T>(g, x, out, [](double y) { return y * (1.0 - y); });
    case Activation::tanh: return map_grad<T>(g, x, out, [](double y) { return 1.0 - y * y; });
  }
}

}  // namespace

void activation(const ActivationArgs& args, const Tensor& x, const Tensor& out) {
  const direct::Isa* isa = direct::best_isa();
  if (args.kind == Activation::gelu && x.dtype() == DType::f32 && isa) {
    // The SIMD GELU the direct convolution fuses (conv_direct.h), so that a
    // GELU fused into a convolution and this one agree bit for bit.
    const float* px = x.data<float>();
    float* po = out.data<float>();
    parallel_for(0, x.numel(), kGrain, [&](int64_t s, int64_t e) { isa->gelu(px + s, po + s, e - s); });
    return;
  }
  const bool elu_family =
      args.kind == Activation::elu || args.kind == Activation::celu || args.kind == Activation::selu;
  if (elu_family && x.dtype() == DType::f32 && isa) {
    // SIMD in float32 (conv_direct.h, Isa::elu): the double expm1 a value at
    // a time was 40% of MiniNet's forward.
    const bool selu = args.kind == Activation::selu;
    const float alpha = static_cast<float>(selu ? kSeluAlpha : args.a);
    const float scale = static_cast<float>(selu ? kSeluScale : 1.0);
    const float inv = static_cast<float>(args.kind == Activation::celu ? 1.0 / args.a : 1.0);
    const float* px = x.data<float>();
    float* po = out.data<float>();
    parallel_for(0, x.numel(), kGrain, [&](int64_t s, int64_t e) { isa->elu(px + s, po + s, e - s, alpha, scale, inv); });
    return;
  }
  if ((args.kind == Activation::sigmoid || args.kind == Activation::silu) && x.dtype() == DType::f32 && isa) {
    // SIMD in float32 (Isa::sigmoid): a libm exp in double a value was a
    // tenth of PP-MobileSeg's forward.
    const bool silu = args.kind == Activation::silu;
    const float* px = x.data<float>();
    float* po = out.data<float>();
    parallel_for(0, x.numel(), kGrain, [&](int64_t s, int64_t e) { isa->sigmoid(px + s, po + s, e - s, silu); });
    return;
  }
  dispatch_float("activation", x.dtype(), [&](auto tag) { forward_typed<decltype(tag)>(args, x, out); });
}

void activation_backward(const ActivationArgs& args, const Tensor& grad, const Tensor& x,
                         const Tensor& grad_input) {
  dispatch_float("activation_backward", x.dtype(),
                 [&](auto tag) { backward_typed<decltype(tag)>(args, grad, x, grad_input); });
}

void prelu(const Tensor& x, const Tensor& weight, const Tensor& out) {
  const int64_t rows = x.size(0) * x.size(1), C = x.size(1), S = x.size(2);
  dispatch_float("prelu", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pw = weight.data<T>();
    T* po = out.data<T>();
    const bool shared = weight.numel() == 1;
    parallel_for(0, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(S, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T w = pw[shared ? 0 : r % C];
        // Both halves computed for every element: a select between x and
        // w * x would evaluate the product speculatively, which GCC does not
        // do under its default -ftrapping-math, and the loop stayed scalar and
        // branchy (37% of CGNet's forward). max/min keep NaN and are exact.
        for (int64_t i = r * S; i < (r + 1) * S; ++i) {
          const T v = px[i];
          po[i] = std::max(v, T(0)) + w * std::min(v, T(0));
        }
      }
    });
  });
}

void prelu_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& grad_input,
                    const Tensor& grad_weight) {
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  dispatch_float("prelu_backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pg = grad.data<T>();
    const T* pw = weight.data<T>();
    const bool shared = weight.numel() == 1;
    if (grad_input.defined()) {
      T* gx = grad_input.data<T>();
      parallel_for(0, N * C, std::max<int64_t>(1, kGrain / std::max<int64_t>(S, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const T w = pw[shared ? 0 : r % C];
          for (int64_t i = r * S; i < (r + 1) * S; ++i) gx[i] = px[i] > 0 ? pg[i] : w * pg[i];
        }
      });
    }
    if (!grad_weight.defined()) return;
    // Per-channel sums of grad * x over the negative side, then folded into
    // the single weight when it is shared.
    std::vector<double> per_channel(C, 0.0);
    parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = (n * C + c) * S; i < (n * C + c + 1) * S; ++i)
            if (!(px[i] > 0)) per_channel[c] += static_cast<double>(pg[i]) * px[i];
    });
    T* gw = grad_weight.data<T>();
    if (shared) {
      double total = 0;
      for (double v : per_channel) total += v;
      gw[0] = static_cast<T>(total);
    } else {
      for (int64_t c = 0; c < C; ++c) gw[c] = static_cast<T>(per_channel[c]);
    }
  });
}

// glu composes the pointwise ops: its CPU cost is that of mul and sigmoid,
// and a fused loop would only repeat their code.
void glu(const Tensor& x, const Tensor& out) {
  const int64_t half = x.size(1) / 2;
  Tensor(out).copy_(ops::mul(x.narrow(1, 0, half), ops::sigmoid(x.narrow(1, half, half))));
}

void glu_backward(const Tensor& grad, const Tensor& x, const Tensor& grad_input) {
  const int64_t half = x.size(1) / 2;
  const Tensor a = x.narrow(1, 0, half), sb = ops::sigmoid(x.narrow(1, half, half));
  grad_input.narrow(1, 0, half).copy_(ops::mul(grad, sb));
  grad_input.narrow(1, half, half).copy_(ops::sigmoid_backward(ops::mul(grad, a), sb));
}

CUDASEG_REGISTER_KERNEL(kernels::activation, cpu, activation)
CUDASEG_REGISTER_KERNEL(kernels::activation_backward, cpu, activation_backward)
CUDASEG_REGISTER_KERNEL(kernels::prelu, cpu, prelu)
CUDASEG_REGISTER_KERNEL(kernels::prelu_backward, cpu, prelu_backward)
CUDASEG_REGISTER_KERNEL(kernels::glu, cpu, glu)
CUDASEG_REGISTER_KERNEL(kernels::glu_backward, cpu, glu_backward)

}  // namespace cudaseg::ops::cpu
