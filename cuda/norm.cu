// Normalisations on CUDA.
//
// Batch norm reduces each channel over its N * S positions with the two-level
// channel reduction of cuda/reduction.cuh (Welford partials per block, folded
// per channel in a fixed order, so the statistics are deterministic), then
// one thread per channel turns the moments into mean and 1/sqrt(var + eps)
// and updates the running stats, and a per-element kernel applies the affine
// map. Its backward is the same shape: channel sums of dy and dy * xhat, then
// a per-element kernel.
//
// Group norm, layer norm and layer_norm_channels are row normalisations over
// an [O, D, I] view: a team (cuda/reduction.cuh) owns one row, merges its
// Welford moments and writes the row. For layer_norm_channels the row is the
// C channels of one NCHW pixel at stride S, so each thread owns a pixel and
// neighbouring threads read neighbouring pixels. Weight and bias gradients
// are channel reductions that read the row statistics saved by the backward
// row kernel. normalize is a row reduction of the p-norm.
//
// Statistics accumulate in acc_t<T>: float for float and the 16-bit types.
#include "cuda/reduction.cuh"
#include "ops/kernels/norm.h"

namespace cudaseg::cuda {
namespace {

template <typename A>
struct Welford {
  A mean, m2;
  int64_t n;
};
template <typename A, typename F>
__device__ Welford<A> shuffle_with(const Welford<A>& v, const F& f) {
  return {f(v.mean), f(v.m2), f(v.n)};
}
template <typename A>
__device__ Welford<A> push(Welford<A> w, A x) {
  ++w.n;
  const A d = x - w.mean;
  w.mean += d / static_cast<A>(w.n);
  w.m2 += d * (x - w.mean);
  return w;
}
// Chan et al.'s merge of two partial moments.
template <typename A>
struct WelfordMerge {
  __device__ Welford<A> operator()(const Welford<A>& a, const Welford<A>& b) const {
    if (b.n == 0) return a;
    if (a.n == 0) return b;
    const int64_t n = a.n + b.n;
    const A d = b.mean - a.mean, fb = static_cast<A>(b.n) / static_cast<A>(n);
    return {a.mean + d * fb, a.m2 + b.m2 + d * d * static_cast<A>(a.n) * fb, n};
  }
};

template <typename A>
struct Pair {
  A a, b;
};
template <typename A, typename F>
__device__ Pair<A> shuffle_with(const Pair<A>& v, const F& f) {
  return {f(v.a), f(v.b)};
}
template <typename A>
struct PairSum {
  __device__ Pair<A> operator()(const Pair<A>& x, const Pair<A>& y) const { return {x.a + y.a, x.b + y.b}; }
};

template <typename T>
__device__ acc_t<T> param(const T* p, int64_t c, acc_t<T> fallback) {
  return p ? load(p[c]) : fallback;
}
template <typename T>
const T* in_or_null(const Tensor& t) {
  return t.defined() ? ptr<const T>(t) : nullptr;
}
template <typename T>
T* out_or_null(const Tensor& t) {
  return t.defined() ? ptr<T>(t) : nullptr;
}

// ---- channel reductions over x [N, C, S] ----

template <typename T>
struct ChannelMoments {
  const T* x;
  int64_t C, S;
  __device__ Welford<acc_t<T>> operator()(Welford<acc_t<T>> w, int64_t n, int64_t c, int64_t s) const {
    return push(w, load(x[(n * C + c) * S + s]));
  }
};

// Where the statistics of element (n, c, s) live: per channel for batch norm,
// per row of the row normalisations.
struct StatIndex {
  int64_t sn, cg, sc, ss;
  __device__ int64_t operator()(int64_t n, int64_t c, int64_t s) const { return n * sn + (c / cg) * sc + s * ss; }
};

// sum(dy) and sum(dy * xhat) per channel.
template <typename T>
struct GradSums {
  const T* g;
  const T* x;
  const acc_t<T>* mean;
  const acc_t<T>* rstd;
  int64_t C, S;
  StatIndex stat;
  __device__ Pair<acc_t<T>> operator()(Pair<acc_t<T>> acc, int64_t n, int64_t c, int64_t s) const {
    const int64_t k = (n * C + c) * S + s, i = stat(n, c, s);
    const acc_t<T> gv = load(g[k]);
    return {acc.a + gv, acc.b + gv * (load(x[k]) - mean[i]) * rstd[i]};
  }
};

template <typename T>
__global__ void write_param_grads(const Pair<acc_t<T>>* sums, int64_t C, T* gw, T* gb) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (gw) gw[c] = store<T>(sums[c].b);
    if (gb) gb[c] = store<T>(sums[c].a);
  }
}

