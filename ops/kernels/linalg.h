// The kernels of the linear-algebra family (ops/linalg.h): matrix products
// through OpenBLAS on the CPU and cuBLAS on CUDA, and the broadcast reduction
// their gradients need. blas_compatible and blas_mat are the one statement of
// which strided layouts both BLAS wrappers take without a copy.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ops/dispatch.h"
#include "ops/kernels/activation.h"
#include "ops/linalg.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

// True when the last two dims of `t` can be handed to BLAS as they are: one
// of them has stride 1 and the other a leading dimension covering the rows.
inline bool blas_compatible(const Tensor& t) {
  const int64_t nd = t.dim();
  const int64_t rows = t.size(nd - 2), cols = t.size(nd - 1);
  const int64_t rs = t.stride(nd - 2), cs = t.stride(nd - 1);
  const bool row_major = (cols == 1 || cs == 1) && (rows == 1 || rs >= cols);
  const bool col_major = (rows == 1 || rs == 1) && (cols == 1 || cs >= rows);
  return row_major || col_major;
}

inline Tensor blas_ready(const Tensor& t) { return blas_compatible(t) ? t : t.contiguous(); }

// The last two dims of a blas_compatible tensor as BLAS sees them: row-major
// storage, transposed when the columns are the strided side, and the leading
// dimension (a lone row or column is stepped by its length).
struct BlasMat {
  bool trans = false;
  int64_t ld = 0;
};
inline BlasMat blas_mat(const Tensor& t) {
  const int64_t nd = t.dim();
  const int64_t rows = t.size(nd - 2), cols = t.size(nd - 1);
  const int64_t rs = t.stride(nd - 2), cs = t.stride(nd - 1);
  if ((cols == 1 || cs == 1) && (rows == 1 || rs >= cols)) return {false, rows == 1 ? cols : rs};
  return {true, cols == 1 ? rows : cs};
}

// The pointwise activation a LinearAct other than none applies.
inline ActivationArgs linear_activation(LinearAct act) {
  return {act == LinearAct::relu   ? Activation::relu
          : act == LinearAct::gelu ? Activation::gelu
                                   : Activation::gelu_tanh};
}

// out[batch..., n, p] = a[batch..., n, m] @ b[batch..., m, p]. `a` and `b` are
// already expanded to the batch dims of the contiguous `out` (any batch
// strides, 0 included); their last two dims are blas_compatible.
using BatchedMatmulFn = void(const Tensor& a, const Tensor& b, const Tensor& out);
// out[rows, out_features] = act(x[rows, in] @ weight[out_features, in]^T (+ bias))
// with in > 0; x blas_compatible, weight of any layout, bias contiguous or
// undefined, out contiguous.
using LinearFn = void(const Tensor& x, const Tensor& weight, const Tensor& bias, LinearAct act, const Tensor& out);
// `x` summed down to `shape` (x's shape with broadcast dims reduced: leading
// dims dropped, others kept as 1), the gradient of a broadcast; the same
// result on every run.
using SumToFn = Tensor(const Tensor& x, const Shape& shape);

extern Kernel<BatchedMatmulFn> batched_matmul;
extern Kernel<LinearFn> linear;
extern Kernel<SumToFn> sum_to;

}  // namespace cudaseg::ops::kernels
