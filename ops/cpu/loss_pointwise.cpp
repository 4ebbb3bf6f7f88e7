// Elementwise and per-sample losses: regression, KL divergence, binary cross
// entropy with logits, dice.
#include <algorithm>
#include <cmath>

#include "ops/common.h"
#include "ops/binary.h"
#include "ops/kernels/loss.h"
#include "ops/reduce.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

using kernels::Pointwise;
using kernels::UpstreamGrad;

constexpr int64_t kGrain = 1 << 14;

template <typename T>
T sign(T v) {
  return static_cast<T>((v > 0) - (v < 0));
}

// log(1 + exp(-x)) without overflow.
template <typename T>
T softplus_neg(T x) {
  return std::log1p(std::exp(-std::abs(x))) + std::max(-x, T(0));
}

template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// Calls f(i, g_i) over the elements with their upstream gradient.
template <typename T, typename F>
void for_each_grad(int64_t count, const UpstreamGrad& grad, F&& f) {
  const T* pg = grad.per_element ? grad.grad.data<T>() : nullptr;
  const T g0 = grad.per_element ? T(0) : static_cast<T>(grad.grad.item() * grad.factor);
  const T factor = static_cast<T>(grad.factor);
  parallel_for(0, count, kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) f(i, pg ? pg[i] * factor : g0);
  });
}

template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void pointwise_losses(Pointwise kind, const Tensor& input, const Tensor& target, double beta, const Tensor& out) {
  dispatch_float("loss", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data<T>();
    const T* t = target.data<T>();
    T* o = out.data<T>();
    const T b = static_cast<T>(beta);
    parallel_for(0, input.numel(), kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) {
        const T d = x[i] - t[i];
        switch (kind) {
          case Pointwise::mse: o[i] = d * d; break;
          case Pointwise::l1: o[i] = std::abs(d); break;
          case Pointwise::smooth_l1:
            o[i] = std::abs(d) < b ? T(0.5) * d * d / b : std::abs(d) - T(0.5) * b;
            break;
          case Pointwise::kl_div: o[i] = (t[i] > 0 ? t[i] * std::log(t[i]) : T(0)) - t[i] * x[i]; break;
          case Pointwise::kl_div_log_target: o[i] = std::exp(t[i]) * (t[i] - x[i]); break;
        }
      }
    });
  });
}

void pointwise_loss_backward(Pointwise kind, const Tensor& input, const Tensor& target, double beta,
                             const UpstreamGrad& grad, const Tensor& grad_input, const Tensor& grad_target) {
  dispatch_float("loss_backward", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data<T>();
    const T* t = target.data<T>();
    T* gi = data_or_null<T>(grad_input);
    T* gt = data_or_null<T>(grad_target);
    const T b = static_cast<T>(beta);
    for_each_grad<T>(input.numel(), grad, [&](int64_t i, T g) {
      const T d = x[i] - t[i];
      T di = 0, dt = 0;
      switch (kind) {
        case Pointwise::mse: di = T(2) * d, dt = -di; break;
        case Pointwise::l1: di = sign(d), dt = -di; break;
        case Pointwise::smooth_l1: di = std::abs(d) < b ? d / b : sign(d), dt = -di; break;
        case Pointwise::kl_div: di = -t[i], dt = std::log(t[i]) + T(1) - x[i]; break;
        case Pointwise::kl_div_log_target:
          di = -std::exp(t[i]), dt = std::exp(t[i]) * (t[i] - x[i] + T(1));
          break;
      }
      if (gi) gi[i] = g * di;
      if (gt) gt[i] = g * dt;
    });
  });
}

void bce_with_logits_losses(const Tensor& input, const Tensor& target, const Tensor& weight,
                            const Tensor& pos_weight, const Tensor& out) {
  dispatch_float("binary_cross_entropy_with_logits", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data<T>();
    const T* y = target.data<T>();
    const T* w = data_or_null<T>(weight);
    const T* pw = data_or_null<T>(pos_weight);
    T* o = out.data<T>();
    parallel_for(0, input.numel(), kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) {
        const T log_weight = pw ? T(1) + (pw[i] - T(1)) * y[i] : T(1);
        const T l = (T(1) - y[i]) * x[i] + log_weight * softplus_neg(x[i]);
        o[i] = w ? w[i] * l : l;
      }
    });
  });
}

void bce_with_logits_backward(const Tensor& input, const Tensor& target, const Tensor& weight,
                              const Tensor& pos_weight, const UpstreamGrad& grad, const Tensor& grad_input,
                              const Tensor& grad_target) {
  dispatch_float("binary_cross_entropy_with_logits_backward", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = input.data<T>();
    const T* y = target.data<T>();
    const T* w = data_or_null<T>(weight);
    const T* pw = data_or_null<T>(pos_weight);
    T* gi = data_or_null<T>(grad_input);
    T* gt = data_or_null<T>(grad_target);
    for_each_grad<T>(input.numel(), grad, [&](int64_t i, T g) {
      const T p = pw ? pw[i] : T(1);
      if (w) g *= w[i];
      // l = -[p y log s(x) + (1 - y) log(1 - s(x))]
      if (gi) gi[i] = g * (sigmoid(x[i]) * (p * y[i] + T(1) - y[i]) - p * y[i]);
      if (gt) gt[i] = g * ((p - T(1)) * softplus_neg(x[i]) - x[i]);
    });
  });
}