// ---- batch norm ----

// One thread per channel: mean and 1/sqrt(var + eps), from the batch moments
// (then updating the running stats where given) or else from the running stats.
template <typename T>
__global__ void batch_norm_stats(const Welford<acc_t<T>>* moments, T* running_mean, int64_t rm_stride,
                                 T* running_var, int64_t rv_stride, int64_t C, acc_t<T> momentum, acc_t<T> eps,
                                 acc_t<T>* mean, acc_t<T>* invstd) {
  using A = acc_t<T>;
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < C;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    A m, v;
    if (moments) {
      const Welford<A> w = moments[c];
      const A count = static_cast<A>(w.n);
      m = w.mean;
      v = w.m2 / count;
      if (running_mean) {
        T& rm = running_mean[c * rm_stride];
        T& rv = running_var[c * rv_stride];
        rm = store<T>((A(1) - momentum) * load(rm) + momentum * m);
        rv = store<T>((A(1) - momentum) * load(rv) + momentum * (v * count / (count - A(1))));
      }
    } else {
      m = load(running_mean[c * rm_stride]);
      v = load(running_var[c * rv_stride]);
    }
    mean[c] = m;
    invstd[c] = A(1) / sqrt(v + eps);
  }
}

template <typename T>
__global__ void batch_norm_apply(const T* x, const acc_t<T>* mean, const acc_t<T>* invstd, const T* w, const T* b,
                                 T* out, int64_t total, int64_t C, int64_t S) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / S) % C;
    const A scale = invstd[c] * param(w, c, A(1)), shift = param(b, c, A(0)) - mean[c] * scale;
    out[i] = store<T>(load(x[i]) * scale + shift);
  }
}

// sums is null in evaluation mode, where the statistics are constants.
template <typename T>
__global__ void batch_norm_input_grad(const T* g, const T* x, const acc_t<T>* mean, const acc_t<T>* invstd,
                                      const Pair<acc_t<T>>* sums, const T* w, T* gx, int64_t total, int64_t C,
                                      int64_t S, acc_t<T> M) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / S) % C;
    A gv = load(g[i]);
    if (sums) gv -= (sums[c].a + (load(x[i]) - mean[c]) * invstd[c] * sums[c].b) / M;
    gx[i] = store<T>(param(w, c, A(1)) * invstd[c] * gv);
  }
}

// Scratch [2, C]: mean, then invstd.
template <typename T>
Tensor batch_norm_moments(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, bool training,
                          bool update_running, double momentum, double eps, const char* op) {
  using A = acc_t<T>;
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  cudaStream_t stream = stream_for(x);
  Tensor moments;
  if (training)
    moments = channel_reduce(ChannelMoments<T>{ptr<const T>(x), C, S}, WelfordMerge<A>{},
                             Welford<A>{A(0), A(0), 0}, N, C, S, x, op);
  const bool running = running_mean.defined() && (!training || update_running);
  Tensor stats = scratch(2 * C * static_cast<int64_t>(sizeof(A)), x);
  batch_norm_stats<T><<<blocks_for(C), kThreads, 0, stream>>>(
      training ? scratch_ptr<const Welford<A>>(moments) : nullptr, running ? ptr<T>(running_mean) : nullptr,
      running ? running_mean.stride(0) : 0, running ? ptr<T>(running_var) : nullptr,
      running ? running_var.stride(0) : 0, C, static_cast<A>(momentum), static_cast<A>(eps),
      scratch_ptr<A>(stats), scratch_ptr<A>(stats) + C);
  CUDASEG_CUDA_LAUNCH_CHECK(op, " (statistics) ", x.str());
  if (training && running) {
    running_mean.storage()->bump_version();
    running_var.storage()->bump_version();
  }
  return stats;
}

