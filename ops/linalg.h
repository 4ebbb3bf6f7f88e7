// Matrix products with torch's semantics, through OpenBLAS GEMM on the CPU
// and cuBLAS / cuBLASLt on CUDA: matmul, bmm, linear (and linear fused with
// its activation), and the backward of each (as ops:: functions the autograd
// nodes call). float32/float64 on the CPU; float32/float64/float16/bfloat16
// on CUDA.
#pragma once

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

// torch.matmul: 1-D x 1-D is a dot product (0-dim result); 2-D x 2-D a matrix
// product; a 1-D left operand is treated as [1, m] and a 1-D right operand as
// [m, 1], the added dim removed from the result; otherwise the last two dims
// are matrices and the others batch dims, broadcast against each other
// ([2, 1, n, m] @ [5, m, p] -> [2, 5, n, p]).
Tensor matmul(const Tensor& a, const Tensor& b);

// torch.bmm: [B, n, m] @ [B, m, p] -> [B, n, p], no broadcasting.
Tensor bmm(const Tensor& a, const Tensor& b);

// torch.nn.functional.linear: x [..., in] @ weight[out, in]^T + bias[out]
// -> [..., out]; `bias` may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// The activation linear_act applies: gelu is torch's exact (erf) GELU,
// gelu_tanh its tanh approximation (GELU(approximate="tanh")).
enum class LinearAct { none, relu, gelu, gelu_tanh };

// act(linear(x, weight, bias)), the same values as the two ops in turn. On
// CUDA (float32/float16/bfloat16, contiguous input and weight) the bias, ReLU
// and tanh-GELU run in the cuBLASLt GEMM's epilogue; the exact GELU, which no
// epilogue offers, runs in place on the GEMM's output.
Tensor linear_act(const Tensor& x, const Tensor& weight, const Tensor& bias, LinearAct act);

// Gradients of matmul (and bmm) for the given output gradient; each is
// computed only when asked for (undefined otherwise) and has its input's
// shape (broadcast batch dims summed).
struct MatmulGrads {
  Tensor a, b;
};
MatmulGrads matmul_backward(const Tensor& grad, const Tensor& a, const Tensor& b, bool need_a, bool need_b);

struct LinearGrads {
  Tensor input, weight, bias;
};
LinearGrads linear_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, bool need_input,
                            bool need_weight, bool need_bias);

}  // namespace cudaseg::ops
CUDASEG_API_END
