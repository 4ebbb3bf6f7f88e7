// Tensor::copy_ between host tensors of one shape, any strides and dtypes:
// contiguous same-dtype copies as a memmove (in pieces over the thread pool
// where the ranges do not overlap), transposed layouts in tiles, the rest in
// rows (runtime/strided.h).
#pragma once

#include "runtime/tensor.h"

namespace cudaseg {

void host_copy(const Tensor& dst, const Tensor& src);

}  // namespace cudaseg