// ---- row normalisations over [O, D, I] ----

// Element d of row r has channel ((r / I) % G) * Cg + d / Sd.
struct RowGeom : RowLayout {
  int64_t G, Cg, Sd;
  __device__ int64_t channel(int64_t r, int64_t d) const { return ((r / I) % G) * Cg + d / Sd; }
};

template <typename A, typename T, typename Team>
__device__ Welford<A> row_moments(const Team& team, const T* x, int64_t base, int64_t D, int64_t I) {
  Welford<A> w{A(0), A(0), 0};
  for (int64_t d = team.rank(); d < D; d += team.size()) w = push(w, load(x[base + d * I]));
  return team.all_reduce(w, WelfordMerge<A>{}, Welford<A>{A(0), A(0), 0});
}

template <typename T, typename Team>
__global__ void row_norm(const T* x, const T* w, const T* b, T* out, RowGeom geo, acc_t<T> eps) {
  using A = acc_t<T>;
  const Team team{};
  for (int64_t r = team.first_row(); r < geo.rows(); r += team.row_stride()) {
    const int64_t base = geo.base(r);
    const Welford<A> m = row_moments<A>(team, x, base, geo.D, geo.I);
    const A rstd = A(1) / sqrt(m.m2 / static_cast<A>(m.n) + eps);
    for (int64_t d = team.rank(); d < geo.D; d += team.size()) {
      const int64_t c = geo.channel(r, d), k = base + d * geo.I;
      const A scale = rstd * param(w, c, A(1)), shift = param(b, c, A(0)) - m.mean * scale;
      out[k] = store<T>(load(x[k]) * scale + shift);
    }
  }
}

// dx = rstd * (g' - mean(g') - xhat * mean(g' * xhat)) with g' = dy * weight;
// row_mean / row_rstd (null to skip) keep the statistics for the parameter grads.
template <typename T, typename Team>
__global__ void row_norm_backward(const T* g, const T* x, const T* w, T* gx, acc_t<T>* row_mean,
                                  acc_t<T>* row_rstd, RowGeom geo, acc_t<T> eps) {
  using A = acc_t<T>;
  const Team team{};
  for (int64_t r = team.first_row(); r < geo.rows(); r += team.row_stride()) {
    const int64_t base = geo.base(r);
    const Welford<A> m = row_moments<A>(team, x, base, geo.D, geo.I);
    const A rstd = A(1) / sqrt(m.m2 / static_cast<A>(m.n) + eps);
    if (row_mean && team.rank() == 0) {
      row_mean[r] = m.mean;
      row_rstd[r] = rstd;
    }
    if (!gx) continue;
    Pair<A> s{A(0), A(0)};
    for (int64_t d = team.rank(); d < geo.D; d += team.size()) {
      const int64_t k = base + d * geo.I;
      const A gw = load(g[k]) * param(w, geo.channel(r, d), A(1));
      s.a += gw;
      s.b += gw * (load(x[k]) - m.mean) * rstd;
    }
    s = team.all_reduce(s, PairSum<A>{}, Pair<A>{A(0), A(0)});
    const A mg = s.a / static_cast<A>(geo.D), mgx = s.b / static_cast<A>(geo.D);
    for (int64_t d = team.rank(); d < geo.D; d += team.size()) {
      const int64_t k = base + d * geo.I;
      const A xhat = (load(x[k]) - m.mean) * rstd;
      gx[k] = store<T>(rstd * (load(g[k]) * param(w, geo.channel(r, d), A(1)) - mg - xhat * mgx));
    }
  }
}

