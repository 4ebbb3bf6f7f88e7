// A thin wrapper over OpenBLAS's cblas_sgemm/cblas_dgemm, templated on the
// element type so the float/double reference kernels share one call site.
#pragma once

#include <cstdint>

namespace cudaseg::ops::cpu {

// C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C, all row-major.
// op(X) is X, or X^T when trans_x; lda/ldb/ldc are the row strides of the
// stored (untransposed) matrices, in elements.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace cudaseg::ops::cpu
