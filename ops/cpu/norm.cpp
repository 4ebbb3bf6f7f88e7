#include <cmath>
#include <type_traits>
#include <vector>

#include "ops/common.h"
#include "ops/cpu/conv_direct.h"
#include "ops/kernels/norm.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

// Optional per-channel parameter: weight (default 1) or bias (default 0).
template <typename T>
struct Param {
  Param(const Tensor& t, double fallback) : p(t.defined() ? t.data<T>() : nullptr), fallback(fallback) {}
  double operator[](int64_t c) const { return p ? static_cast<double>(p[c]) : fallback; }
  const T* p;
  double fallback;
};

template <typename T>
T* optional_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Enough items per chunk that a chunk is worth a thread.
int64_t grain_for(int64_t work_per_item) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(work_per_item, 1)); }

template <typename T>
void row_moments(const T* x, int64_t n, double& mean, double& var) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  mean = s / static_cast<double>(n);
  double q = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - mean;
    q += d * d;
  }
  var = q / static_cast<double>(n);
}

}  // namespace

// Per-channel mean and biased variance of x [N, C, S] over N and S.
// The sum of x[0..n), and of (x[i] - mean)^2 when `mean` is given, in
// double over 4 interleaved partial sums (one running sum was a chain of
// dependent adds, 4 cycles an element).
template <typename T>
double lane_sum(const T* x, int64_t n, const double* mean) {
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) {
      const double d = mean ? x[i + l] - *mean : x[i + l];
      acc[l] += mean ? d * d : d;
    }
  for (; i < n; ++i) {
    const double d = mean ? x[i] - *mean : x[i];
    acc[0] += mean ? d * d : d;
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

// Over g[0..n) and x[0..n): the sums of g and of g * (x - mean) * invstd,
// each over 4 interleaved partial sums as lane_sum.
template <typename T>
void lane_sums_g(const T* g, const T* x, int64_t n, double mean, double invstd, double& sum_g, double& sum_gxhat) {
  double ag[4] = {0, 0, 0, 0}, ax[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) {
      ag[l] += g[i + l];
      ax[l] += g[i + l] * (x[i + l] - mean) * invstd;
    }
  for (; i < n; ++i) {
    ag[0] += g[i];
    ax[0] += g[i] * (x[i] - mean) * invstd;
  }
  sum_g += (ag[0] + ag[1]) + (ag[2] + ag[3]);
  sum_gxhat += (ax[0] + ax[1]) + (ax[2] + ax[3]);
}

// Batch norm's per-plane sums, added to acc: interleaved (lane_sum,
// lane_sums_g) in float32, whose training steps they speed up, and one running
// sum over every plane of the channel in float64, the reference dtype checked
// against PyTorch's float64 goldens to 1e-9. Any other order (per-plane
// partial sums included) moved DFANet's most cancellation-prone weight
// gradient from 2e-10 to over 1e-9 of its golden.
template <typename T>
void plane_sum(const T* x, int64_t n, const double* mean, double& acc) {
  if constexpr (std::is_same_v<T, float>) {
    acc += lane_sum(x, n, mean);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const double d = mean ? x[i] - *mean : x[i];
      acc += mean ? d * d : d;
    }
  }
}

template <typename T>
void plane_sums_g(const T* g, const T* x, int64_t n, double mean, double invstd, double& sum_g, double& sum_gxhat) {
  if constexpr (std::is_same_v<T, float>) {
    lane_sums_g(g, x, n, mean, invstd, sum_g, sum_gxhat);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      sum_g += g[i];
      sum_gxhat += g[i] * (x[i] - mean) * invstd;
    }
  }
}

