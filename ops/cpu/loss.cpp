#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "ops/binary.h"
#include "ops/common.h"
#include "ops/kernels/loss.h"
#include "ops/reduce.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

using kernels::UpstreamGrad;

// y[c * ys] = log_softmax(x * inv_temp) over the C values x[c * xs].
template <typename T>
void log_softmax_strided(const T* x, int64_t xs, T* y, int64_t ys, int64_t c_count, T inv_temp = T(1)) {
  T mx = -std::numeric_limits<T>::infinity();
  for (int64_t c = 0; c < c_count; ++c) mx = std::max(mx, x[c * xs] * inv_temp);
  T total = 0;
  for (int64_t c = 0; c < c_count; ++c) total += std::exp(x[c * xs] * inv_temp - mx);
  const T lse = mx + std::log(total);
  for (int64_t c = 0; c < c_count; ++c) y[c * ys] = x[c * xs] * inv_temp - lse;
}

// Positions are taken a tile of one image's row-major positions at a time,
// classes outer and positions inner: a class plane lies H*W elements from the
// next, so walking the classes of one position at a time touched C pages per
// position and ran the loss 4x slower at 512x512.
constexpr int64_t kTile = 256;

template <typename F>
void for_each_tile(int64_t n, int64_t s, F f) {
  const int64_t per_image = (s + kTile - 1) / kTile;
  parallel_for(0, n * per_image, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i = b / per_image, j0 = (b % per_image) * kTile;
      f(i, j0, std::min(s, j0 + kTile));
    }
  });
}

template <typename T>
T upstream_at(const UpstreamGrad& g, const T* pg, T g0, int64_t i) {
  return g.per_element ? pg[i] * static_cast<T>(g.factor) : g0;
}

}  // namespace

double cross_entropy_per_position(const Tensor& logits, const Tensor& target, const Tensor& weight,
                                  int64_t ignore_index, const Tensor& log_probs, const Tensor& loss) {
  return dispatch_float("cross_entropy", logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = logits.size(0), c_count = logits.size(1), s = logits.size(2);
    const T* x = logits.data<T>();
    T* lp = log_probs.data<T>();
    T* l = loss.data<T>();
    const int64_t* t = target.data<int64_t>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    for_each_tile(n, s, [&](int64_t i, int64_t j0, int64_t j1) {
      const int64_t len = j1 - j0, base = i * c_count * s + j0;
      T mx[kTile], total[kTile];
      std::fill(mx, mx + len, -std::numeric_limits<T>::infinity());
      std::fill(total, total + len, T(0));
      for (int64_t c = 0; c < c_count; ++c) {
        const T* xc = x + base + c * s;
        for (int64_t k = 0; k < len; ++k) mx[k] = std::max(mx[k], xc[k]);
      }
      for (int64_t c = 0; c < c_count; ++c) {
        const T* xc = x + base + c * s;
        for (int64_t k = 0; k < len; ++k) total[k] += std::exp(xc[k] - mx[k]);
      }
      for (int64_t k = 0; k < len; ++k) total[k] = mx[k] + std::log(total[k]);
      for (int64_t c = 0; c < c_count; ++c) {
        const T* xc = x + base + c * s;
        T* lc = lp + base + c * s;
        for (int64_t k = 0; k < len; ++k) lc[k] = xc[k] - total[k];
      }
      for (int64_t k = 0; k < len; ++k) {
        const int64_t p = i * s + j0 + k, tc = t[p];
        l[p] = tc == ignore_index ? T(0) : -(w ? w[tc] : T(1)) * lp[base + k + tc * s];
      }
    });
    // Summed serially so the divisor does not depend on the thread count.
    double total_weight = 0;
    for (int64_t p = 0; p < n * s; ++p)
      if (t[p] != ignore_index) total_weight += w ? static_cast<double>(w[t[p]]) : 1.0;
    return total_weight;
  });
}

void cross_entropy_backward_upstream(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                                     int64_t ignore_index, const UpstreamGrad& grad, const Tensor& out) {
  dispatch_float("cross_entropy_backward", log_probs.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = log_probs.size(0), c_count = log_probs.size(1), s = log_probs.size(2);
    const T* lp = log_probs.data<T>();
    T* o = out.data<T>();
    const int64_t* t = target.data<int64_t>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* pg = grad.per_element ? grad.grad.data<T>() : nullptr;
    const T g0 = grad.per_element ? T(0) : static_cast<T>(grad.grad.item() * grad.factor);
    for_each_tile(n, s, [&](int64_t i, int64_t j0, int64_t j1) {
      const int64_t len = j1 - j0, base = i * c_count * s + j0;
      T g[kTile];
      bool ignored[kTile];
      for (int64_t k = 0; k < len; ++k) {
        const int64_t p = i * s + j0 + k, tc = t[p];
        ignored[k] = tc == ignore_index;
        g[k] = ignored[k] ? T(0) : upstream_at(grad, pg, g0, p) * (w ? w[tc] : T(1));
      }
      for (int64_t c = 0; c < c_count; ++c) {
        const T* lc = lp + base + c * s;
        T* oc = o + base + c * s;
        for (int64_t k = 0; k < len; ++k) oc[k] = ignored[k] ? T(0) : g[k] * std::exp(lc[k]);
      }
      for (int64_t k = 0; k < len; ++k)
        if (!ignored[k]) o[base + k + t[i * s + j0 + k] * s] -= g[k];
    });
  });
}

