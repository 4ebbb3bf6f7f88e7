// The one GEMM of the CPU kernels, over OpenBLAS. Row-major:
// C[m x n] = alpha * op(A) * op(B) + beta * C, where op(A) is [m x k] and
// op(B) is [k x n]; lda/ldb/ldc are the row strides of the stored
// (untransposed) matrices, in elements.
//
// Threading is ours, not OpenBLAS's: OpenBLAS is kept single-threaded and a
// large product is split into column (or row) blocks over the cudaseg thread
// pool, so set_num_threads() governs every CPU kernel and a GEMM called from
// inside parallel_for (one per band, head or image) runs serially on its
// worker instead of oversubscribing the cores.
#pragma once

#include <cstdint>

namespace cudaseg::ops::cpu {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

}  // namespace cudaseg::ops::cpu
