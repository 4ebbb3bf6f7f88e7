// Differentiable reductions (cudaseg::fn); fn::sum is in autograd/arith.h.
// The gradient of amax/amin and of the full max/min is shared evenly among
// tied extremes (PyTorch 1.13); max/min along a dim send it to the returned
// index. Indices and argmax/argmin carry no gradient (use ops:: for those).
#pragma once

#include <vector>

#include "ops/reduce.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::fn {

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
ops::ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ops::ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, double correction = 1.0,
           bool keepdim = false);
Tensor std(const Tensor& x, const std::vector<int64_t>& dims = {}, double correction = 1.0,
           bool keepdim = false);
Tensor norm(const Tensor& x, double p = 2.0, const std::vector<int64_t>& dims = {}, bool keepdim = false);

}  // namespace cudaseg::fn
CUDASEG_API_END