int64_t ohem_select(const Tensor& losses, double threshold, int64_t n_min, const Tensor& scale, double* mean) {
  return dispatch_float("ohem_cross_entropy", losses.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t count = losses.numel();
    const T* l = losses.data<T>();
    T* sc = scale.data<T>();
    // The comparison happens in the losses' dtype, as torch compares float32 tensors.
    const T thr = static_cast<T>(threshold);
    std::vector<int64_t> kept;
    for (int64_t i = 0; i < count; ++i)
      if (l[i] > thr) kept.push_back(i);
    if (static_cast<int64_t>(kept.size()) < n_min) {
      kept.resize(count);
      std::iota(kept.begin(), kept.end(), 0);
      std::partial_sort(kept.begin(), kept.begin() + n_min, kept.end(),
                        [&](int64_t a, int64_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
      kept.resize(n_min);
    }
    std::fill(sc, sc + count, T(0));
    double total = 0;
    const int64_t k = static_cast<int64_t>(kept.size());
    for (int64_t i : kept) {
      total += static_cast<double>(l[i]);
      sc[i] = T(1) / static_cast<T>(k);
    }
    *mean = total / static_cast<double>(k);  // 0/0 = NaN when nothing is kept, as torch's mean
    return k;
  });
}

double kd_sum(const Tensor& student, const Tensor& teacher, double temperature, const Tensor& prob_diff) {
  return dispatch_float("kd_loss", student.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = student.size(0), c_count = student.size(1), s = student.size(2);
    const T* xs = student.data<T>();
    const T* xt = teacher.data<T>();
    T* d = prob_diff.data<T>();
    const T inv_t = static_cast<T>(1.0 / temperature);
    // Per-position sums, added serially afterwards: the result does not depend on the thread count.
    std::vector<double> partial(static_cast<size_t>(n * s));
    parallel_for(0, n * s, std::max<int64_t>(1, 1024 / std::max<int64_t>(c_count, 1)), [&](int64_t p0, int64_t p1) {
      std::vector<T> lps(c_count), lpt(c_count);
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t base = (p / s) * c_count * s + p % s;
        log_softmax_strided(xs + base, s, lps.data(), 1, c_count, inv_t);
        log_softmax_strided(xt + base, s, lpt.data(), 1, c_count, inv_t);
        double acc = 0;
        for (int64_t c = 0; c < c_count; ++c) {
          const T q = std::exp(lpt[c]);
          // q log q is 0 at q == 0 (torch's xlogy).
          if (q > 0) acc += static_cast<double>(q * (lpt[c] - lps[c]));
          d[base + c * s] = std::exp(lps[c]) - q;
        }
        partial[p] = acc;
      }
    });
    return std::accumulate(partial.begin(), partial.end(), 0.0);
  });
}

int64_t first_invalid_target(const Tensor& target, int64_t classes, int64_t ignore_index) {
  const int64_t* t = target.data<int64_t>();
  for (int64_t i = 0; i < target.numel(); ++i)
    if (t[i] != ignore_index && (t[i] < 0 || t[i] >= classes)) return i;
  return -1;
}

double cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                             const Tensor& log_probs, const Tensor& loss, const Tensor& reduced, bool mean) {
  const double total = cross_entropy_per_position(logits, target, weight, ignore_index, log_probs, loss);
  if (reduced.defined()) Tensor(reduced).copy_(mean ? ops::mul(ops::sum(loss), 1.0 / total) : ops::sum(loss));
  return total;
}

void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                            int64_t ignore_index, const UpstreamGrad& grad, const Tensor& position_scale,
                            const Tensor& out) {
  if (!position_scale.defined()) {
    cross_entropy_backward_upstream(log_probs, target, weight, ignore_index, grad, out);
    return;
  }
  // The position scale folded into a per-position upstream gradient.
  UpstreamGrad scaled;
  scaled.grad = ops::mul(position_scale, grad.grad.item() * grad.factor);
  scaled.per_element = true;
  cross_entropy_backward_upstream(log_probs, target, weight, ignore_index, scaled, out);
}

void kd_forward(const Tensor& student, const Tensor& teacher, double temperature, double divisor,
                const Tensor& prob_diff, const Tensor& reduced) {
  const double total = kd_sum(student, teacher, temperature, prob_diff);
  Tensor(reduced).fill_(total / divisor * (temperature * temperature));
}

void kd_backward(const Tensor& prob_diff, const Tensor& grad, double grad_scale, const Tensor& out) {
  Tensor(out).copy_(ops::mul(prob_diff, grad.item() * grad_scale));
}

CUDASEG_REGISTER_KERNEL(kernels::first_invalid_target, cpu, first_invalid_target)
CUDASEG_REGISTER_KERNEL(kernels::cross_entropy_forward, cpu, cross_entropy_forward)
CUDASEG_REGISTER_KERNEL(kernels::cross_entropy_backward, cpu, cross_entropy_backward)
CUDASEG_REGISTER_KERNEL(kernels::ohem_select, cpu, ohem_select)
CUDASEG_REGISTER_KERNEL(kernels::kd_forward, cpu, kd_forward)
CUDASEG_REGISTER_KERNEL(kernels::kd_backward, cpu, kd_backward)

}  // namespace cudaseg::ops::cpu
