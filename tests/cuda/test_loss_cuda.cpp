// The losses on CUDA against the CPU kernels (float64 on the same rounded
// values), forward and backward, in every floating dtype; their reductions
// must also be bitwise reproducible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/cuda_skip.h"
#include "common/testing.h"
#include "ops/kernels/loss.h"
#include "ops/loss.h"

namespace ct = cudaseg::testing;
using cudaseg::Device;
using cudaseg::DType;
using cudaseg::Shape;
using cudaseg::Tensor;
namespace ops = cudaseg::ops;
using ops::Reduction;

namespace {

const DType kDtypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16};

// Relative L2 bounds. fp32: the kernels compute in fp32 and reduce in fp64,
// so only rounding order differs from the CPU. fp16 / bf16: inputs and
// outputs carry 11 / 8-bit mantissas (unit roundoff 4.9e-4 / 3.9e-3) and
// everything in between is fp32 (reductions fp64), so the error is a few
// units of roundoff of the outputs.
double tol(DType d) {
  switch (d) {
    case DType::f32: return 1e-5;
    case DType::f64: return 1e-12;
    case DType::f16: return 1e-2;
    default: return 2e-2;
  }
}

struct Both {
  Tensor dev, cpu;
};
Both both(const Tensor& x, DType dtype) {
  const Tensor r = x.to(dtype);
  return {r.to(Device::cuda(0)), r.to(DType::f64)};
}
Both both_exact(const Tensor& x) { return {x.to(Device::cuda(0)), x}; }  // int64 targets

// The next device allocations of `shape` come from NaN-filled cached blocks.
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
  const double err = ct::rel_l2(got.to(Device::cpu()).to(DType::f64), want.to(DType::f64));
  if (err <= bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "relative L2 error " << err << " > " << bound << " for " << got.str();
}

Tensor class_targets(const Shape& shape, int64_t classes, uint64_t seed, int64_t ignore, int ignore_every) {
  std::vector<double> t = ct::uniform(shape, 0, static_cast<double>(classes), seed).to_vector();
  for (size_t i = 0; i < t.size(); ++i) {
    t[i] = std::min<double>(std::floor(t[i]), static_cast<double>(classes - 1));
    if (ignore_every > 0 && i % ignore_every == 3) t[i] = static_cast<double>(ignore);
  }
  return Tensor::from_vector(t, shape, DType::i64);
}

const Reduction kReductions[] = {Reduction::none, Reduction::mean, Reduction::sum};

// dL/dloss for a loss of shape `shape`.
Both upstream(const Tensor& loss, DType dtype, uint64_t seed) { return both(ct::randn(loss.shape(), seed), dtype); }

}  // namespace

TEST(CudaLoss, CrossEntropyWeightsIgnoreAndReductions) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both x = both(ct::noncontiguous(ct::randn({2, 19, 7, 13}, 1)), dtype);
    const Both t = both_exact(class_targets({2, 7, 13}, 19, 2, 255, 5));
    const Both w = both(ct::uniform({19}, 0.5, 2.0, 3), dtype);
    for (Reduction r : kReductions) {
      SCOPED_TRACE(ops::reduction_name(r));
      ops::CrossEntropyOptions oc, od;
      oc.weight = w.cpu, od.weight = w.dev;
      oc.ignore_index = od.ignore_index = 255;
      oc.reduction = od.reduction = r;
      const ops::CrossEntropyForward want = ops::cross_entropy_forward(x.cpu, t.cpu, oc);
      poison(x.cpu.shape(), dtype);
      const ops::CrossEntropyForward got = ops::cross_entropy_forward(x.dev, t.dev, od);
      EXPECT_TRUE(close(got.loss, want.loss, tol(dtype)));
      EXPECT_TRUE(close(got.log_probs, want.log_probs, tol(dtype)));
      EXPECT_NEAR(got.total_weight, want.total_weight, 1e-5 * want.total_weight);

      const Both g = upstream(want.loss, dtype, 4);
      poison(x.cpu.shape(), dtype);
      EXPECT_TRUE(close(ops::cross_entropy_backward(g.dev, got.log_probs, t.dev, od, got.total_weight),
                        ops::cross_entropy_backward(g.cpu, want.log_probs, t.cpu, oc, want.total_weight), tol(dtype)));
    }
  }
}

