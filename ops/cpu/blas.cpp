#include "ops/cpu/blas.h"

#include <cblas.h>

#include <algorithm>
#include <limits>

#include "runtime/error.h"

namespace cudaseg::ops::cpu {
namespace {

// cblas takes int sizes: a product that does not fit must fail loudly, not wrap.
blasint to_blas(int64_t v, const char* what) {
  CUDASEG_CHECK(v >= 0 && v <= std::numeric_limits<blasint>::max(), "gemm: ", what, " = ", v,
                " does not fit the BLAS integer type");
  return static_cast<blasint>(v);
}

// BLAS insists on leading dimensions >= max(1, columns stored) even when a
// dimension is 0 or 1; the caller's stride can be anything in those cases.
int64_t fix_ld(int64_t ld, int64_t cols) { return std::max<int64_t>({ld, cols, 1}); }

}  // namespace

template <>
void gemm<float>(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              to_blas(m, "m"), to_blas(n, "n"), to_blas(k, "k"), alpha, a,
              to_blas(fix_ld(lda, trans_a ? m : k), "lda"), b, to_blas(fix_ld(ldb, trans_b ? k : n), "ldb"),
              beta, c, to_blas(fix_ld(ldc, n), "ldc"));
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                  int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              to_blas(m, "m"), to_blas(n, "n"), to_blas(k, "k"), alpha, a,
              to_blas(fix_ld(lda, trans_a ? m : k), "lda"), b, to_blas(fix_ld(ldb, trans_b ? k : n), "ldb"),
              beta, c, to_blas(fix_ld(ldc, n), "ldc"));
}

}  // namespace cudaseg::ops::cpu
