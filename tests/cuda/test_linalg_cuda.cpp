// matmul / bmm / linear / linear_act on CUDA against the CPU kernels (float64
// on the same rounded values), forward and backward, in every floating dtype.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/cuda_skip.h"
#include "autograd/engine.h"
#include "autograd/linalg.h"
#include "common/testing.h"
#include "ops/linalg.h"

namespace ct = cudaseg::testing;
using cudaseg::Device;
using cudaseg::DType;
using cudaseg::Shape;
using cudaseg::Tensor;
namespace ops = cudaseg::ops;
namespace fn = cudaseg::fn;

namespace {

const DType kDtypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16};

// Relative L2 bounds. fp32: cuBLAS runs with TF32 off, so only summation
// order differs from OpenBLAS. fp16 / bf16: operands and results carry 11 /
// 8-bit mantissas (unit roundoff 4.9e-4 / 3.9e-3) while cuBLAS accumulates
// in fp32, so the error is a few units of roundoff of the output.
double tol(DType d) {
  switch (d) {
    case DType::f32: return 1e-5;
    case DType::f64: return 1e-12;
    case DType::f16: return 1e-2;
    default: return 2e-2;
  }
}

// `x` rounded to `dtype`: on the device, and the same values in float64 on the CPU.
struct Both {
  Tensor dev, cpu;
};
Both both(const Tensor& x, DType dtype) {
  const Tensor r = x.to(dtype);
  return {r.to(Device::cuda(0)), r.to(DType::f64)};
}

// The next device allocations of `shape` come from NaN-filled cached blocks,
// so an output element a kernel forgets to write fails the comparison.
void poison(const Shape& shape, DType dtype) {
  std::vector<Tensor> blocks;
  for (int i = 0; i < 3; ++i) {
    blocks.push_back(Tensor::empty(shape, dtype, Device::cuda(0)));
    blocks.back().fill_(NAN);
  }
}

::testing::AssertionResult close(const Tensor& got, const Tensor& want, double bound) {
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << "shape " << got.str() << " vs " << want.str();
  const double err = ct::rel_l2(got.to(Device::cpu()).to(DType::f64), want);
  if (err <= bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "relative L2 error " << err << " > " << bound << " for " << got.str();
}

void check_matmul(const Tensor& a, const Tensor& b, uint64_t seed, bool transpose_b = false) {
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both x = both(a, dtype), y = both(b, dtype);
    const Tensor yd = transpose_b ? y.dev.transpose(-1, -2) : y.dev;
    const Tensor yc = transpose_b ? y.cpu.transpose(-1, -2) : y.cpu;
    const Tensor want = ops::matmul(x.cpu, yc);
    poison(want.shape(), dtype);
    EXPECT_TRUE(close(ops::matmul(x.dev, yd), want, tol(dtype)));

    const Both g = both(ct::randn(want.shape(), seed), dtype);
    const ops::MatmulGrads wg = ops::matmul_backward(g.cpu, x.cpu, yc, true, true);
    poison(a.shape(), dtype);
    const ops::MatmulGrads gg = ops::matmul_backward(g.dev, x.dev, yd, true, true);
    EXPECT_TRUE(close(gg.a, wg.a, tol(dtype)));
    EXPECT_TRUE(close(gg.b, wg.b, tol(dtype)));
  }
}

}  // namespace

TEST(CudaLinalg, MatmulTwoDimensional) {
  CUDASEG_REQUIRE_CUDA();
  check_matmul(ct::randn({37, 45}, 1), ct::randn({45, 29}, 2), 3);
}

TEST(CudaLinalg, MatmulTransposedAndStridedOperands) {
  CUDASEG_REQUIRE_CUDA();
  // b as a transposed view (column-major to BLAS), a with a row stride.
  check_matmul(ct::noncontiguous(ct::randn({13, 21}, 4)), ct::randn({17, 21}, 5), 6, true);
}

TEST(CudaLinalg, MatmulBroadcastBatches) {
  CUDASEG_REQUIRE_CUDA();
  check_matmul(ct::randn({2, 1, 5, 7}, 7), ct::randn({3, 7, 4}, 8), 9);  // strided-batched over a 0 stride
  check_matmul(ct::randn({3, 5, 7}, 10), ct::randn({7, 6}, 11), 12);
  // Batch dims no single stride can step: a loop of strided-batched calls.
  check_matmul(ct::randn({2, 1, 4, 3, 5}, 13), ct::randn({1, 3, 4, 5, 2}, 14), 15);
}

TEST(CudaLinalg, MatmulVectors) {
  CUDASEG_REQUIRE_CUDA();
  check_matmul(ct::randn({9}, 16), ct::randn({9}, 17), 18);
  check_matmul(ct::randn({9}, 19), ct::randn({2, 9, 5}, 20), 21);
  check_matmul(ct::randn({4, 6, 9}, 22), ct::randn({9}, 23), 24);
}

TEST(CudaLinalg, Bmm) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both a = both(ct::randn({5, 11, 7}, 25), dtype), b = both(ct::randn({5, 13, 7}, 26), dtype);
    const Tensor want = ops::bmm(a.cpu, b.cpu.transpose(1, 2));
    poison(want.shape(), dtype);
    EXPECT_TRUE(close(ops::bmm(a.dev, b.dev.transpose(1, 2)), want, tol(dtype)));
  }
}