TEST(CudaLoss, CrossEntropyClassificationLayout) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both x = both(ct::randn({33, 10}, 5), dtype);
    const Both t = both_exact(class_targets({33}, 10, 6, -100, 7));
    EXPECT_TRUE(close(ops::cross_entropy(x.dev, t.dev), ops::cross_entropy(x.cpu, t.cpu), tol(dtype)));
  }
}

TEST(CudaLoss, CrossEntropyRejectsBadTargets) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor x = ct::randn({2, 3, 4}, 7, DType::f32).to(Device::cuda(0));
  std::vector<double> t(8, 1.0);
  t[5] = 3;
  const Tensor target = Tensor::from_vector(t, {2, 4}, DType::i64).to(Device::cuda(0));
  EXPECT_TRUE(ct::throws_mentioning([&] { ops::cross_entropy(x, target); },
                                    {"cross_entropy", "target value 3", "3 classes"}));
}

// OHEM: the per-position losses are cross entropy (checked above); the
// selection is checked against the CPU's on the very losses the device
// computed, in a dtype that holds them exactly, so ties and the threshold
// compare the same values. The 16-bit dtypes compare with the threshold
// rounded to them, so they use exp(-1.5), whose -log (1.5) every dtype holds.
TEST(CudaLoss, OhemHardPositionsAndTopKFallback) {
  CUDASEG_REQUIRE_CUDA();
  struct Setting {
    double thresh;
    int64_t min_kept;
  };
  // Hard positions only; the top-k fallback; the fallback reaching the
  // ignored positions' tied zero losses; every position.
  const Setting settings[] = {{std::exp(-1.5), -1}, {std::exp(-1.5), 400}, {std::exp(-1.5), 700},
                              {std::exp(-1.5), 1500}, {0.7, -1}};
  const Tensor targets = class_targets({2, 17, 23}, 5, 9, 255, 4);
  const std::vector<double> tv = targets.to_vector();
  const int64_t valid = std::count_if(tv.begin(), tv.end(), [](double v) { return v != 255; });
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const bool half = dtype == DType::f16 || dtype == DType::bf16;
    const Both x = both(ct::randn({2, 5, 17, 23}, 8), dtype);
    const Both t = both_exact(targets);
    for (const Setting& s : settings) {
      if (half && s.thresh == 0.7) continue;
      SCOPED_TRACE(s.min_kept);
      ops::OhemOptions o;
      o.thresh = s.thresh;
      o.min_kept = s.min_kept;
      poison({2, 17, 23}, dtype);
      const ops::OhemForward got = ops::ohem_cross_entropy_forward(x.dev, t.dev, o);

      ops::CrossEntropyOptions none;
      none.ignore_index = 255;
      none.reduction = Reduction::none;
      const DType exact = dtype == DType::f64 ? DType::f64 : DType::f32;
      const Tensor losses = ops::cross_entropy(x.dev, t.dev, none).to(Device::cpu()).to(exact).reshape({-1});
      const int64_t n_min = std::min<int64_t>(losses.numel(), s.min_kept >= 0 ? s.min_kept : valid / 16);
      Tensor scale = Tensor::empty({losses.numel()}, exact);
      double mean = 0;
      const int64_t kept =
          ops::kernels::ohem_select(Device::cpu(), losses, -std::log(s.thresh), n_min, scale, &mean);
      EXPECT_EQ(got.kept, kept);
      EXPECT_TRUE(close(got.loss, Tensor::from_vector({mean}, {}, DType::f64), tol(dtype)));
      const std::vector<double> gs = got.kept_scale.to(Device::cpu()).to_vector(), ws = scale.to_vector();
      for (size_t i = 0; i < ws.size(); ++i) EXPECT_EQ(gs[i] > 0, ws[i] > 0) << "position " << i;
      EXPECT_TRUE(close(got.kept_scale.reshape({-1}), scale, tol(dtype)));

      // Backward: the CPU's with the device's selection.
      ops::OhemForward ref;
      ops::CrossEntropyOptions plain;
      plain.ignore_index = 255;
      ref.log_probs = ops::cross_entropy_forward(x.cpu, t.cpu, plain).log_probs;
      ref.kept_scale = got.kept_scale.to(Device::cpu()).to(DType::f64);
      ref.kept = got.kept;
      const Both g = both(Tensor::from_vector({0.75}, {}), dtype);
      poison(x.cpu.shape(), dtype);
      EXPECT_TRUE(close(ops::ohem_cross_entropy_backward(g.dev, got, t.dev, 255),
                        ops::ohem_cross_entropy_backward(g.cpu, ref, t.cpu, 255), tol(dtype)));
    }
  }
}

