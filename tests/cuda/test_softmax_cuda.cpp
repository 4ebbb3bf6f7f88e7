// CUDA softmax and log_softmax against the CPU reference kernels: the same
// values (rounded to the tested dtype) through the CUDA op in that dtype and
// the CPU op in float64, forward and backward, along the last dim (warp and
// block rows) and inner dims (a thread per position), on strided views.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/cuda_skip.h"
#include "common/testing.h"
#include "ops/softmax.h"

namespace {

namespace ct = cudaseg::testing;
namespace ops = cudaseg::ops;
using cudaseg::Device;
using cudaseg::DType;
using cudaseg::Shape;
using cudaseg::Tensor;

const DType kTypes[] = {DType::f32, DType::f16, DType::bf16, DType::f64};

// Relative L2 bounds against the float64 CPU run. fp16 keeps an 11-bit and
// bf16 an 8-bit mantissa, so rounding the outputs alone costs up to 2^-11 and
// 2^-8 relative; the kernels accumulate in fp32, which adds far less.
double tolerance(DType t) {
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
void poison(const Shape& shape, DType dtype) {
  std::vector<Tensor> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(Tensor::empty(shape, dtype, Device::cuda(0)).fill_(NAN));
}

// A float64 CPU tensor on the GPU in `dtype` (a strided view when asked),
// and its rounded values back in float64 on the CPU.
struct Input {
  Tensor gpu, cpu;
};
Input both(const Tensor& values, DType dtype, bool strided) {
  const Tensor gpu = values.to(Device::cuda(0), dtype);
  return {strided ? ct::noncontiguous(gpu) : gpu, gpu.to(Device::cpu(), DType::f64)};
}
Input random_input(const Shape& shape, uint64_t seed, DType dtype, bool strided, double scale = 1.0) {
  std::vector<double> values = ct::randn(shape, seed).to_vector();
  for (double& v : values) v *= scale;
  return both(Tensor::from_vector(values, shape, DType::f64), dtype, strided);
}

void expect_close(const Tensor& got, const Tensor& want, DType dtype, const std::string& what) {
  ASSERT_TRUE(got.device().is_cuda()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  EXPECT_EQ(got.dtype(), dtype) << what;
  EXPECT_LE(ct::rel_l2(got, want), tolerance(dtype)) << what << " in " << cudaseg::dtype_name(dtype);
}

struct Case {
  Shape shape;
  int64_t dim;
  double scale;  // large scales check the max shift
};
const Case kCases[] = {{{7, 33}, -1, 1.0},      {{3, 3000}, 1, 4.0},     {{4, 19, 9, 13}, 1, 1.0},
                       {{5, 6, 7}, 0, 50.0},    {{2, 3, 1500}, -1, 1.0}, {{11}, 0, 1.0}};

TEST(CudaSoftmax, ForwardMatchesCpu) {
  CUDASEG_REQUIRE_CUDA();
  for (const Case& sc : kCases) {
    for (bool log : {false, true}) {
      for (DType dtype : kTypes) {
        const std::string what = std::string(log ? "log_softmax " : "softmax ") + cudaseg::shape_str(sc.shape) +
                                 " dim " + std::to_string(sc.dim);
        const Input x = random_input(sc.shape, 1, dtype, true, sc.scale);
        poison(sc.shape, dtype);
        const Tensor got = log ? ops::log_softmax(x.gpu, sc.dim) : ops::softmax(x.gpu, sc.dim);
        const Tensor want = log ? ops::log_softmax(x.cpu, sc.dim) : ops::softmax(x.cpu, sc.dim);
        expect_close(got, want, dtype, what);
      }
    }
  }
}

TEST(CudaSoftmax, BackwardMatchesCpu) {
  CUDASEG_REQUIRE_CUDA();
  for (const Case& sc : kCases) {
    for (bool log : {false, true}) {
      for (DType dtype : kTypes) {
        const std::string what = std::string(log ? "log_softmax_backward " : "softmax_backward ") +
                                 cudaseg::shape_str(sc.shape) + " dim " + std::to_string(sc.dim);
        // A genuine forward output, computed once in float64 and rounded.
        const Tensor x = ct::randn(sc.shape, 2);
        const Input y = both(log ? ops::log_softmax(x, sc.dim) : ops::softmax(x, sc.dim), dtype, false);
        const Input g = random_input(sc.shape, 3, dtype, true);
        poison(sc.shape, dtype);
        const Tensor got = log ? ops::log_softmax_backward(g.gpu, y.gpu, sc.dim)
                               : ops::softmax_backward(g.gpu, y.gpu, sc.dim);
        const Tensor want = log ? ops::log_softmax_backward(g.cpu, y.cpu, sc.dim)
                                : ops::softmax_backward(g.cpu, y.cpu, sc.dim);
        expect_close(got, want, dtype, what);
      }
    }
  }
}

TEST(CudaSoftmax, RowsSumToOne) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor y = ops::softmax(random_input({37, 2049}, 4, DType::f32, false, 30.0).gpu, -1);
  const std::vector<double> v = y.to_vector();
  for (int64_t r = 0; r < 37; ++r) {
    double s = 0;
    for (int64_t d = 0; d < 2049; ++d) s += v[r * 2049 + d];
    EXPECT_NEAR(s, 1.0, 1e-5) << "row " << r;
  }
}

}  // namespace
