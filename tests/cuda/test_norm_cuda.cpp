// The CUDA normalisations against the CPU reference kernels: the same values
// (rounded to the tested dtype) go through the CUDA op in that dtype and the
// CPU op in float64; forward, backward and the running-stat update, on odd
// shapes and non-contiguous views, with rows short enough for a warp, long
// enough for a block, and strided (NCHW channel rows, thread per pixel).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/cuda_compare.h"
#include "common/cuda_skip.h"
#include "common/testing.h"
#include "ops/norm.h"

namespace {

namespace ct = cudaseg::testing;
namespace ops = cudaseg::ops;
using cudaseg::Device;
using cudaseg::DType;
using cudaseg::Shape;
using cudaseg::Tensor;

const DType kTypes[] = {DType::f32, DType::f16, DType::bf16, DType::f64};

using cudaseg::testing::cuda::expect_close;
using cudaseg::testing::cuda::Input;
using cudaseg::testing::cuda::poison;
using cudaseg::testing::cuda::random_input;

void expect_grads_close(const ops::NormGrads& got, const ops::NormGrads& want, DType dtype,
                        const std::string& what) {
  expect_close(got.input, want.input, dtype, what + " grad input");
  expect_close(got.weight, want.weight, dtype, what + " grad weight");
  expect_close(got.bias, want.bias, dtype, what + " grad bias");
}

struct BatchCase {
  Shape shape;
  bool strided, affine;
};
// [N, C] for BatchNorm1d, long channels that split into many partial blocks, odd sizes.
const BatchCase kBatchCases[] = {
    {{5, 7, 9, 11}, true, true}, {{3, 37, 33}, false, false}, {{2, 3, 130, 70}, false, true}, {{64, 19}, true, true}};

TEST(CudaNorm, BatchNormTrainingMatchesCpuAndUpdatesRunningStats) {
  CUDASEG_REQUIRE_CUDA();
  for (const BatchCase& bc : kBatchCases) {
    const int64_t C = bc.shape[1];
    for (DType dtype : kTypes) {
      const std::string what = "batch_norm " + cudaseg::shape_str(bc.shape);
      const Input x = random_input(bc.shape, 1, dtype, bc.strided, 2.0, 0.5);
      const Input w = random_input({C}, 2, dtype), b = random_input({C}, 3, dtype);
      const Input rm = random_input({C}, 4, dtype), rv = random_input({C}, 5, dtype, false, 0.2, 1.0);
      const Tensor rm_gpu = rm.gpu.clone(), rv_gpu = rv.gpu.clone(), rm_cpu = rm.cpu.clone(),
                   rv_cpu = rv.cpu.clone();
      poison(bc.shape, dtype);
      const Tensor got = ops::batch_norm(x.gpu, rm_gpu, rv_gpu, bc.affine ? w.gpu : Tensor(),
                                         bc.affine ? b.gpu : Tensor(), true, 0.1, 1e-5);
      const Tensor want = ops::batch_norm(x.cpu, rm_cpu, rv_cpu, bc.affine ? w.cpu : Tensor(),
                                          bc.affine ? b.cpu : Tensor(), true, 0.1, 1e-5);
      expect_close(got, want, dtype, what);
      expect_close(rm_gpu, rm_cpu, dtype, what + " running_mean");
      expect_close(rv_gpu, rv_cpu, dtype, what + " running_var");
    }
  }
}

TEST(CudaNorm, BatchNormTrainingWithoutRunningStatsAndEval) {
  CUDASEG_REQUIRE_CUDA();
  const Shape shape{4, 6, 7, 5};
  for (DType dtype : kTypes) {
    const Input x = random_input(shape, 6, dtype, true);
    const Input w = random_input({6}, 7, dtype), b = random_input({6}, 8, dtype);
    const Input rm = random_input({6}, 9, dtype), rv = random_input({6}, 10, dtype, false, 0.2, 1.0);
    poison(shape, dtype);
    expect_close(ops::batch_norm(x.gpu, Tensor(), Tensor(), w.gpu, b.gpu, true),
                 ops::batch_norm(x.cpu, Tensor(), Tensor(), w.cpu, b.cpu, true), dtype, "batch_norm no stats");
    poison(shape, dtype);
    expect_close(ops::batch_norm(x.gpu, rm.gpu, rv.gpu, w.gpu, b.gpu, false),
                 ops::batch_norm(x.cpu, rm.cpu, rv.cpu, w.cpu, b.cpu, false), dtype, "batch_norm eval");
    // Evaluation leaves the running stats alone.
    expect_close(rm.gpu, rm.cpu, dtype, "batch_norm eval running_mean");
  }
}

TEST(CudaNorm, BatchNormBackwardMatchesCpu) {
  CUDASEG_REQUIRE_CUDA();
  for (const BatchCase& bc : kBatchCases) {
    const int64_t C = bc.shape[1];
    for (bool training : {true, false}) {
      for (DType dtype : kTypes) {
        const std::string what = std::string("batch_norm_backward ") + (training ? "train " : "eval ") +
                                 cudaseg::shape_str(bc.shape);
        const Input x = random_input(bc.shape, 11, dtype, false, 1.5, -0.3);
        const Input g = random_input(bc.shape, 12, dtype, bc.strided);
        const Input w = random_input({C}, 13, dtype);
        const Input rm = random_input({C}, 14, dtype), rv = random_input({C}, 15, dtype, false, 0.2, 1.0);
        const Tensor wg = bc.affine ? w.gpu : Tensor(), wc = bc.affine ? w.cpu : Tensor();
        poison(bc.shape, dtype);
        poison({C}, dtype);
        expect_grads_close(ops::batch_norm_backward(g.gpu, x.gpu, rm.gpu, rv.gpu, wg, training, 1e-5),
                           ops::batch_norm_backward(g.cpu, x.cpu, rm.cpu, rv.cpu, wc, training, 1e-5), dtype, what);
        // Only the parameter gradients, only the input's.
        expect_grads_close(
            ops::batch_norm_backward(g.gpu, x.gpu, rm.gpu, rv.gpu, wg, training, 1e-5, {false, true, true}),
            ops::batch_norm_backward(g.cpu, x.cpu, rm.cpu, rv.cpu, wc, training, 1e-5, {false, true, true}), dtype,
            what + " params only");
        expect_grads_close(
            ops::batch_norm_backward(g.gpu, x.gpu, rm.gpu, rv.gpu, wg, training, 1e-5, {true, false, false}),
            ops::batch_norm_backward(g.cpu, x.cpu, rm.cpu, rv.cpu, wc, training, 1e-5, {true, false, false}),
            dtype, what + " input only");
      }
    }
  }
}

TEST(CudaNorm, BatchNormIsDeterministic) {
  CUDASEG_REQUIRE_CUDA();
  const Input x = random_input({3, 5, 111, 97}, 16, DType::f32);
  const Input g = random_input({3, 5, 111, 97}, 17, DType::f32);
  const ops::NormGrads a = ops::batch_norm_backward(g.gpu, x.gpu, Tensor(), Tensor(), Tensor(), true, 1e-5);
  const ops::NormGrads b = ops::batch_norm_backward(g.gpu, x.gpu, Tensor(), Tensor(), Tensor(), true, 1e-5);
  EXPECT_EQ(a.input.to_vector(), b.input.to_vector());
  EXPECT_EQ(a.bias.to_vector(), b.bias.to_vector());
}

struct LayerCase {
  Shape shape, normalized;
  bool strided;
};
// A warp per row, several dims normalised, and a row long enough for a block.
const LayerCase kLayerCases[] = {
    {{6, 13, 40}, {40}, true}, {{3, 5, 7, 9}, {7, 9}, false}, {{4, 3000}, {3000}, true}, {{37}, {37}, false}};

TEST(CudaNorm, LayerNormForwardAndBackwardMatchCpu) {
  CUDASEG_REQUIRE_CUDA();
  for (const LayerCase& lc : kLayerCases) {
    for (DType dtype : kTypes) {
      const std::string what = "layer_norm " + cudaseg::shape_str(lc.shape);
      const Input x = random_input(lc.shape, 20, dtype, lc.strided, 3.0, 1.0);
      const Input g = random_input(lc.shape, 21, dtype, lc.strided);
      const Input w = random_input(lc.normalized, 22, dtype), b = random_input(lc.normalized, 23, dtype);
      poison(lc.shape, dtype);
      expect_close(ops::layer_norm(x.gpu, lc.normalized, w.gpu, b.gpu, 1e-5),
                   ops::layer_norm(x.cpu, lc.normalized, w.cpu, b.cpu, 1e-5), dtype, what);
      poison(lc.shape, dtype);
      poison(lc.normalized, dtype);
      expect_grads_close(ops::layer_norm_backward(g.gpu, x.gpu, lc.normalized, w.gpu, 1e-5),
                         ops::layer_norm_backward(g.cpu, x.cpu, lc.normalized, w.cpu, 1e-5), dtype, what);
      expect_grads_close(ops::layer_norm_backward(g.gpu, x.gpu, lc.normalized, Tensor(), 1e-5),
                         ops::layer_norm_backward(g.cpu, x.cpu, lc.normalized, Tensor(), 1e-5), dtype,
                         what + " without weight");
    }
  }
}

TEST(CudaNorm, LayerNormChannelsForwardAndBackwardMatchCpu) {
  CUDASEG_REQUIRE_CUDA();
  for (const Shape& shape : {Shape{3, 19, 9, 13}, Shape{2, 5, 7}, Shape{2, 1100, 3, 1}}) {
    const int64_t C = shape[1];
    for (DType dtype : kTypes) {
      const std::string what = "layer_norm_channels " + cudaseg::shape_str(shape);
      const Input x = random_input(shape, 30, dtype, true, 2.0, -1.0);
      const Input g = random_input(shape, 31, dtype, true);
      const Input w = random_input({C}, 32, dtype), b = random_input({C}, 33, dtype);
      poison(shape, dtype);
      expect_close(ops::layer_norm_channels(x.gpu, w.gpu, b.gpu, 1e-6),
                   ops::layer_norm_channels(x.cpu, w.cpu, b.cpu, 1e-6), dtype, what);
      poison(shape, dtype);
      poison({C}, dtype);
      expect_grads_close(ops::layer_norm_channels_backward(g.gpu, x.gpu, w.gpu, 1e-6),
                         ops::layer_norm_channels_backward(g.cpu, x.cpu, w.cpu, 1e-6), dtype, what);
    }
  }
}

TEST(CudaNorm, GroupNormForwardAndBackwardMatchCpu) {
  CUDASEG_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    int64_t groups;
  };
  for (const Case& gc : {Case{{3, 12, 9, 11}, 4}, Case{{2, 6, 5}, 3}, Case{{2, 8, 40, 40}, 2}, Case{{5, 7}, 7}}) {
    const int64_t C = gc.shape[1];
    for (DType dtype : kTypes) {
      const std::string what = "group_norm " + cudaseg::shape_str(gc.shape) + " groups " +
                               std::to_string(gc.groups);
      const Input x = random_input(gc.shape, 40, dtype, true, 1.0, 2.0);
      const Input g = random_input(gc.shape, 41, dtype);
      const Input w = random_input({C}, 42, dtype), b = random_input({C}, 43, dtype);
      poison(gc.shape, dtype);
      expect_close(ops::group_norm(x.gpu, gc.groups, w.gpu, b.gpu), ops::group_norm(x.cpu, gc.groups, w.cpu, b.cpu),
                   dtype, what);
      poison(gc.shape, dtype);
      poison({C}, dtype);
      expect_grads_close(ops::group_norm_backward(g.gpu, x.gpu, gc.groups, w.gpu, 1e-5),
                         ops::group_norm_backward(g.cpu, x.cpu, gc.groups, w.cpu, 1e-5), dtype, what);
    }
  }
}