TEST(CudaLoss, KdLoss) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both s = both(ct::randn({2, 19, 9, 11}, 10), dtype), t = both(ct::randn({2, 19, 9, 11}, 11), dtype);
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::batchmean}) {
      SCOPED_TRACE(ops::reduction_name(r));
      const ops::KDForward want = ops::kd_loss_forward(s.cpu, t.cpu, 4.0, r);
      poison(s.cpu.shape(), dtype);
      const ops::KDForward got = ops::kd_loss_forward(s.dev, t.dev, 4.0, r);
      EXPECT_TRUE(close(got.loss, want.loss, tol(dtype)));
      EXPECT_TRUE(close(got.prob_diff, want.prob_diff, tol(dtype)));
      const Both g = both(Tensor::from_vector({1.25}, {}), dtype);
      poison(s.cpu.shape(), dtype);
      EXPECT_TRUE(close(ops::kd_loss_backward(g.dev, got), ops::kd_loss_backward(g.cpu, want), tol(dtype)));
    }
  }
}

TEST(CudaLoss, BinaryCrossEntropyWithLogits) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both x = both(ct::noncontiguous(ct::randn({3, 4, 5, 7}, 12)), dtype);
    const Both y = both(ct::uniform({3, 4, 5, 7}, 0, 1, 13), dtype);
    const Both w = both(ct::uniform({4, 1, 1}, 0.5, 2, 14), dtype);
    const Both pw = both(ct::uniform({4, 1, 1}, 0.5, 3, 15), dtype);
    for (Reduction r : kReductions) {
      for (bool weighted : {false, true}) {
        SCOPED_TRACE(std::string(ops::reduction_name(r)) + (weighted ? " weighted" : ""));
        ops::BCEWithLogitsOptions oc, od;
        oc.reduction = od.reduction = r;
        if (weighted) oc.weight = w.cpu, oc.pos_weight = pw.cpu, od.weight = w.dev, od.pos_weight = pw.dev;
        const Tensor want = ops::binary_cross_entropy_with_logits(x.cpu, y.cpu, oc);
        poison(want.shape(), dtype);
        EXPECT_TRUE(close(ops::binary_cross_entropy_with_logits(x.dev, y.dev, od), want, tol(dtype)));
        const Both g = upstream(want, dtype, 16);
        const ops::LossGrads wg = ops::binary_cross_entropy_with_logits_backward(g.cpu, x.cpu, y.cpu, oc, true, true);
        poison(x.cpu.shape(), dtype);
        const ops::LossGrads gg = ops::binary_cross_entropy_with_logits_backward(g.dev, x.dev, y.dev, od, true, true);
        EXPECT_TRUE(close(gg.input, wg.input, tol(dtype)));
        EXPECT_TRUE(close(gg.target, wg.target, tol(dtype)));
      }
    }
  }
}