void batch_norm_stats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  mean.assign(C, 0.0);
  var.assign(C, 0.0);
  dispatch_float("batch_norm", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    parallel_for(0, C, grain_for(N * S), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double s = 0;
        for (int64_t n = 0; n < N; ++n) plane_sum(px + (n * C + c) * S, S, nullptr, s);
        const double m = s / static_cast<double>(N * S);
        double q = 0;
        for (int64_t n = 0; n < N; ++n) plane_sum(px + (n * C + c) * S, S, &m, q);
        mean[c] = m;
        var[c] = q / static_cast<double>(N * S);
      }
    });
  });
}

// out = (x - mean[c]) * invstd[c] * weight[c] + bias[c], x [N, C, S].
void batch_norm_apply(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& invstd,
                      const Tensor& weight, const Tensor& bias, const Tensor& out) {
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  dispatch_float("batch_norm", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const Param<T> w(weight, 1.0), b(bias, 0.0);
    parallel_for(0, N * C, grain_for(S), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r % C;
        const double scale = invstd[c] * w[c], shift = b[c] - mean[c] * scale;
        for (int64_t i = 0; i < S; ++i) po[r * S + i] = static_cast<T>(px[r * S + i] * scale + shift);
      }
    });
  });
}

// Gradients of batch_norm_apply. With batch_stats the mean and invstd are
// functions of x (training mode) and grad_input carries their terms too.
void batch_norm_backward_moments(const Tensor& grad, const Tensor& x, const std::vector<double>& mean,
                                 const std::vector<double>& invstd, const Tensor& weight, bool batch_stats,
                                 const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_bias) {
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  const double M = static_cast<double>(N * S);
  dispatch_float("batch_norm_backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pg = grad.data<T>();
    T* gx = optional_data<T>(grad_input);
    T* gw = optional_data<T>(grad_weight);
    T* gb = optional_data<T>(grad_bias);
    const Param<T> w(weight, 1.0);
    parallel_for(0, C, grain_for(N * S), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double sum_g = 0, sum_gxhat = 0;
        for (int64_t n = 0; n < N; ++n)
          plane_sums_g(pg + (n * C + c) * S, px + (n * C + c) * S, S, mean[c], invstd[c], sum_g, sum_gxhat);
        if (gw) gw[c] = static_cast<T>(sum_gxhat);
        if (gb) gb[c] = static_cast<T>(sum_g);
        if (!gx) continue;
        const double scale = w[c] * invstd[c];
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < S; ++i) {
            const int64_t k = (n * C + c) * S + i;
            double g = pg[k];
            // Training mode: the batch mean and variance depend on x as well.
            if (batch_stats) g -= (sum_g + (px[k] - mean[c]) * invstd[c] * sum_gxhat) / M;
            gx[k] = static_cast<T>(scale * g);
          }
      }
    });
  });
}

// running = (1 - momentum) * running + momentum * stat, in place (any stride).
void update_running(const Tensor& running, const std::vector<double>& stat, double momentum) {
  dispatch_float("batch_norm", running.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = running.data<T>();
    const int64_t stride = running.stride(0);
    for (size_t c = 0; c < stat.size(); ++c) {
      T& r = p[static_cast<int64_t>(c) * stride];
      r = static_cast<T>((1.0 - momentum) * r + momentum * stat[c]);
    }
  });
  running.storage()->bump_version();
}

