// cuBLASLt for linear layers: one GEMM whose epilogue adds the bias and
// applies ReLU or GELU before the output is written, instead of a GEMM over
// a broadcast copy of the bias followed by a separate activation pass.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::cuda {

// The activation of the epilogue. cuBLASLt's GELU is the tanh approximation
// (torch's GELU(approximate="tanh")); the exact erf GELU is not an epilogue.
enum class LtActivation { none, relu, gelu_tanh };

// out[rows, out_features] = act(x[rows, in] @ weight[out_features, in]^T + bias)
// with bias [out_features] or undefined; x, weight, bias and out contiguous on
// one CUDA device, float32 (TF32 as allow_tf32(), runtime/math_mode.h), float16 or bfloat16
// (float32 accumulation). Returns false, having launched nothing, when
// cuBLASLt is not used for the problem (another dtype, a dim of 1 or beyond
// cuBLASLt's limits, a bias not 16-byte aligned, or no algorithm offered);
// the caller then falls back to cuda::linear.
bool linear_lt(const Tensor& x, const Tensor& weight, const Tensor& bias, LtActivation act, const Tensor& out);

}  // namespace cudaseg::cuda