TEST(CudaLoss, Dice) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    // Sample sizes that span several reduction chunks.
    const Both x = both(ct::uniform({3, 1, 101, 97}, 0, 1, 17), dtype);
    const Both y = both(ct::uniform({3, 1, 101, 97}, 0, 1, 18), dtype);
    for (Reduction r : kReductions) {
      for (bool sigmoid : {false, true}) {
        SCOPED_TRACE(std::string(ops::reduction_name(r)) + (sigmoid ? " sigmoid" : ""));
        ops::DiceOptions o;
        o.reduction = r;
        o.apply_sigmoid = sigmoid;
        const Tensor want = ops::dice_loss(x.cpu, y.cpu, o);
        poison(want.shape(), dtype);
        EXPECT_TRUE(close(ops::dice_loss(x.dev, y.dev, o), want, tol(dtype)));
        const Both g = upstream(want, dtype, 19);
        const ops::LossGrads wg = ops::dice_loss_backward(g.cpu, x.cpu, y.cpu, o, true, true);
        poison(x.cpu.shape(), dtype);
        const ops::LossGrads gg = ops::dice_loss_backward(g.dev, x.dev, y.dev, o, true, true);
        EXPECT_TRUE(close(gg.input, wg.input, tol(dtype)));
        EXPECT_TRUE(close(gg.target, wg.target, tol(dtype)));
      }
    }
  }
}

TEST(CudaLoss, RegressionAndKlDiv) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both x = both(ct::noncontiguous(ct::randn({4, 3, 11, 9}, 20)), dtype);
    const Both t = both(ct::randn({4, 3, 11, 9}, 21), dtype);
    const Both logp = both(ct::uniform({4, 3, 11, 9}, -4, -0.1, 22), dtype);
    const Both prob = both(ct::uniform({4, 3, 11, 9}, 0.01, 1, 23), dtype);
    for (Reduction r : {Reduction::none, Reduction::mean, Reduction::sum, Reduction::batchmean}) {
      SCOPED_TRACE(ops::reduction_name(r));
      const auto check = [&](const Tensor& want, const Tensor& got) {
        EXPECT_TRUE(close(got, want, tol(dtype)));
      };
      const auto check_grads = [&](const ops::LossGrads& want, const ops::LossGrads& got) {
        EXPECT_TRUE(close(got.input, want.input, tol(dtype)));
        EXPECT_TRUE(close(got.target, want.target, tol(dtype)));
      };
      const Shape out_shape = r == Reduction::none ? x.cpu.shape() : Shape{};
      const Both g = both(ct::randn(out_shape, 24), dtype);
      for (bool log_target : {false, true}) {
        const Both& tt = log_target ? logp : prob;
        poison(out_shape, dtype);
        check(ops::kl_div(logp.cpu, tt.cpu, r, log_target), ops::kl_div(logp.dev, tt.dev, r, log_target));
        poison(x.cpu.shape(), dtype);
        check_grads(ops::kl_div_backward(g.cpu, logp.cpu, tt.cpu, r, log_target, true, true),
                    ops::kl_div_backward(g.dev, logp.dev, tt.dev, r, log_target, true, true));
      }
      if (r == Reduction::batchmean) continue;  // kl_div and kd_loss only
      poison(out_shape, dtype);
      check(ops::mse_loss(x.cpu, t.cpu, r), ops::mse_loss(x.dev, t.dev, r));
      check(ops::l1_loss(x.cpu, t.cpu, r), ops::l1_loss(x.dev, t.dev, r));
      for (double beta : {1.0, 0.0}) {
        poison(out_shape, dtype);
        check(ops::smooth_l1_loss(x.cpu, t.cpu, r, beta), ops::smooth_l1_loss(x.dev, t.dev, r, beta));
      }
      for (auto kind : {ops::RegressionLoss::mse, ops::RegressionLoss::l1, ops::RegressionLoss::smooth_l1}) {
        poison(x.cpu.shape(), dtype);
        check_grads(ops::regression_loss_backward(kind, g.cpu, x.cpu, t.cpu, r, 0.5, true, true),
                    ops::regression_loss_backward(kind, g.dev, x.dev, t.dev, r, 0.5, true, true));
      }
    }
  }
}

TEST(CudaLoss, ReductionsAreReproducible) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor x = ct::randn({4, 19, 256, 255}, 25, DType::f32).to(Device::cuda(0));
  const Tensor t = class_targets({4, 256, 255}, 19, 26, 255, 11).to(Device::cuda(0));
  ops::CrossEntropyOptions o;
  o.ignore_index = 255;
  const double first = ops::cross_entropy(x, t, o).item();
  const double dice_first = ops::dice_loss(x, x).item();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ops::cross_entropy(x, t, o).item(), first);
    EXPECT_EQ(ops::dice_loss(x, x).item(), dice_first);
  }
}
