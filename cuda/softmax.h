// CUDA twins of ops/cpu's softmax kernels (ops/cpu/softmax.h): x, y and the
// outputs are contiguous [O, D, I] tensors, normalised along D.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::cuda {

void softmax(const Tensor& x, bool log, const Tensor& out);
// From the forward's output y: softmax: y * (g - sum(g * y)); log_softmax: g - exp(y) * sum(g).
void softmax_backward(const Tensor& grad, const Tensor& y, bool log, const Tensor& grad_input);

}  // namespace cudaseg::cuda