TEST(CudaLinalg, LinearForwardAndBackward) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both x = both(ct::noncontiguous(ct::randn({3, 7, 19}, 27)), dtype);
    const Both w = both(ct::randn({23, 19}, 28), dtype), bias = both(ct::randn({23}, 29), dtype);
    for (bool with_bias : {true, false}) {
      SCOPED_TRACE(with_bias ? "bias" : "no bias");
      const Tensor want = ops::linear(x.cpu, w.cpu, with_bias ? bias.cpu : Tensor());
      poison(want.shape(), dtype);
      EXPECT_TRUE(close(ops::linear(x.dev, w.dev, with_bias ? bias.dev : Tensor()), want, tol(dtype)));
    }
    const Both g = both(ct::randn({3, 7, 23}, 30), dtype);
    const ops::LinearGrads wg = ops::linear_backward(g.cpu, x.cpu, w.cpu, true, true, true);
    poison({23, 19}, dtype);
    const ops::LinearGrads gg = ops::linear_backward(g.dev, x.dev, w.dev, true, true, true);
    EXPECT_TRUE(close(gg.input, wg.input, tol(dtype)));
    EXPECT_TRUE(close(gg.weight, wg.weight, tol(dtype)));
    EXPECT_TRUE(close(gg.bias, wg.bias, tol(dtype)));
  }
}

TEST(CudaLinalg, EmptyInnerDimGivesZerosAndBias) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor a = Tensor::empty({3, 0}, DType::f32, Device::cuda(0));
  const Tensor b = Tensor::empty({0, 4}, DType::f32, Device::cuda(0));
  EXPECT_EQ(ops::matmul(a, b).to_vector(), std::vector<double>(12, 0.0));
  const Tensor bias = Tensor::full({4}, 2.5, DType::f32, Device::cuda(0));
  EXPECT_EQ(ops::linear(a, b.transpose(0, 1), bias).to_vector(), std::vector<double>(12, 2.5));
}

namespace {

const ops::LinearAct kActs[] = {ops::LinearAct::none, ops::LinearAct::relu, ops::LinearAct::gelu,
                                ops::LinearAct::gelu_tanh};

// cuBLASLt does not document the accuracy of its GELU epilogue, which may use
// the hardware tanh approximation (relative error 2^-11); in fp32 that, not
// the GEMM, bounds the tanh-GELU's error. Every other case keeps tol().
double act_tol(DType d, ops::LinearAct act) {
  return d == DType::f32 && act == ops::LinearAct::gelu_tanh ? 1e-3 : tol(d);
}

}  // namespace

TEST(CudaLinalg, LinearActEpilogues) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both x = both(ct::randn({3, 41, 64}, 31), dtype);
    const Both w = both(ct::randn({48, 64}, 32), dtype), bias = both(ct::randn({49}, 33), dtype);
    // A bias at an element offset is not 16-byte aligned: the GEMM + bias fallback.
    const Tensor bias_dev[] = {bias.dev.narrow(0, 0, 48), bias.dev.narrow(0, 1, 48), Tensor()};
    const Tensor bias_cpu[] = {bias.cpu.narrow(0, 0, 48), bias.cpu.narrow(0, 1, 48), Tensor()};
    // The contiguous input takes cuBLASLt; the strided one the fallback.
    const Tensor x_dev[] = {x.dev, ct::noncontiguous(x.dev)};
    for (ops::LinearAct act : kActs) {
      for (int b = 0; b < 3; ++b) {
        for (const Tensor& xd : x_dev) {
          SCOPED_TRACE(::testing::Message() << "act " << static_cast<int>(act) << ", bias " << b << ", contiguous "
                                            << xd.is_contiguous());
          const Tensor want = ops::linear_act(x.cpu, w.cpu, bias_cpu[b], act);
          poison(want.shape(), dtype);
          EXPECT_TRUE(close(ops::linear_act(xd, w.dev, bias_dev[b], act), want, act_tol(dtype, act)));
        }
      }
    }
  }
}

TEST(CudaLinalg, LinearActBackward) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both x = both(ct::randn({5, 37, 24}, 34), dtype), w = both(ct::randn({40, 24}, 35), dtype),
               bias = both(ct::randn({40}, 36), dtype), g = both(ct::randn({5, 37, 40}, 37), dtype);
    for (ops::LinearAct act : kActs) {
      SCOPED_TRACE(static_cast<int>(act));
      const auto run = [&](const Tensor& xv, const Tensor& wv, const Tensor& bv, const Tensor& gv) {
        std::vector<Tensor> leaves = {xv.detach(), wv.detach(), bv.detach()};
        for (Tensor& l : leaves) l.set_requires_grad(true);
        const Tensor out = fn::linear_act(leaves[0], leaves[1], leaves[2], act);
        cudaseg::autograd::backward(out, gv);
        return std::vector<Tensor>{out, leaves[0].grad(), leaves[1].grad(), leaves[2].grad()};
      };
      const std::vector<Tensor> want = run(x.cpu, w.cpu, bias.cpu, g.cpu);
      poison(want[0].shape(), dtype);
      const std::vector<Tensor> got = run(x.dev, w.dev, bias.dev, g.dev);
      for (size_t i = 0; i < want.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_TRUE(close(got[i], want[i], act_tol(dtype, act)));
      }
    }
  }
}
