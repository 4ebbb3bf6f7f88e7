// CPU reference kernels of softmax and log_softmax (ops/softmax.h). Tensors
// are contiguous [O, D, I] views, normalised along D.
#pragma once

#include "runtime/tensor.h"

namespace cudaseg::ops::cpu {

void softmax(const Tensor& x, bool log, const Tensor& out);
// From the forward's output y: softmax: y * (g - sum(g * y)); log_softmax: g - exp(y) * sum(g).
void softmax_backward(const Tensor& grad, const Tensor& y, bool log, const Tensor& grad_input);

}  // namespace cudaseg::ops::cpu
