// Shape ops that build new tensors: concatenation and splitting, padding,
// tiling, rolling, gathering along a dim, channel shuffle, and the backward
// helpers of the views. The views themselves (reshape, permute, slice,
// expand, ...) are Tensor methods; their differentiable forms are in
// autograd/shape.h. Semantics and argument order follow PyTorch.
#pragma once

#include <string>
#include <vector>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::ops {

// Joins tensors of one dtype and device along `dim`; all other sizes match.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Joins equally shaped tensors along a new dim.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Views of `split_size` elements along dim (the last may be smaller).
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
// Views of the given sizes, which must sum to x.size(dim).
std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
// At most `chunks` views of ceil(size / chunks) elements (torch.chunk).
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);

enum class PadMode { constant, reflect, replicate };
PadMode pad_mode_from_name(const std::string& name);  // "constant", "reflect", "replicate"
// torch.nn.functional.pad: `pads` pairs (before, after) from the last dim
// backwards: {left, right, top, bottom, ...}. Negative pads crop. Reflect pads
// must be smaller than the padded size.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, PadMode mode = PadMode::constant,
           double value = 0.0);
// The gradient of pad with respect to its input of `input_shape`.
Tensor pad_backward(const Tensor& grad, const Shape& input_shape, const std::vector<int64_t>& pads,
                    PadMode mode);

// Tiles x `repeats[d]` times along each dim; repeats may have more dims than
// x (new leading dims), never fewer.
Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats);
// Rolls elements by shifts[i] along dims[i] (wrapping around); with dims empty,
// one shift over the flattened tensor.
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims = {});
// The entries `index` (1-D int64 or int32) of x along dim.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// The gradient of index_select: grad summed into zeros of `input_shape` at `index`.
Tensor index_select_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, const Tensor& index);
// torch.nn.ChannelShuffle: [N, C, *] viewed as [N, g, C/g, *], dims 1 and 2 swapped.
Tensor channel_shuffle(const Tensor& x, int64_t groups);
// The gradient of x.slice(dim, start, end, step): grad written into zeros of `input_shape`.
Tensor slice_backward(const Tensor& grad, const Shape& input_shape, int64_t dim, int64_t start, int64_t end,
                      int64_t step);

}  // namespace cudaseg::ops
CUDASEG_API_END
