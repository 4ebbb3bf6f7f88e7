#include "ops/cpu/gemm.h"

#include <cblas.h>

#include <limits>

#include "runtime/error.h"

namespace cudaseg::ops::cpu {
namespace {

// BLAS takes int dimensions; a larger product must be split by the caller.
blasint as_blas(int64_t v) {
  CUDASEG_CHECK(v >= 0 && v <= std::numeric_limits<blasint>::max(), "gemm: dimension ", v,
                " does not fit the BLAS integer type");
  return static_cast<blasint>(v);
}

CBLAS_TRANSPOSE op(bool trans) { return trans ? CblasTrans : CblasNoTrans; }

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, op(trans_a), op(trans_b), as_blas(m), as_blas(n), as_blas(k), alpha, a,
              as_blas(lda), b, as_blas(ldb), beta, c, as_blas(ldc));
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, op(trans_a), op(trans_b), as_blas(m), as_blas(n), as_blas(k), alpha, a,
              as_blas(lda), b, as_blas(ldb), beta, c, as_blas(ldc));
}

}  // namespace cudaseg::ops::cpu
