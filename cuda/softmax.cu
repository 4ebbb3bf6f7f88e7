// softmax and log_softmax on CUDA, as row reductions over the [O, D, I] view
// (cuda/reduction.cuh): along the last dim (I = 1) a warp owns a row, or a
// block when the row is longer than kWarpRowMax; along an inner dim (I > 1) a
// thread owns the position (o, i) and loops over D, so neighbouring threads
// read neighbouring addresses. Each row takes three passes: the max, the sum
// of exp(x - max) and the write; the backward two: the sum, then the write.
// Accumulation is in acc_t<T>, and the team folds are deterministic.
#include <cmath>

#include "cuda/reduction.cuh"
#include "ops/kernels/softmax.h"

namespace cudaseg::cuda {
namespace {

template <typename T, typename Team>
__global__ void softmax_rows(const T* x, T* out, RowLayout rl, bool as_log) {
  using A = acc_t<T>;
  const Team team{};
  const A lowest = static_cast<A>(-INFINITY);
  for (int64_t r = team.first_row(); r < rl.rows(); r += team.row_stride()) {
    const int64_t base = rl.base(r);
    // Shifting by the max keeps exp() in range for any input magnitude.
    A m = lowest;
    for (int64_t d = team.rank(); d < rl.D; d += team.size()) m = fmax(m, load(x[base + d * rl.I]));
    m = team.all_reduce(m, MaxOp<A>{}, lowest);
    A s = 0;
    for (int64_t d = team.rank(); d < rl.D; d += team.size()) s += exp(load(x[base + d * rl.I]) - m);
    s = team.all_reduce(s, SumOp<A>{}, A(0));
    const A log_s = log(s);
    for (int64_t d = team.rank(); d < rl.D; d += team.size()) {
      const A z = load(x[base + d * rl.I]) - m;
      out[base + d * rl.I] = store<T>(as_log ? z - log_s : exp(z) / s);
    }
  }
}

template <typename T, typename Team>
__global__ void softmax_rows_backward(const T* g, const T* y, T* gx, RowLayout rl, bool as_log) {
  using A = acc_t<T>;
  const Team team{};
  for (int64_t r = team.first_row(); r < rl.rows(); r += team.row_stride()) {
    const int64_t base = rl.base(r);
    A s = 0;
    for (int64_t d = team.rank(); d < rl.D; d += team.size()) {
      const int64_t k = base + d * rl.I;
      s += as_log ? load(g[k]) : load(g[k]) * load(y[k]);
    }
    s = team.all_reduce(s, SumOp<A>{}, A(0));
    for (int64_t d = team.rank(); d < rl.D; d += team.size()) {
      const int64_t k = base + d * rl.I;
      const A gv = load(g[k]), yv = load(y[k]);
      gx[k] = store<T>(as_log ? gv - exp(yv) * s : yv * (gv - s));
    }
  }
}

}  // namespace

void softmax(const Tensor& x, bool log, const Tensor& out) {
  const char* op = log ? "log_softmax" : "softmax";
  const RowLayout rl = row_layout(x);
  gpu::DeviceGuard guard(x.device().index);
  cudaStream_t stream = stream_for(x);
  dispatch_floating(op, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for_rows(rl.D, rl.I, rl.rows(), [&](auto team, unsigned blocks, int threads) {
      softmax_rows<T, decltype(team)><<<blocks, threads, 0, stream>>>(ptr<const T>(x), ptr<T>(out), rl, log);
    });
    CUDASEG_CUDA_LAUNCH_CHECK(op, " ", x.str());
  });
}

void softmax_backward(const Tensor& grad, const Tensor& y, bool log, const Tensor& grad_input) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  const RowLayout rl = row_layout(y);
  gpu::DeviceGuard guard(y.device().index);
  cudaStream_t stream = stream_for(y);
  dispatch_floating(op, y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for_rows(rl.D, rl.I, rl.rows(), [&](auto team, unsigned blocks, int threads) {
      softmax_rows_backward<T, decltype(team)><<<blocks, threads, 0, stream>>>(
          ptr<const T>(grad), ptr<const T>(y), ptr<T>(grad_input), rl, log);
    });
    CUDASEG_CUDA_LAUNCH_CHECK(op, " ", y.str(), ", grad ", grad.str());
  });
}

CUDASEG_REGISTER_KERNEL(ops::kernels::softmax, cuda, softmax)
CUDASEG_REGISTER_KERNEL(ops::kernels::softmax_backward, cuda, softmax_backward)

}  // namespace cudaseg::cuda
