// cuBLAS for the op set: row-major GEMM and strided batched GEMM on the
// current stream of the tensors' device, in f32, f64, f16 and bf16 (16-bit
// inputs accumulate in f32). TF32 is off unless the calling thread allows it
// (runtime/math_mode.h), so f32 results match the CPU reference to ~1e-6.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

namespace cudaseg::cuda {

// C[m, n] = alpha * op(A) op(B) + beta * C, all row-major, leading dims in
// elements; op transposes when trans_*. A batch of `batch` products steps each
// operand by its stride (0 broadcasts).
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int64_t lda = 0, stride_a = 0;
  const void* b = nullptr;
  int64_t ldb = 0, stride_b = 0;
  void* c = nullptr;
  int64_t ldc = 0, stride_c = 0;
  int64_t batch = 1;
  double alpha = 1.0, beta = 0.0;
};
void gemm(DType dtype, int device, const GemmArgs& args, const char* op);

}  // namespace cudaseg::cuda
