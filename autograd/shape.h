// Differentiable shape ops (cudaseg::fn): the views of Tensor (reshape,
// permute, slice, expand, ...) recorded onto the tape, and the copying shape
// ops of ops/shape.h. View results share storage with their input, as in
// PyTorch.
#pragma once

#include <vector>

#include "ops/shape.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor reshape(const Tensor& x, const Shape& shape);
Tensor view(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
// x itself when already contiguous, else a contiguous copy.
Tensor contiguous(const Tensor& x);

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, ops::PadMode mode = ops::PadMode::constant,
           double value = 0.0);
Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats);
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims = {});
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor channel_shuffle(const Tensor& x, int64_t groups);

}  // namespace cudaseg::fn
CUDASEG_API_END
