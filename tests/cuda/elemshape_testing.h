// Helpers of the elementwise, reduction and shape CUDA suites: inputs drawn
// once and rounded to the dtype under test, held as a float64 CPU reference
// copy and a CUDA copy; allocator poisoning; per-dtype tolerances.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "common/cuda_skip.h"
#include "common/testing.h"
#include "runtime/tensor.h"

namespace cudaseg::elemshape_testing {

namespace ct = cudaseg::testing;

inline Device cuda0() { return Device::cuda(0); }

inline std::vector<DType> floating_dtypes() { return {DType::f32, DType::f16, DType::bf16, DType::f64}; }

// Relative L2 bounds against a float64 CPU run on the same (rounded) values.
// fp32: a few ulps of 2^-24 with float accumulation; fp16 (11-bit mantissa,
// unit roundoff 2^-11 ~ 4.9e-4) and bf16 (8 bits, 2^-8 ~ 3.9e-3) round each
// output once after fp32 compute, and backward chains a few such roundings,
// so 1e-2 and 2e-2 leave a margin of several roundings without hiding a wrong
// element (one wrong element among a few hundred moves the norm by far more).
inline double tolerance(DType dtype) {
  switch (dtype) {
    case DType::f16: return 1e-2;
    case DType::bf16: return 2e-2;
    case DType::f64: return 1e-12;
    default: return 1e-5;
  }
}

// One input: `ref` float64 on the CPU, `dev` the same values in `dtype` on CUDA.
struct Input {
  Tensor ref, dev;
};

// Values of `host` (any dtype) rounded to `dtype`; dev optionally a non-contiguous view.
inline Input input_from(const Tensor& host, DType dtype, bool noncontiguous = false) {
  const Tensor rounded = host.to(dtype);
  Input in{rounded.to(DType::f64), rounded.to(cuda0())};
  if (noncontiguous) in.dev = ct::noncontiguous(in.dev);
  return in;
}

inline Input randn_input(const Shape& shape, uint64_t seed, DType dtype, bool noncontiguous = false) {
  return input_from(ct::randn(shape, seed), dtype, noncontiguous);
}

inline Input uniform_input(const Shape& shape, double lo, double hi, uint64_t seed, DType dtype,
                           bool noncontiguous = false) {
  return input_from(ct::uniform(shape, lo, hi, seed), dtype, noncontiguous);
}

// Small integers (many ties), as float64 values.
inline Tensor small_ints(const Shape& shape, int64_t levels, uint64_t seed) {
  std::vector<double> v = ct::uniform(shape, 0, static_cast<double>(levels), seed).to_vector();
  for (double& e : v) e = std::floor(e) - static_cast<double>(levels / 2);
  return Tensor::from_vector(v, shape);
}

// Leaves freed, all-ones-bytes blocks (NaN in every floating dtype, -1 in the
// integer ones) in the caching allocator for every allocation of `shape` in
// `dtype` the next op makes, so an element the op forgets to write shows up.
inline void poison(const Shape& shape, DType dtype, int blocks = 3) {
  const int64_t nbytes = shape_numel(shape) * static_cast<int64_t>(dtype_size(dtype));
  std::vector<Tensor> held;
  for (int i = 0; i < blocks; ++i) {
    held.push_back(Tensor::empty({std::max<int64_t>(nbytes, 1)}, DType::u8, cuda0()));
    held.back().fill_(255);
  }
}

// ||dev - ref|| / ||ref|| within the dtype's bound; names the case on failure.
inline ::testing::AssertionResult close(const Tensor& dev, const Tensor& ref, DType dtype, const std::string& what) {
  if (dev.shape() != ref.shape())
    return ::testing::AssertionFailure() << what << ": shape " << shape_str(dev.shape()) << " vs "
                                         << shape_str(ref.shape());
  if (!dev.device().is_cuda()) return ::testing::AssertionFailure() << what << ": result not on CUDA";
  const double err = ct::rel_l2(dev.to(Device::cpu()).to(DType::f64), ref);
  if (err <= tolerance(dtype)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << " (" << dtype_name(dtype) << "): relative L2 " << err
                                       << " > " << tolerance(dtype);
}

// Exact equality of values (integer, bool and data-movement results).
inline ::testing::AssertionResult same(const Tensor& dev, const Tensor& ref, const std::string& what) {
  if (dev.shape() != ref.shape())
    return ::testing::AssertionFailure() << what << ": shape " << shape_str(dev.shape()) << " vs "
                                         << shape_str(ref.shape());
  if (dev.dtype() != ref.dtype())
    return ::testing::AssertionFailure() << what << ": dtype " << dtype_name(dev.dtype()) << " vs "
                                         << dtype_name(ref.dtype());
  const std::vector<double> a = dev.to_vector(), b = ref.to_vector();
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))))
      return ::testing::AssertionFailure() << what << ": element " << i << " is " << a[i] << ", expected " << b[i];
  return ::testing::AssertionSuccess();
}

// The gradient of f at x for the output gradient `g`: x becomes a fresh leaf on its device.
inline Tensor grad_of(const std::function<Tensor(const Tensor&)>& f, const Tensor& x, const Tensor& g) {
  Tensor leaf = x.detach().clone();
  leaf.set_requires_grad(true);
  autograd::backward(f(leaf), g);
  return leaf.grad();
}

// Forward and backward of f on CUDA in `dtype` against float64 on the CPU;
// the output gradient is random.
inline void check_fwd_bwd(const std::function<Tensor(const Tensor&)>& f, const Input& x, DType dtype,
                          const std::string& what, uint64_t seed = 99) {
  const Tensor ref_out = f(x.ref);
  poison(ref_out.shape(), dtype);
  EXPECT_TRUE(close(f(x.dev), ref_out, dtype, what));
  const Input g = randn_input(ref_out.shape(), seed, dtype);
  poison(x.ref.shape(), dtype);
  EXPECT_TRUE(close(grad_of(f, x.dev, g.dev), grad_of(f, x.ref, g.ref), dtype, what + " backward"));
}

}  // namespace cudaseg::elemshape_testing
