// Shared by the CUDA-vs-CPU suites: per-dtype tolerances, output poisoning,
// paired GPU/CPU inputs and the comparison itself.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/testing.h"
#include "runtime/tensor.h"

namespace cudaseg::testing::cuda {

// Relative L2 bounds against the float64 CPU run. fp16 keeps an 11-bit and
// bf16 an 8-bit mantissa, so rounding the outputs alone costs up to 2^-11 and
// 2^-8 relative; the kernels compute and accumulate in fp32, which adds far less.
inline double tolerance(DType t) {
  switch (t) {
    case DType::f32: return 1e-5;
    case DType::f16: return 1e-2;
    case DType::bf16: return 2e-2;
    default: return 1e-10;
  }
}

// The caching allocator hands a freed block back to the next allocation of
// that size on the same stream, so releasing NaN-filled blocks makes the op's
// fresh outputs start as NaN and an unwritten element fails the comparison.
// Several blocks, since an op may take some for temporaries first.
inline void poison(const Shape& shape, DType dtype) {
  std::vector<Tensor> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(Tensor::empty(shape, dtype, Device::cuda(0)).fill_(NAN));
}

// The same values on the GPU in `dtype` (a strided view when asked) and,
// rounded to that dtype, in float64 on the CPU.
struct Input {
  Tensor gpu, cpu;
};
inline Input both(const Tensor& values, DType dtype, bool strided) {
  const Tensor gpu = values.to(Device::cuda(0), dtype);
  return {strided ? noncontiguous(gpu) : gpu, gpu.to(Device::cpu(), DType::f64)};
}
// Normal values times `scale` plus `shift`.
inline Input random_input(const Shape& shape, uint64_t seed, DType dtype, bool strided = false, double scale = 1.0,
                          double shift = 0.0) {
  std::vector<double> values = randn(shape, seed).to_vector();
  for (double& v : values) v = v * scale + shift;
  return both(Tensor::from_vector(values, shape, DType::f64), dtype, strided);
}

inline void expect_close(const Tensor& got, const Tensor& want, DType dtype, const std::string& what) {
  ASSERT_EQ(got.defined(), want.defined()) << what;
  if (!want.defined()) return;
  ASSERT_TRUE(got.device().is_cuda()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  EXPECT_EQ(got.dtype(), dtype) << what;
  EXPECT_LE(rel_l2(got, want), tolerance(dtype)) << what << " in " << dtype_name(dtype);
}

}  // namespace cudaseg::testing::cuda
