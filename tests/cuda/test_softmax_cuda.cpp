// CUDA softmax and log_softmax against the CPU reference kernels: the same
// values (rounded to the tested dtype) through the CUDA op in that dtype and
// the CPU op in float64, forward and backward, along the last dim (warp and
// block rows) and inner dims (a thread per position), on strided views.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/cuda_compare.h"
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

using cudaseg::testing::cuda::both;
using cudaseg::testing::cuda::expect_close;
using cudaseg::testing::cuda::Input;
using cudaseg::testing::cuda::poison;
using cudaseg::testing::cuda::random_input;

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
