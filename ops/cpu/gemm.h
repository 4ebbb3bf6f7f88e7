// A thin wrapper over OpenBLAS sgemm/dgemm for the CPU kernels. Row-major:
// C[m x n] = alpha * op(A) * op(B) + beta * C, where op(A) is [m x k] and
// op(B) is [k x n]; leading dimensions are in elements. OpenBLAS threads the
// product itself, so callers must not wrap it in parallel_for.
#pragma once

#include <cstdint>

namespace cudaseg::ops::cpu {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

}  // namespace cudaseg::ops::cpu
