#include <algorithm>
#include <array>
#include <vector>

#include "ops/common.h"
#include "ops/cpu/conv.h"
#include "ops/cpu/conv_direct.h"
#include "ops/cpu/gemm.h"
#include "ops/kernels/linalg.h"
#include "ops/reduce.h"
#include "runtime/strided.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {

using kernels::blas_mat;
using kernels::BlasMat;

void batched_matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float("matmul", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t nd = out.dim();
    const int64_t n = out.size(nd - 2), p = out.size(nd - 1), m = a.size(nd - 1);
    const BlasMat ma = blas_mat(a), mb = blas_mat(b);
    const T* pa = static_cast<const T*>(a.storage()->data());
    const T* pb = static_cast<const T*>(b.storage()->data());
    T* po = out.data<T>();
    const Shape batch(out.shape().begin(), out.shape().end() - 2);
    const Shape sa(a.strides().begin(), a.strides().end() - 2), sb(b.strides().begin(), b.strides().end() - 2);
    std::vector<std::array<int64_t, 2>> offsets;
    for_each_strided<2>(batch, {&sa, &sb}, {a.offset(), b.offset()},
                        [&](const std::array<int64_t, 2>& off) { offsets.push_back(off); });
    // Many small products (attention heads) go one per worker; a lone large
    // one splits itself inside gemm.
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 21) / std::max<int64_t>(n * p * m, 1));
    parallel_for(0, static_cast<int64_t>(offsets.size()), grain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        gemm(ma.trans, mb.trans, n, p, m, T(1), pa + offsets[i][0], ma.ld, pb + offsets[i][1], mb.ld, T(0),
             po + i * n * p, p);
    });
  });
}

namespace {

constexpr int64_t kLinearLayout = -3;  // cached_weights' key of the transposed weight

// x [rows, in] row-major (row stride ld) times the transposed weight
// [in][outf] (packed once per weight version) in the per-ISA C = A B kernel,
// in tasks of up to 96 rows x a range of 64-column panels over k-blocks of
// 256 (a task's A block and B panel stay in the L2), the bias as C's first
// value, the exact GELU applied while the task's block is in cache.
// OpenBLAS's AVX2 kernel (its runtime choice on AVX-512 AMD CPUs) with its
// packing ran SegFormer's token linears at 40 GMAC/s.
void linear_direct(const float* x, int64_t ld, const Tensor& weight, const float* bias, bool gelu, float* y,
                   int64_t rows, int64_t in, int64_t outf, const direct::Isa& isa) {
  const std::shared_ptr<const std::vector<float>> packed = cached_weights(weight, kLinearLayout, weight.stride(0), [&] {
    std::vector<float> wt(static_cast<size_t>(in * outf));
    const float* w = weight.data<float>();
    const int64_t ws = weight.stride(0), wc = weight.stride(1);
    for (int64_t j = 0; j < outf; ++j)
      for (int64_t p = 0; p < in; ++p) wt[p * outf + j] = w[j * ws + p * wc];
    return wt;
  });
  const float* wt = packed->data();
  constexpr int64_t kKBlock = 256, kPanel = 64;
  const int64_t kc = std::min(in, kKBlock);
  const int64_t row_block = std::clamp<int64_t>((int64_t{24} << 10) / kc / 24 * 24, 24, 480);
  const int64_t row_tasks = (rows + row_block - 1) / row_block;
  const int64_t panels = (outf + kPanel - 1) / kPanel;
  const int64_t col_tasks = std::min(panels, std::max<int64_t>(1, (2 * num_threads() + row_tasks - 1) / row_tasks));
  const int64_t panels_per_task = (panels + col_tasks - 1) / col_tasks;
  parallel_for(0, row_tasks * col_tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t / col_tasks * row_block, m = std::min(row_block, rows - r0);
      const int64_t j0 = t % col_tasks * panels_per_task * kPanel;
      const int64_t n = std::min(outf, j0 + panels_per_task * kPanel) - j0;
      if (n <= 0) continue;
      float* c = y + r0 * outf + j0;
      if (bias)
        for (int64_t r = 0; r < m; ++r) std::copy(bias + j0, bias + j0 + n, c + r * outf);
      for (int64_t p = 0; p < in; p += kc)
        isa.gemm_nn(m, n, std::min(kc, in - p), x + r0 * ld + p, ld, wt + p * outf + j0, outf, c, outf,
                    bias || p > 0);
      if (gelu)
        for (int64_t r = 0; r < m; ++r) isa.gelu(c + r * outf, c + r * outf, n);
    }
  });
}

}  // namespace

void linear(const Tensor& x, const Tensor& weight_any, const Tensor& bias, LinearAct act, const Tensor& out) {
  if (out.dtype() == DType::f32) {
    const direct::Isa* isa = direct::best_isa();
    const BlasMat mx = blas_mat(x);
    const int64_t rows = x.size(0), in = x.size(1), outf = weight_any.size(0);
    if (isa && !mx.trans && outf % isa->lanes == 0 && rows > 0) {
      linear_direct(x.data<float>(), mx.ld, weight_any, bias.defined() ? bias.data<float>() : nullptr,
                    act == LinearAct::gelu, out.data<float>(), rows, in, outf, *isa);
      if (act != LinearAct::none && act != LinearAct::gelu)
        kernels::activation(out.device(), kernels::linear_activation(act), out, out);
      return;
    }
  }
  const Tensor weight = kernels::blas_ready(weight_any);
  dispatch_float("linear", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t rows = x.size(0), in = x.size(1), outf = weight.size(0);
    T* po = out.data<T>();
    if (bias.defined()) {
      const T* pb = bias.data<T>();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < outf; ++j) po[r * outf + j] = pb[j];
    }
    const BlasMat mx = blas_mat(x), mw = blas_mat(weight);
    // weight is [out, in]: the product needs its transpose.
    gemm(mx.trans, !mw.trans, rows, outf, in, T(1), x.data<T>(), mx.ld, weight.data<T>(), mw.ld,
            bias.defined() ? T(1) : T(0), po, outf);
  });
  // Elementwise, so in place is safe.
  if (act != LinearAct::none) kernels::activation(out.device(), kernels::linear_activation(act), out, out);
}

// The CPU reduction is already deterministic; the GEMM trick is for CUDA.
Tensor sum_to(const Tensor& x, const Shape& shape) { return ops::sum_to(x, shape); }

CUDASEG_REGISTER_KERNEL(kernels::batched_matmul, cpu, batched_matmul)
CUDASEG_REGISTER_KERNEL(kernels::linear, cpu, linear)
CUDASEG_REGISTER_KERNEL(kernels::sum_to, cpu, sum_to)

}  // namespace cudaseg::ops::cpu
