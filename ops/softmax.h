// softmax and log_softmax along one dim (negative dims count from the end),
// numerically stable for any input magnitude, with their backward kernels.
// Outputs are new contiguous tensors; inputs may be any strided view.
#pragma once

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

Tensor softmax(const Tensor& input, int64_t dim);
Tensor log_softmax(const Tensor& input, int64_t dim);
// Both take the forward's OUTPUT, as PyTorch's _softmax_backward_data does.
Tensor softmax_backward(const Tensor& grad_output, const Tensor& output, int64_t dim);
Tensor log_softmax_backward(const Tensor& grad_output, const Tensor& output, int64_t dim);

}  // namespace cudaseg::ops
CUDASEG_API_END
