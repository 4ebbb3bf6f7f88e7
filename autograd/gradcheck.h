// gradcheck: compares every backward with central finite differences in
// double precision, as the testing contract requires.
//
// The function's outputs are projected onto fixed random weights r, giving
// the scalar L = sum_k <out_k, r_k>; the analytical dL/dx from backward() is
// compared, element by element, with (L(x + eps) - L(x - eps)) / (2 eps).
// A random projection catches any wrong Jacobian entry with probability 1.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  uint64_t seed = 1234;
};

struct GradcheckResult {
  bool ok = true;
  std::string report;  // the worst mismatches, naming input and element
};

using MultiFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
using SingleFn = std::function<Tensor(const std::vector<Tensor>&)>;

// `inputs` must be float64 CPU tensors; those with requires_grad set are checked.
GradcheckResult gradcheck(const MultiFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});
GradcheckResult gradcheck(const SingleFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace cudaseg::autograd
CUDASEG_API_END
