// The kernels of softmax and log_softmax (ops/softmax.h): x, y and the
// outputs are contiguous [O, D, I] views, normalised along D.
#pragma once

#include "ops/dispatch.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

using SoftmaxFn = void(const Tensor& x, bool log, const Tensor& out);
// From the forward's output y: softmax: y * (g - sum(g * y)); log_softmax: g - exp(y) * sum(g).
using SoftmaxBackwardFn = void(const Tensor& grad, const Tensor& y, bool log, const Tensor& grad_input);

extern Kernel<SoftmaxFn> softmax;
extern Kernel<SoftmaxBackwardFn> softmax_backward;

}  // namespace cudaseg::ops::kernels