void run_row_norm(const char* op, const Tensor& x, RowGeom geo, const Tensor& weight, const Tensor& bias,
                      double eps, const Tensor& out) {
  gpu::DeviceGuard guard(x.device().index);
  cudaStream_t stream = stream_for(x);
  dispatch_floating(op, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for_rows(geo.D, geo.I, geo.rows(), [&](auto team, unsigned blocks, int threads) {
      row_norm<T, decltype(team)><<<blocks, threads, 0, stream>>>(
          ptr<const T>(x), in_or_null<T>(weight), in_or_null<T>(bias), ptr<T>(out), geo,
          static_cast<acc_t<T>>(eps));
    });
    CUDASEG_CUDA_LAUNCH_CHECK(op, " ", x.str());
  });
}

// x is [N, C, S] as well as the rows of geo; stat locates each element's row.
void run_row_norm_backward(const char* op, const Tensor& grad, const Tensor& x, RowGeom geo, StatIndex stat,
                       const Tensor& weight, double eps, const Tensor& grad_input, const Tensor& grad_weight,
                       const Tensor& grad_bias) {
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2), rows = geo.rows();
  const bool params = grad_weight.defined() || grad_bias.defined();
  if (!params && !grad_input.defined()) return;
  gpu::DeviceGuard guard(x.device().index);
  cudaStream_t stream = stream_for(x);
  dispatch_floating(op, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const Tensor row_stats = params ? scratch(2 * rows * static_cast<int64_t>(sizeof(A)), x) : Tensor();
    A* mean = params ? scratch_ptr<A>(row_stats) : nullptr;
    A* rstd = params ? mean + rows : nullptr;
    for_rows(geo.D, geo.I, rows, [&](auto team, unsigned blocks, int threads) {
      row_norm_backward<T, decltype(team)><<<blocks, threads, 0, stream>>>(
          ptr<const T>(grad), ptr<const T>(x), in_or_null<T>(weight), out_or_null<T>(grad_input), mean, rstd, geo,
          static_cast<A>(eps));
    });
    CUDASEG_CUDA_LAUNCH_CHECK(op, " ", x.str(), ", grad ", grad.str());
    if (!params) return;
    const Tensor sums = channel_reduce(GradSums<T>{ptr<const T>(grad), ptr<const T>(x), mean, rstd, C, S, stat},
                                       PairSum<A>{}, Pair<A>{A(0), A(0)}, N, C, S, x, op);
    write_param_grads<T><<<blocks_for(C), kThreads, 0, stream>>>(scratch_ptr<const Pair<A>>(sums), C,
                                                                 out_or_null<T>(grad_weight),
                                                                 out_or_null<T>(grad_bias));
    CUDASEG_CUDA_LAUNCH_CHECK(op, " (parameter grads) ", x.str());
  });
}

RowGeom group_geom(const Tensor& x, int64_t groups) {
  const int64_t Cg = x.size(1) / groups, S = x.size(2);
  return {{x.size(0) * groups, Cg * S, 1}, groups, Cg, S};
}

// The channels of each pixel (n, s) form a row at stride S.
RowGeom channels_geom(const Tensor& x) { return {row_layout(x), 1, 0, 1}; }

// ---- normalize ----

// |v|^p and its inverse, with p = 2 and p = 1 kept exact as in the CPU kernel.
template <typename A>
__device__ A pow_abs(A v, A p) {
  const A a = fabs(v);
  return p == A(2) ? a * a : (p == A(1) ? a : pow(a, p));
}
template <typename A>
__device__ A root(A s, A p) {
  return p == A(2) ? sqrt(s) : (p == A(1) ? s : pow(s, A(1) / p));
}

template <typename T, typename Team>
__global__ void normalize_rows(const T* x, T* out, RowLayout geo, acc_t<T> p, acc_t<T> eps) {
  using A = acc_t<T>;
  const Team team{};
  for (int64_t r = team.first_row(); r < geo.rows(); r += team.row_stride()) {
    const int64_t base = geo.base(r);
    A s = 0;
    for (int64_t d = team.rank(); d < geo.D; d += team.size()) s += pow_abs(load(x[base + d * geo.I]), p);
    s = team.all_reduce(s, SumOp<A>{}, A(0));
    const A n = root(s, p), denom = n < eps ? eps : n;
    for (int64_t d = team.rank(); d < geo.D; d += team.size())
      out[base + d * geo.I] = store<T>(load(x[base + d * geo.I]) / denom);
  }
}