TEST(CudaNorm, NormalizeForwardAndBackwardMatchCpu) {
  CUDASEG_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    double p;
    int64_t dim;
  };
  for (const Case& nc : {Case{{3, 7, 5, 6}, 2.0, 1}, Case{{4, 50}, 1.0, -1}, Case{{9, 5}, 3.0, 0},
                         Case{{2, 2000}, 2.0, -1}, Case{{3, 4, 6}, 1.5, 2}}) {
    for (DType dtype : kTypes) {
      const std::string what = "normalize " + cudaseg::shape_str(nc.shape) + " p " + std::to_string(nc.p);
      const Input x = random_input(nc.shape, 50, dtype, true);
      const Input g = random_input(nc.shape, 51, dtype, true);
      poison(nc.shape, dtype);
      expect_close(ops::normalize(x.gpu, nc.p, nc.dim), ops::normalize(x.cpu, nc.p, nc.dim), dtype, what);
      poison(nc.shape, dtype);
      expect_close(ops::normalize_backward(g.gpu, x.gpu, nc.p, nc.dim),
                   ops::normalize_backward(g.cpu, x.cpu, nc.p, nc.dim), dtype, what + " backward");
    }
  }
  // Rows whose norm is below eps take the clamped branch.
  const Input tiny = random_input({4, 6}, 52, DType::f32, false, 1e-14);
  const Input g = random_input({4, 6}, 53, DType::f32);
  expect_close(ops::normalize_backward(g.gpu, tiny.gpu, 2.0, 1, 1e-12),
               ops::normalize_backward(g.cpu, tiny.cpu, 2.0, 1, 1e-12), DType::f32, "normalize below eps");
}

}  // namespace
