// Reductions over any set of dims (`dims` empty: all dims), keeping reduced
// dims as size 1 when keepdim, with PyTorch's names and semantics. Negative
// dims count from the end. Indices are int64; ties resolve to the first
// occurrence and a NaN wins, as in PyTorch.
#pragma once

#include <optional>
#include <vector>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Sums `x` down to `shape`, the inverse of broadcasting `shape` up to x's shape
// (the gradient of a broadcast).
Tensor sum_to(const Tensor& x, const Shape& shape);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);

// Largest / smallest value over dims (torch.amax / amin); max(x) and min(x)
// are the full reductions, 0-dim results.
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);

struct ValuesIndices {
  Tensor values;
  Tensor indices;  // int64
};
// torch.max(x, dim, keepdim) / torch.min: values and their indices along one dim.
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
// Index of the largest / smallest element along `dim`, or in the flattened
// tensor when dim is absent (then keepdim gives all dims size 1).
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);

// Variance and standard deviation dividing by N - correction (correction 1:
// unbiased, 0: population); floating inputs.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, double correction = 1.0,
           bool keepdim = false);
Tensor std(const Tensor& x, const std::vector<int64_t>& dims = {}, double correction = 1.0,
           bool keepdim = false);
// p-norm for p = 1 or 2 over dims (all dims, p = 2: the Frobenius norm).
Tensor norm(const Tensor& x, double p = 2.0, const std::vector<int64_t>& dims = {}, bool keepdim = false);

// The gradient of a value-selecting reduction (max/min along `dim`): zeros of
// `input_shape` with grad placed at `indices` along `dim`.
Tensor value_selecting_reduction_backward(const Tensor& grad, int64_t dim, const Tensor& indices,
                                          const Shape& input_shape, bool keepdim);

}  // namespace cudaseg::ops
CUDASEG_API_END