// As clamp_min in PyTorch, the norm passes gradient only where it is >= eps.
template <typename T, typename Team>
__global__ void normalize_rows_backward(const T* g, const T* x, T* gx, RowLayout geo, acc_t<T> p, acc_t<T> eps) {
  using A = acc_t<T>;
  const Team team{};
  for (int64_t r = team.first_row(); r < geo.rows(); r += team.row_stride()) {
    const int64_t base = geo.base(r);
    Pair<A> s{A(0), A(0)};  // sum |x|^p, sum g * x
    for (int64_t d = team.rank(); d < geo.D; d += team.size()) {
      const A v = load(x[base + d * geo.I]);
      s.a += pow_abs(v, p);
      s.b += load(g[base + d * geo.I]) * v;
    }
    s = team.all_reduce(s, PairSum<A>{}, Pair<A>{A(0), A(0)});
    const A n = root(s.a, p);
    for (int64_t d = team.rank(); d < geo.D; d += team.size()) {
      const int64_t k = base + d * geo.I;
      const A v = load(x[k]), gv = load(g[k]);
      if (n < eps) {
        gx[k] = store<T>(gv / eps);
        continue;
      }
      // d||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1)
      const A sign = v > A(0) ? A(1) : (v < A(0) ? A(-1) : A(0));
      const A dn = p == A(2) ? v / n : sign * pow(fabs(v) / n, p - A(1));
      gx[k] = store<T>(gv / n - s.b / (n * n) * dn);
    }
  }
}

}  // namespace

void batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                const Tensor& bias, bool training, double momentum, double eps, const Tensor& out) {
  const char* op = "batch_norm";
  const int64_t C = x.size(1), S = x.size(2);
  gpu::DeviceGuard guard(x.device().index);
  dispatch_floating(op, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const Tensor stats = batch_norm_moments<T>(x, running_mean, running_var, training, true, momentum, eps, op);
    batch_norm_apply<T><<<blocks_for(x.numel()), kThreads, 0, stream_for(x)>>>(
        ptr<const T>(x), scratch_ptr<const A>(stats), scratch_ptr<const A>(stats) + C, in_or_null<T>(weight),
        in_or_null<T>(bias), ptr<T>(out), x.numel(), C, S);
    CUDASEG_CUDA_LAUNCH_CHECK(op, " ", x.str());
  });
}

void batch_norm_backward(const Tensor& grad, const Tensor& x, const Tensor& running_mean,
                         const Tensor& running_var, const Tensor& weight, bool training, double eps,
                         const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_bias) {
  const char* op = "batch_norm_backward";
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  const bool params = grad_weight.defined() || grad_bias.defined();
  gpu::DeviceGuard guard(x.device().index);
  cudaStream_t stream = stream_for(x);
  dispatch_floating(op, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const Tensor stats = batch_norm_moments<T>(x, running_mean, running_var, training, false, 0.0, eps, op);
    const A* mean = scratch_ptr<const A>(stats);
    const A* invstd = mean + C;
    // Training needs the sums for the input gradient too.
    Tensor sums;
    if (params || (training && grad_input.defined()))
      sums = channel_reduce(GradSums<T>{ptr<const T>(grad), ptr<const T>(x), mean, invstd, C, S, {0, 1, 1, 0}},
                            PairSum<A>{}, Pair<A>{A(0), A(0)}, N, C, S, x, op);
    if (params) {
      write_param_grads<T><<<blocks_for(C), kThreads, 0, stream>>>(scratch_ptr<const Pair<A>>(sums), C,
                                                                   out_or_null<T>(grad_weight),
                                                                   out_or_null<T>(grad_bias));
      CUDASEG_CUDA_LAUNCH_CHECK(op, " (parameter grads) ", x.str());
    }
    if (!grad_input.defined()) return;
    batch_norm_input_grad<T><<<blocks_for(x.numel()), kThreads, 0, stream>>>(
        ptr<const T>(grad), ptr<const T>(x), mean, invstd, training ? scratch_ptr<const Pair<A>>(sums) : nullptr,
        in_or_null<T>(weight), ptr<T>(grad_input), x.numel(), C, S, static_cast<A>(N * S));
    CUDASEG_CUDA_LAUNCH_CHECK(op, " ", x.str(), ", grad ", grad.str());
  });
}