void group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps,
                const Tensor& out) {
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2), Cg = C / groups, L = Cg * S;
  dispatch_float("group_norm", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    // Float32 on a CPU with the direct kernels: vector passes in double
    // (Isa::norm_row, moment_sum, affine), the arithmetic of the loops below.
    const direct::Isa* isa = std::is_same_v<T, float> ? direct::best_isa() : nullptr;
    if constexpr (std::is_same_v<T, float>) {
      // One pixel per channel (LayerNorm over the last dim): a row kernel.
      if (S == 1 && isa) {
        const float *pw = optional_data<float>(weight), *pb = optional_data<float>(bias);
        parallel_for(0, N * groups, grain_for(L), [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const int64_t c0 = (r % groups) * Cg;
            isa->norm_row(px + r * L, L, pw ? pw + c0 : nullptr, pb ? pb + c0 : nullptr, eps, po + r * L);
          }
        });
        return;
      }
    }
    const Param<T> w(weight, 1.0), b(bias, 0.0);
    // A group's moments are sums over its channels of per-channel sums, in
    // that order whichever way the work is split: across groups when there
    // are enough of them for the threads, else across the channels of each
    // group (PoolFormer's GroupNorm(1, C) at batch 1 is one group).
    const bool split_groups = N * groups >= 2 * num_threads();
    std::vector<double> part(static_cast<size_t>(split_groups ? 0 : Cg));
    auto moments = [&](int64_t r, double* partial, bool parallel, double& mean, double& rstd) {
      const T* row = px + r * L;
      auto pass = [&](const double* m) {
        auto channels = [&](int64_t j0, int64_t j1) {
          for (int64_t j = j0; j < j1; ++j) {
            if constexpr (std::is_same_v<T, float>)
              if (isa) {
                partial[j] = isa->moment_sum(row + j * S, S, m);
                continue;
              }
            partial[j] = lane_sum(row + j * S, S, m);
          }
        };
        if (parallel) parallel_for(0, Cg, grain_for(S), channels);
        else channels(0, Cg);
        double total = 0;
        for (int64_t j = 0; j < Cg; ++j) total += partial[j];
        return total / static_cast<double>(L);
      };
      mean = pass(nullptr);
      rstd = 1.0 / std::sqrt(pass(&mean) + eps);
    };
    auto apply = [&](int64_t r, int64_t j0, int64_t j1, double mean, double rstd) {
      const T* row = px + r * L;
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t c = (r % groups) * Cg + j;
        const double scale = rstd * w[c], shift = b[c] - mean * scale;
        if constexpr (std::is_same_v<T, float>)
          if (isa) {
            isa->affine(row + j * S, S, scale, shift, po + r * L + j * S);
            continue;
          }
        for (int64_t i = 0; i < S; ++i) po[r * L + j * S + i] = static_cast<T>(row[j * S + i] * scale + shift);
      }
    };
    if (split_groups) {
      parallel_for(0, N * groups, grain_for(L), [&](int64_t r0, int64_t r1) {
        std::vector<double> partial(static_cast<size_t>(Cg));
        for (int64_t r = r0; r < r1; ++r) {
          double mean, rstd;
          moments(r, partial.data(), false, mean, rstd);
          apply(r, 0, Cg, mean, rstd);
        }
      });
      return;
    }
    for (int64_t r = 0; r < N * groups; ++r) {
      double mean, rstd;
      moments(r, part.data(), true, mean, rstd);
      parallel_for(0, Cg, grain_for(S), [&](int64_t j0, int64_t j1) { apply(r, j0, j1, mean, rstd); });
    }
  });
}

