// The CPU kernels' GEMMs: gemm over OpenBLAS (below) and linear_isa, our own. Row-major:
// gemm: C[m x n] = alpha * op(A) * op(B) + beta * C, where op(A) is [m x k] and
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

#include "ops/cpu/conv_direct.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

// y [rows, outf] = x [rows, in] weight^T (+ bias), then the exact GELU where
// `gelu`: float32 in the instruction set's own C = A B kernel (Isa::gemm_nn),
// not OpenBLAS, whose runtime choice on AVX-512 AMD CPUs is its AVX2 kernel
// (SegFormer's token linears ran at 40 GMAC/s with its packing). x is
// row-major with row stride ld, weight [outf, in] of any strides (its
// transpose packed once per weight version), y's rows ldy apart and as wide
// as outf rounded up to the vector (the columns past outf are written: 0
// plus GELU of 0). Tasks of up to 480 rows x a range of 64-column panels,
// over k-blocks of 256, so a task's A block and B panel stay in the L2; the
// bias is C's first value and the GELU runs while the task's block is in
// cache. With k_major, x is stored [in][rows], its k rows ld apart (a small
// map's [c][pixels] planes, read as they lie: Isa::gemm_tn).
void linear_isa(const float* x, int64_t ld, const Tensor& weight, const float* bias, bool gelu, float* y,
                int64_t ldy, int64_t rows, int64_t in, int64_t outf, const direct::Isa& isa, bool k_major = false);

}  // namespace cudaseg::ops::cpu