void group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps,
                const Tensor& out) {
  run_row_norm("group_norm", x, group_geom(x, groups), weight, bias, eps, out);
}

void group_norm_backward(const Tensor& grad, const Tensor& x, int64_t groups, const Tensor& weight, double eps,
                         const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_bias) {
  const int64_t Cg = std::max<int64_t>(1, x.size(1) / groups);
  run_row_norm_backward("group_norm_backward", grad, x, group_geom(x, groups), {groups, Cg, 1, 0}, weight, eps,
                    grad_input, grad_weight, grad_bias);
}

void layer_norm_channels(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& out) {
  run_row_norm("layer_norm_channels", x, channels_geom(x), weight, bias, eps, out);
}

void layer_norm_channels_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, double eps,
                                  const Tensor& grad_input, const Tensor& grad_weight, const Tensor& grad_bias) {
  run_row_norm_backward("layer_norm_channels_backward", grad, x, channels_geom(x), {x.size(2), 1, 0, 1}, weight, eps,
                    grad_input, grad_weight, grad_bias);
}

void normalize(const Tensor& x, double p, double eps, const Tensor& out) {
  const RowLayout geo = row_layout(x);
  gpu::DeviceGuard guard(x.device().index);
  cudaStream_t stream = stream_for(x);
  dispatch_floating("normalize", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    for_rows(geo.D, geo.I, geo.rows(), [&](auto team, unsigned blocks, int threads) {
      normalize_rows<T, decltype(team)><<<blocks, threads, 0, stream>>>(ptr<const T>(x), ptr<T>(out), geo,
                                                                        static_cast<A>(p), static_cast<A>(eps));
    });
    CUDASEG_CUDA_LAUNCH_CHECK("normalize ", x.str());
  });
}

void normalize_backward(const Tensor& grad, const Tensor& x, double p, double eps, const Tensor& grad_input) {
  const RowLayout geo = row_layout(x);
  gpu::DeviceGuard guard(x.device().index);
  cudaStream_t stream = stream_for(x);
  dispatch_floating("normalize_backward", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    for_rows(geo.D, geo.I, geo.rows(), [&](auto team, unsigned blocks, int threads) {
      normalize_rows_backward<T, decltype(team)><<<blocks, threads, 0, stream>>>(
          ptr<const T>(grad), ptr<const T>(x), ptr<T>(grad_input), geo, static_cast<A>(p), static_cast<A>(eps));
    });
    CUDASEG_CUDA_LAUNCH_CHECK("normalize_backward ", x.str());
  });
}

CUDASEG_REGISTER_KERNEL(ops::kernels::batch_norm, cuda, batch_norm)
CUDASEG_REGISTER_KERNEL(ops::kernels::batch_norm_backward, cuda, batch_norm_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::group_norm, cuda, group_norm)
CUDASEG_REGISTER_KERNEL(ops::kernels::group_norm_backward, cuda, group_norm_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::layer_norm_channels, cuda, layer_norm_channels)
CUDASEG_REGISTER_KERNEL(ops::kernels::layer_norm_channels_backward, cuda, layer_norm_channels_backward)
CUDASEG_REGISTER_KERNEL(ops::kernels::normalize, cuda, normalize)
CUDASEG_REGISTER_KERNEL(ops::kernels::normalize_backward, cuda, normalize_backward)

}  // namespace cudaseg::cuda
