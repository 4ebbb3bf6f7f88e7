// Dropout as a pure tensor function: F.dropout and F.dropout2d with an
// explicit Generator (runtime/rng.h), so a run is reproducible from the
// generator's (seed, offset) and the same state gives the same mask on the
// CPU and on CUDA.
//
// In training with 0 < p, each mask element draws one Philox uniform u (the
// generator advances by the mask's element count) and keeps its element when
// u < 1 - p, scaled by 1 / (1 - p); p = 1 drops everything. With
// training = false or p = 0 the op is the identity: it returns `input`
// itself, draws nothing and leaves the mask undefined, as PyTorch does.
#pragma once

#include "runtime/rng.h"
#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

struct DropoutResult {
  Tensor output;
  // The factor applied to each element, 0 or 1 / (1 - p), with the input's
  // dtype: the input's shape for dropout, [N, C, 1, ...] for dropout2d.
  Tensor mask;
};

// Element-wise dropout of any input.
DropoutResult dropout(const Tensor& input, double p, bool training, Generator& generator);
// Channel-wise dropout of input [N, C, H, W] (or [N, C, L]): zeroes whole channels.
DropoutResult dropout2d(const Tensor& input, double p, bool training, Generator& generator);
// grad_output times the saved mask (broadcast over the positions for dropout2d).
Tensor dropout_backward(const Tensor& grad_output, const Tensor& mask);

}  // namespace cudaseg::ops
CUDASEG_API_END