void dice(const Tensor& input, const Tensor& target, double smooth, bool apply_sigmoid, const Tensor& out) {
  dispatch_float("dice_loss", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = input.size(0), m = input.size(1);
    const T* x = input.data<T>();
    const T* g = target.data<T>();
    T* o = out.data<T>();
    parallel_for(0, n, 1, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) {
        double inter = 0, total = 0;
        for (int64_t j = 0; j < m; ++j) {
          const T p = apply_sigmoid ? sigmoid(x[i * m + j]) : x[i * m + j];
          inter += static_cast<double>(p * g[i * m + j]);
          total += static_cast<double>(p) + static_cast<double>(g[i * m + j]);
        }
        o[i] = static_cast<T>(1.0 - (2.0 * inter + smooth) / (total + smooth));
      }
    });
  });
}

void dice_backward(const Tensor& input, const Tensor& target, double smooth, bool apply_sigmoid,
                   const UpstreamGrad& grad, const Tensor& grad_input, const Tensor& grad_target) {
  dispatch_float("dice_loss_backward", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = input.size(0), m = input.size(1);
    const T* x = input.data<T>();
    const T* g = target.data<T>();
    T* gi = data_or_null<T>(grad_input);
    T* gt = data_or_null<T>(grad_target);
    const T* pg = grad.per_element ? grad.grad.data<T>() : nullptr;
    const double g0 = grad.per_element ? 0.0 : grad.grad.item() * grad.factor;
    parallel_for(0, n, 1, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) {
        double inter = 0, total = 0;
        for (int64_t j = 0; j < m; ++j) {
          const T p = apply_sigmoid ? sigmoid(x[i * m + j]) : x[i * m + j];
          inter += static_cast<double>(p * g[i * m + j]);
          total += static_cast<double>(p) + static_cast<double>(g[i * m + j]);
        }
        // l = 1 - num / den: dl/dp_j = -(2 g_j den - num) / den^2, and symmetrically for g_j.
        const double num = 2.0 * inter + smooth, den = total + smooth;
        const double up = pg ? static_cast<double>(pg[i]) * grad.factor : g0;
        const double c = -up / (den * den);
        for (int64_t j = 0; j < m; ++j) {
          const T p = apply_sigmoid ? sigmoid(x[i * m + j]) : x[i * m + j];
          if (gi) {
            const double dp = c * (2.0 * static_cast<double>(g[i * m + j]) * den - num);
            gi[i * m + j] = static_cast<T>(apply_sigmoid ? dp * static_cast<double>(p * (T(1) - p)) : dp);
          }
          if (gt) gt[i * m + j] = static_cast<T>(c * (2.0 * static_cast<double>(p) * den - num));
        }
      }
    });
  });
}

Tensor reduce_losses(const Tensor& l, Reduction r, int64_t batch) {
  switch (r) {
    case Reduction::none: return l;
    case Reduction::sum: return ops::sum(l);
    case Reduction::mean: return ops::mul(ops::sum(l), 1.0 / static_cast<double>(l.numel()));
    case Reduction::batchmean: return ops::mul(ops::sum(l), 1.0 / static_cast<double>(batch));
  }
  return l;
}

namespace {

// The per-element losses of `input` go to `out` for Reduction::none, else to
// a buffer reduced into the 0-dim `out`.
template <typename F>
void reduced_losses(const Tensor& input, Reduction r, const Tensor& out, F&& per_element) {
  if (r == Reduction::none) {
    per_element(out);
    return;
  }
  const Tensor l = Tensor::empty(input.shape(), input.dtype(), input.device());
  per_element(l);
  Tensor(out).copy_(reduce_losses(l, r, input.dim() == 0 ? 1 : input.size(0)));
}

}  // namespace

void pointwise_loss(Pointwise kind, const Tensor& input, const Tensor& target, double beta, Reduction r,
                    const Tensor& out) {
  reduced_losses(input, r, out, [&](const Tensor& l) { pointwise_losses(kind, input, target, beta, l); });
}

void bce_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight, const Tensor& pos_weight,
                     Reduction r, const Tensor& out) {
  reduced_losses(input, r, out,
                 [&](const Tensor& l) { bce_with_logits_losses(input, target, weight, pos_weight, l); });
}

CUDASEG_REGISTER_KERNEL(kernels::pointwise_loss, cpu, pointwise_loss)
CUDASEG_REGISTER_KERNEL(kernels::pointwise_loss_backward, cpu, pointwise_loss_backward)
CUDASEG_REGISTER_KERNEL(kernels::bce_with_logits, cpu, bce_with_logits)
CUDASEG_REGISTER_KERNEL(kernels::bce_with_logits_backward, cpu, bce_with_logits_backward)
CUDASEG_REGISTER_KERNEL(kernels::dice, cpu, dice)
CUDASEG_REGISTER_KERNEL(kernels::dice_backward, cpu, dice_backward)
CUDASEG_REGISTER_KERNEL(kernels::reduce_losses, cpu, reduce_losses)

}  // namespace cudaseg::ops::cpu