void group_norm_backward(const Tensor& grad, const Tensor& x, int64_t groups, const Tensor& weight,
                         double eps, const Tensor& grad_input, const Tensor& grad_weight,
                         const Tensor& grad_bias) {
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2), Cg = C / groups, L = Cg * S;
  std::vector<double> mean(N * groups), rstd(N * groups);
  dispatch_float("group_norm_backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pg = grad.data<T>();
    T* gx = optional_data<T>(grad_input);
    T* gw = optional_data<T>(grad_weight);
    T* gb = optional_data<T>(grad_bias);
    const Param<T> w(weight, 1.0);
    parallel_for(0, N * groups, grain_for(L), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        double var;
        row_moments(px + r * L, L, mean[r], var);
        rstd[r] = 1.0 / std::sqrt(var + eps);
        if (!gx) continue;
        // dx = rstd * (g' - mean(g') - xhat * mean(g' * xhat)) with g' = grad * weight.
        double sum_g = 0, sum_gxhat = 0;
        for (int64_t j = 0; j < Cg; ++j) {
          const double wc = w[(r % groups) * Cg + j];
          for (int64_t i = 0; i < S; ++i) {
            const int64_t k = r * L + j * S + i;
            sum_g += pg[k] * wc;
            sum_gxhat += pg[k] * wc * (px[k] - mean[r]) * rstd[r];
          }
        }
        const double mg = sum_g / static_cast<double>(L), mgx = sum_gxhat / static_cast<double>(L);
        for (int64_t j = 0; j < Cg; ++j) {
          const double wc = w[(r % groups) * Cg + j];
          for (int64_t i = 0; i < S; ++i) {
            const int64_t k = r * L + j * S + i;
            const double xhat = (px[k] - mean[r]) * rstd[r];
            gx[k] = static_cast<T>(rstd[r] * (pg[k] * wc - mg - xhat * mgx));
          }
        }
      }
    });
    if (!gw && !gb) return;
    parallel_for(0, C, grain_for(N * S), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double sum_g = 0, sum_gxhat = 0;
        for (int64_t n = 0; n < N; ++n) {
          const int64_t r = n * groups + c / Cg;
          for (int64_t i = 0; i < S; ++i) {
            const int64_t k = (n * C + c) * S + i;
            sum_g += pg[k];
            sum_gxhat += pg[k] * (px[k] - mean[r]) * rstd[r];
          }
        }
        if (gw) gw[c] = static_cast<T>(sum_gxhat);
        if (gb) gb[c] = static_cast<T>(sum_g);
      }
    });
  });
}

namespace {

// ||v||_p of the D elements v[0], v[I], ..., with p = 2 kept exact as a sqrt.
template <typename T>
double p_norm(const T* v, int64_t D, int64_t I, double p) {
  double s = 0;
  for (int64_t d = 0; d < D; ++d) {
    const double a = std::abs(static_cast<double>(v[d * I]));
    s += p == 2.0 ? a * a : (p == 1.0 ? a : std::pow(a, p));
  }
  return p == 2.0 ? std::sqrt(s) : (p == 1.0 ? s : std::pow(s, 1.0 / p));
}

}  // namespace

void normalize(const Tensor& x, double p, double eps, const Tensor& out) {
  const int64_t O = x.size(0), D = x.size(1), I = x.size(2);
  dispatch_float("normalize", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    parallel_for(0, O * I, grain_for(D), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t base = (r / I) * D * I + r % I;
        const double denom = std::max(p_norm(px + base, D, I, p), eps);
        for (int64_t d = 0; d < D; ++d) po[base + d * I] = static_cast<T>(px[base + d * I] / denom);
      }
    });
  });
}

void normalize_backward(const Tensor& grad, const Tensor& x, double p, double eps, const Tensor& grad_input) {
  const int64_t O = x.size(0), D = x.size(1), I = x.size(2);
  dispatch_float("normalize_backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pg = grad.data<T>();
    T* gx = grad_input.data<T>();
    parallel_for(0, O * I, grain_for(D), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t base = (r / I) * D * I + r % I;
        const double n = p_norm(px + base, D, I, p);
        // As clamp_min in PyTorch, the norm passes gradient where n >= eps.
        if (n < eps) {
          for (int64_t d = 0; d < D; ++d) gx[base + d * I] = static_cast<T>(pg[base + d * I] / eps);
          continue;
        }
        double gdotx = 0;
        for (int64_t d = 0; d < D; ++d) gdotx += static_cast<double>(pg[base + d * I]) * px[base + d * I];
        // d||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1)
        for (int64_t d = 0; d < D; ++d) {
          const double v = px[base + d * I];
          const double dn = p == 2.0 ? v / n
                                     : (v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0)) * std::pow(std::abs(v) / n, p - 1.0);
          gx[base + d * I] = static_cast<T>(pg[base + d * I] / n - gdotx / (n * n) * dn);
        }
      }
    });
  });
}

