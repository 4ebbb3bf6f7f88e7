// Helpers shared by the op and autograd suites: seeded random tensors, a
// non-contiguous twin of a tensor, closeness checks and error-message checks.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace cudaseg::testing {

// Normal(0, 1) values (never constant), float64 unless asked otherwise.
Tensor randn(const Shape& shape, uint64_t seed, DType dtype = DType::f64);
Tensor uniform(const Shape& shape, double low, double high, uint64_t seed, DType dtype = DType::f64);
// randn that requires grad (float64), for gradcheck.
Tensor leaf(const Shape& shape, uint64_t seed);
// The same values in a non-contiguous view (every other element of a larger buffer).
Tensor noncontiguous(const Tensor& t);

double max_abs_diff(const Tensor& a, const Tensor& b);
// ||a - b|| / ||b||
double rel_l2(const Tensor& a, const Tensor& b);
// Same shape, and |a - b| <= atol + rtol * |b| everywhere; names the worst element.
::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double atol = 1e-10, double rtol = 1e-10);

// Runs gradcheck and reports its mismatches.
::testing::AssertionResult gradcheck_ok(const autograd::SingleFn& f, const std::vector<Tensor>& inputs,
                                        const autograd::GradcheckOptions& options = {});

// Calls f, expecting a cudaseg::Error whose message contains every fragment.
::testing::AssertionResult throws_mentioning(const std::function<void()>& f,
                                             const std::vector<std::string>& fragments);

}  // namespace cudaseg::testing
