#include <algorithm>
#include <array>
#include <vector>

#include "ops/common.h"
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

void linear(const Tensor& x, const Tensor& weight_any, const Tensor& bias, LinearAct act, const Tensor& out) {
  if (out.dtype() == DType::f32) {
    const direct::Isa* isa = direct::best_isa();
    const BlasMat mx = blas_mat(x);
    const int64_t rows = x.size(0), in = x.size(1), outf = weight_any.size(0);
    if (isa && !mx.trans && outf % isa->lanes == 0 && rows > 0) {
      linear_isa(x.data<float>(), mx.ld, weight_any, bias.defined() ? bias.data<float>() : nullptr,
                    act == LinearAct::gelu, out.data<float>(), outf, rows, in, outf, *isa);
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