namespace {

// mean and 1/sqrt(var + eps): of the batch in training, of the running stats otherwise.
void batch_norm_moments(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, bool training,
                        double eps, std::vector<double>& mean, std::vector<double>& var,
                        std::vector<double>& invstd) {
  if (training) {
    batch_norm_stats(x, mean, var);
  } else {
    mean = running_mean.to_vector();
    var = running_var.to_vector();
  }
  invstd.resize(var.size());
  for (size_t c = 0; c < var.size(); ++c) invstd[c] = 1.0 / std::sqrt(var[c] + eps);
}

// x [N, C, S] as contiguous rows [N * S, C, 1], channels last, for group_norm.
Tensor channels_last_rows(const Tensor& x) {
  return x.permute({0, 2, 1}).contiguous().view({x.size(0) * x.size(2), x.size(1), 1});
}

// Rows [N * S, C, 1] back into the contiguous [N, C, S] `out`.
void copy_from_channels_last_rows(const Tensor& rows, const Tensor& out) {
  Tensor(out).copy_(rows.view({out.size(0), out.size(2), out.size(1)}).permute({0, 2, 1}));
}

}  // namespace

void batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                const Tensor& bias, bool training, double momentum, double eps, const Tensor& out) {
  std::vector<double> mean, var, invstd;
  batch_norm_moments(x, running_mean, running_var, training, eps, mean, var, invstd);
  batch_norm_apply(x, mean, invstd, weight, bias, out);
  if (training && running_mean.defined()) {
    const double n = static_cast<double>(x.size(0) * x.size(2));
    std::vector<double> unbiased(var.size());
    for (size_t c = 0; c < var.size(); ++c) unbiased[c] = var[c] * n / (n - 1.0);
    update_running(running_mean, mean, momentum);
    update_running(running_var, unbiased, momentum);
  }
}

void batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                         const Tensor& weight, bool training, double eps, const Tensor& grad_input,
                         const Tensor& grad_weight, const Tensor& grad_bias) {
  std::vector<double> mean, var, invstd;
  batch_norm_moments(x, running_mean, running_var, training, eps, mean, var, invstd);
  batch_norm_backward_moments(grad, x, mean, invstd, weight, training, grad_input, grad_weight, grad_bias);
}

// Layer norm over the channels is group norm with one group on channels-last rows.
void layer_norm_channels(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& out) {
  const Tensor rows = channels_last_rows(x);
  Tensor out_rows = Tensor::empty(rows.shape(), rows.dtype(), rows.device());
  group_norm(rows, 1, weight, bias, eps, out_rows);
  copy_from_channels_last_rows(out_rows, out);
}

void layer_norm_channels_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, double eps,
                                  const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_bias) {
  const Tensor rows = channels_last_rows(x);
  const Tensor gi_rows = grad_input.defined() ? Tensor::empty(rows.shape(), rows.dtype(), rows.device()) : Tensor();
  group_norm_backward(channels_last_rows(grad), rows, 1, weight, eps, gi_rows, grad_weight, grad_bias);
  if (grad_input.defined()) copy_from_channels_last_rows(gi_rows, grad_input);
}

CUDASEG_REGISTER_KERNEL(kernels::batch_norm, cpu, batch_norm)
CUDASEG_REGISTER_KERNEL(kernels::batch_norm_backward, cpu, batch_norm_backward)
CUDASEG_REGISTER_KERNEL(kernels::group_norm, cpu, group_norm)
CUDASEG_REGISTER_KERNEL(kernels::group_norm_backward, cpu, group_norm_backward)
CUDASEG_REGISTER_KERNEL(kernels::layer_norm_channels, cpu, layer_norm_channels)
CUDASEG_REGISTER_KERNEL(kernels::layer_norm_channels_backward, cpu, layer_norm_channels_backward)
CUDASEG_REGISTER_KERNEL(kernels::normalize, cpu, normalize)
CUDASEG_REGISTER_KERNEL(kernels::normalize_backward, cpu, normalize_backward)

}  // namespace cudaseg::ops::cpu
