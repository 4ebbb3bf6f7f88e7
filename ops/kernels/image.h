// The kernel of ops/image.h: a contiguous u8 [H, W, 3] image into a
// preallocated contiguous [1, 3, h, w] output of a floating dtype, every
// element written (padding included), with the arithmetic of
// ops/kernels/image_index.h.
#pragma once

#include "ops/dispatch.h"
#include "ops/kernels/image_index.h"
#include "runtime/tensor.h"

namespace cudaseg::ops::kernels {

using ImageToInputFn = void(const Tensor& image, const Tensor& output, const image_input::Params& params);

extern Kernel<ImageToInputFn> image_to_input;

}  // namespace cudaseg::ops::kernels
