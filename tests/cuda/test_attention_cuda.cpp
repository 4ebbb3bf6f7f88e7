// Scaled dot-product attention on CUDA against the CPU kernels (float64 on
// the same rounded values), in every floating dtype: the fused forward, the
// materialised forward and backward (head dims above 128), and the training
// path through autograd (the fused forward keeping the row logsumexp and the
// fused backward recomputing the probabilities).
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <vector>

#include "common/cuda_skip.h"
#include "autograd/attention.h"
#include "autograd/engine.h"
#include "common/testing.h"
#include "ops/attention.h"

namespace ct = cudaseg::testing;
using cudaseg::Device;
using cudaseg::DType;
using cudaseg::Shape;
using cudaseg::Tensor;
namespace ops = cudaseg::ops;
namespace fn = cudaseg::fn;

namespace {

const DType kDtypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16};

// Relative L2 bounds. fp32: every kernel accumulates in fp32 (cuBLAS with
// TF32 off), so only summation order differs from the CPU. fp16 / bf16:
// inputs, probabilities and outputs carry 11 / 8-bit mantissas (unit
// roundoff 4.9e-4 / 3.9e-3) with fp32 accumulation, so the error is a few
// units of roundoff.
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

// The next device allocations of `shape` come from NaN-filled cached blocks.
void poison(const Shape& shape, DType dtype) {
  std::vector<Tensor> blocks;
  for (int i = 0; i < 3; ++i) {
    blocks.push_back(Tensor::empty(shape, dtype, Device::cuda(0)));
    blocks.back().fill_(NAN);
  }
}

// Relative L2 over the non-NaN elements, and NaN exactly where expected.
::testing::AssertionResult close(const Tensor& got, const Tensor& want, double bound) {
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure() << "shape " << got.str() << " vs " << want.str();
  const std::vector<double> g = got.to(Device::cpu()).to_vector(), w = want.to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(g[i]) != std::isnan(w[i]))
      return ::testing::AssertionFailure() << "element " << i << ": " << g[i] << " vs " << w[i];
    if (std::isnan(w[i])) continue;
    num += (g[i] - w[i]) * (g[i] - w[i]);
    den += w[i] * w[i];
  }
  const double err = den == 0 ? std::sqrt(num) : std::sqrt(num / den);
  if (err <= bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "relative L2 error " << err << " > " << bound << " for " << got.str();
}

struct Case {
  Shape q, k, v, bias, mask;
  std::optional<double> scale;
};

Tensor mask_of(const Shape& shape, uint64_t seed) {
  const Tensor u = ct::uniform(shape, 0, 1, seed);
  std::vector<double> m = u.to_vector();
  for (double& x : m) x = x < 0.7 ? 1.0 : 0.0;
  return Tensor::from_vector(m, shape, DType::boolean);
}

// Fused forward, materialised forward and backward of one case, all dtypes.
void check(const Case& c, uint64_t seed, bool backward = true) {
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both q = both(ct::randn(c.q, seed), dtype), k = both(ct::randn(c.k, seed + 1), dtype),
               v = both(ct::randn(c.v, seed + 2), dtype);
    const Both bias = c.bias.empty() ? Both{} : both(ct::randn(c.bias, seed + 3), dtype);
    const Tensor mask = c.mask.empty() ? Tensor() : mask_of(c.mask, seed + 4);
    const Tensor mask_dev = mask.defined() ? mask.to(Device::cuda(0)) : Tensor();

    const ops::AttentionForward want = ops::scaled_dot_product_attention_forward(q.cpu, k.cpu, v.cpu, bias.cpu, mask,
                                                                                 c.scale);
    poison(want.out.shape(), dtype);
    EXPECT_TRUE(close(ops::scaled_dot_product_attention(q.dev, k.dev, v.dev, bias.dev, mask_dev, c.scale), want.out,
                      tol(dtype)));
    poison(want.probs.shape(), dtype);
    const ops::AttentionForward got = ops::scaled_dot_product_attention_forward(q.dev, k.dev, v.dev, bias.dev,
                                                                                mask_dev, c.scale);
    EXPECT_TRUE(close(got.out, want.out, tol(dtype)));
    EXPECT_TRUE(close(got.probs, want.probs, tol(dtype)));
    if (!backward) continue;

    const Both g = both(ct::randn(want.out.shape(), seed + 5), dtype);
    ops::AttentionNeeds needs;
    needs.bias = bias.cpu.defined();
    const ops::AttentionGrads wg = ops::scaled_dot_product_attention_backward(
        g.cpu, q.cpu, k.cpu, v.cpu, want.probs, want.scale, c.bias, needs);
    poison(c.q, dtype);
    const ops::AttentionGrads gg = ops::scaled_dot_product_attention_backward(
        g.dev, q.dev, k.dev, v.dev, got.probs, got.scale, c.bias, needs);
    EXPECT_TRUE(close(gg.q, wg.q, tol(dtype)));
    EXPECT_TRUE(close(gg.k, wg.k, tol(dtype)));
    EXPECT_TRUE(close(gg.v, wg.v, tol(dtype)));
    if (needs.bias) {
      EXPECT_TRUE(close(gg.bias, wg.bias, tol(dtype)));
    }
  }
}

// Which inputs require grad on the training path.
struct Wants {
  bool q = true, k = true, v = true, bias = true;
};

Tensor leaf_of(const Tensor& t, bool grad) {
  Tensor l = t.defined() ? t.detach() : t;
  if (grad && l.defined()) l.set_requires_grad(true);
  return l;
}

// fn::scaled_dot_product_attention on CUDA, forward and backward through its
// autograd node, against the CPU's materialised forward and backward.
void check_training(const Case& c, uint64_t seed, Wants wants = {}) {
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both q = both(ct::randn(c.q, seed), dtype), k = both(ct::randn(c.k, seed + 1), dtype),
               v = both(ct::randn(c.v, seed + 2), dtype);
    const Both bias = c.bias.empty() ? Both{} : both(ct::randn(c.bias, seed + 3), dtype);
    const Tensor mask = c.mask.empty() ? Tensor() : mask_of(c.mask, seed + 4);

    const ops::AttentionForward want = ops::scaled_dot_product_attention_forward(q.cpu, k.cpu, v.cpu, bias.cpu, mask,
                                                                                 c.scale);
    const Both g = both(ct::randn(want.out.shape(), seed + 5), dtype);
    ops::AttentionNeeds needs;
    needs.bias = bias.cpu.defined() && wants.bias;
    const ops::AttentionGrads wg = ops::scaled_dot_product_attention_backward(
        g.cpu, q.cpu, k.cpu, v.cpu, want.probs, want.scale, c.bias, needs);

    const Tensor qd = leaf_of(q.dev, wants.q), kd = leaf_of(k.dev, wants.k), vd = leaf_of(v.dev, wants.v);
    const Tensor bd = leaf_of(bias.dev, wants.bias);
    poison(want.out.shape(), dtype);
    const Tensor mask_dev = mask.defined() ? mask.to(Device::cuda(0)) : mask;
    const Tensor out = fn::scaled_dot_product_attention(qd, kd, vd, bd, mask_dev, c.scale);
    ASSERT_TRUE(out.grad_fn());
    EXPECT_STREQ(out.grad_fn()->name(), "ScaledDotProductFusedAttentionBackward");
    EXPECT_TRUE(close(out, want.out, tol(dtype)));
    for (const Shape& s : {want.out.shape(), want.probs.shape(), c.q, c.k, c.v}) poison(s, dtype);
    cudaseg::autograd::backward(out, g.dev);
    const auto grad_matches = [&](bool wanted, const Tensor& leaf, const Tensor& expected) {
      if (!leaf.defined()) return;
      if (wanted) {
        EXPECT_TRUE(close(leaf.grad(), expected, tol(dtype)));
      } else {
        EXPECT_FALSE(leaf.grad().defined());
      }
    };
    grad_matches(wants.q, qd, wg.q);
    grad_matches(wants.k, kd, wg.k);
    grad_matches(wants.v, vd, wg.v);
    grad_matches(needs.bias, bd, wg.bias);
  }
}

}  // namespace

TEST(CudaAttention, OddSizesEachHeadDimTemplate) {
  CUDASEG_REQUIRE_CUDA();
  check({{2, 37, 16}, {2, 45, 16}, {2, 45, 16}, {}, {}, std::nullopt}, 1);    // Dv <= 32
  check({{2, 33, 40}, {2, 70, 40}, {2, 70, 61}, {}, {}, 0.3}, 10);            // Dv <= 64, odd D
  check({{1, 3, 29, 128}, {1, 3, 31, 128}, {1, 3, 31, 128}, {}, {}, std::nullopt}, 20);  // D = 128
}

TEST(CudaAttention, FusedTrainingOddSizesEachHeadDimTemplate) {
  CUDASEG_REQUIRE_CUDA();
  check_training({{2, 37, 16}, {2, 45, 16}, {2, 45, 16}, {}, {}, std::nullopt}, 1);
  check_training({{2, 33, 40}, {2, 70, 40}, {2, 70, 61}, {}, {}, 0.3}, 10);  // odd D, Dv > D
  check_training({{1, 3, 29, 128}, {1, 3, 31, 128}, {1, 3, 31, 128}, {}, {}, std::nullopt}, 20);
  check_training({{2, 70, 64}, {2, 33, 64}, {2, 33, 8}, {}, {}, std::nullopt}, 25);  // Lq > Lk, small Dv
}

TEST(CudaAttention, FusedTrainingOnlySomeInputsNeedGrad) {
  CUDASEG_REQUIRE_CUDA();
  const Case c{{2, 3, 40, 32}, {2, 3, 50, 32}, {2, 3, 50, 32}, {3, 40, 50}, {}, std::nullopt};
  check_training(c, 90, {true, false, false, false});  // dQ alone: the key-side kernel is skipped
  check_training(c, 91, {false, false, true, false});  // dV alone: the query-side kernel is skipped
  check_training(c, 92, {false, false, false, true});  // the bias alone
}

TEST(CudaAttention, SwinWindowsWithBroadcastRelativeBias) {
  CUDASEG_REQUIRE_CUDA();
  // [windows, heads, 49, 32] with a [heads, 49, 49] bias shared by the windows.
  check({{6, 3, 49, 32}, {6, 3, 49, 32}, {6, 3, 49, 32}, {3, 49, 49}, {}, std::nullopt}, 30);
}

TEST(CudaAttention, FusedTrainingSwinWindows) {
  CUDASEG_REQUIRE_CUDA();
  // The bias gradient sums dS over the 6 windows into [heads, 49, 49].
  check_training({{6, 3, 49, 32}, {6, 3, 49, 32}, {6, 3, 49, 32}, {3, 49, 49}, {}, std::nullopt}, 31);
  // Shifted windows: a [windows, 1, 49, 49] mask broadcast over the heads.
  check_training({{4, 3, 49, 32}, {4, 3, 49, 32}, {4, 3, 49, 32}, {3, 49, 49}, {4, 1, 49, 49}, std::nullopt}, 32);
}

TEST(CudaAttention, SegFormerSpatialReduction) {
  CUDASEG_REQUIRE_CUDA();
  // Lq = 16384 queries against 256 reduced keys, D = 32, one head.
  check({{1, 1, 16384, 32}, {1, 1, 256, 32}, {1, 1, 256, 32}, {}, {}, std::nullopt}, 40, false);
  check({{1, 1, 1000, 32}, {1, 1, 256, 32}, {1, 1, 256, 32}, {}, {}, std::nullopt}, 41);
}

TEST(CudaAttention, FusedTrainingSegFormerSpatialReduction) {
  CUDASEG_REQUIRE_CUDA();
  // SegFormer-B0 stage 1 has 16384 queries; 4096 keeps the CPU reference quick
  // while the dK / dV kernel still splits the queries over many blocks.
  check_training({{1, 1, 4096, 32}, {1, 1, 256, 32}, {1, 1, 256, 32}, {}, {}, std::nullopt}, 42);
  check_training({{2, 2, 1000, 32}, {2, 2, 64, 32}, {2, 2, 64, 32}, {}, {}, std::nullopt}, 43);
}

TEST(CudaAttention, BroadcastBatchesBiasAndMask) {
  CUDASEG_REQUIRE_CUDA();
  // PP-MobileSeg / EfficientFormerV2-like lengths; q batch broadcasts over k's heads.
  check({{2, 1, 130, 24}, {1, 4, 97, 24}, {2, 4, 97, 24}, {4, 1, 97}, {2, 1, 130, 97}, std::nullopt}, 50);
  check_training({{2, 1, 130, 24}, {1, 4, 97, 24}, {2, 4, 97, 24}, {4, 1, 97}, {2, 1, 130, 97}, std::nullopt}, 51);
}

TEST(CudaAttention, NonContiguousViews) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    // [B, L, heads, D] permuted to [B, heads, L, D], as a projection's heads are split.
    const Both q = both(ct::randn({2, 19, 3, 20}, 60), dtype), k = both(ct::randn({2, 23, 3, 20}, 61), dtype);
    const Both v = both(ct::noncontiguous(ct::randn({2, 3, 23, 20}, 62)), dtype);
    const Both bias = both(ct::randn({23, 19}, 63), dtype);  // read transposed, through its strides
    const Tensor want = ops::scaled_dot_product_attention(q.cpu.permute({0, 2, 1, 3}), k.cpu.permute({0, 2, 1, 3}),
                                                          v.cpu, bias.cpu.transpose(0, 1));
    poison(want.shape(), dtype);
    EXPECT_TRUE(close(ops::scaled_dot_product_attention(q.dev.permute({0, 2, 1, 3}), k.dev.permute({0, 2, 1, 3}),
                                                        v.dev, bias.dev.transpose(0, 1)),
                      want, tol(dtype)));
  }
}

TEST(CudaAttention, FullyMaskedRowsAreNaN) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both q = both(ct::randn({2, 5, 8}, 70), dtype), k = both(ct::randn({2, 40, 8}, 71), dtype),
               v = both(ct::randn({2, 40, 8}, 72), dtype);
    std::vector<double> m(5 * 40, 1.0);
    for (int j = 0; j < 40; ++j) m[2 * 40 + j] = 0.0;  // row 2 sees no key
    for (int j = 0; j < 33; ++j) m[4 * 40 + j] = 0.0;  // row 4 sees keys of the second tile only
    const Tensor mask = Tensor::from_vector(m, {5, 40}, DType::boolean);
    const Tensor want = ops::scaled_dot_product_attention(q.cpu, k.cpu, v.cpu, Tensor(), mask);
    poison(want.shape(), dtype);
    const Tensor got = ops::scaled_dot_product_attention(q.dev, k.dev, v.dev, Tensor(), mask.to(Device::cuda(0)));
    EXPECT_TRUE(close(got, want, tol(dtype)));
    EXPECT_TRUE(std::isnan(got.to(Device::cpu()).select(1, 2).to_vector()[0]));
  }
}

TEST(CudaAttention, FusedTrainingFullyMaskedRows) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Both q = both(ct::randn({2, 5, 8}, 73), dtype), k = both(ct::randn({2, 40, 8}, 74), dtype),
               v = both(ct::randn({2, 40, 8}, 75), dtype), bias = both(ct::randn({5, 40}, 76), dtype);
    std::vector<double> m(2 * 5 * 40, 1.0);
    for (int j = 0; j < 40; ++j) m[40 * 5 + 2 * 40 + j] = 0.0;  // batch 1, row 2 sees no key
    for (int j = 0; j < 33; ++j) m[4 * 40 + j] = 0.0;           // batch 0, row 4: keys of the second tile only
    const Tensor mask = Tensor::from_vector(m, {2, 5, 40}, DType::boolean);
    const ops::AttentionForward want = ops::scaled_dot_product_attention_forward(q.cpu, k.cpu, v.cpu, bias.cpu, mask);
    const Both g = both(ct::randn(want.out.shape(), 77), dtype);
    ops::AttentionNeeds needs;
    needs.bias = true;
    const ops::AttentionGrads wg = ops::scaled_dot_product_attention_backward(
        g.cpu, q.cpu, k.cpu, v.cpu, want.probs, want.scale, {5, 40}, needs);

    const Tensor mask_dev = mask.to(Device::cuda(0));
    const ops::AttentionFusedForward f =
        ops::scaled_dot_product_attention_fused_forward(q.dev, k.dev, v.dev, bias.dev, mask_dev);
    EXPECT_TRUE(close(f.out, want.out, tol(dtype)));
    const std::vector<double> lse = f.logsumexp.to(Device::cpu()).to_vector();
    EXPECT_EQ(lse[5 + 2], -INFINITY);
    for (size_t i = 0; i < lse.size(); ++i)
      if (i != 5 + 2) {
        EXPECT_TRUE(std::isfinite(lse[i])) << "row " << i;
      }
    // The NaN of the masked row reaches the same gradients as on the CPU: its
    // own dQ row, every dK and dV row of its batch entry, its bias row.
    poison(q.dev.shape(), dtype);
    const ops::AttentionGrads gg = ops::scaled_dot_product_attention_fused_backward(
        g.dev, q.dev, k.dev, v.dev, bias.dev, mask_dev, f.out, f.logsumexp, f.scale, needs);
    EXPECT_TRUE(close(gg.q, wg.q, tol(dtype)));
    EXPECT_TRUE(close(gg.k, wg.k, tol(dtype)));
    EXPECT_TRUE(close(gg.v, wg.v, tol(dtype)));
    EXPECT_TRUE(close(gg.bias, wg.bias, tol(dtype)));
  }
}

TEST(CudaAttention, HeadDimsAboveTheFusedKernelUseTheMaterialisedPath) {
  CUDASEG_REQUIRE_CUDA();
  check({{3, 17, 160}, {3, 21, 160}, {3, 21, 136}, {}, {}, std::nullopt}, 80, false);
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(cudaseg::dtype_name(dtype));
    const Tensor q = both(ct::randn({3, 17, 160}, 81), dtype).dev.set_requires_grad(true);
    const Tensor kv = both(ct::randn({3, 21, 160}, 82), dtype).dev;
    EXPECT_STREQ(fn::scaled_dot_product_attention(q, kv, kv).grad_fn()->name(), "ScaledDotProductAttentionBackward");
  }
}

TEST(CudaAttention, NoKeysGivesZeros) {
  CUDASEG_REQUIRE_CUDA();
  const Tensor q = Tensor::ones({2, 3, 8}, DType::f32, Device::cuda(0));
  const Tensor kv = Tensor::ones({2, 0, 8}, DType::f32, Device::cuda(0));
  EXPECT_EQ(ops::scaled_dot_product_attention(q, kv, kv).to_vector(), std::vector<double>(48, 0.0));
  // Training: dQ is an empty sum, dK and dV are empty.
  const Tensor ql = q.detach().set_requires_grad(true), kl = kv.detach().set_requires_grad(true);
  const Tensor out = fn::scaled_dot_product_attention(ql, kl, kv);
  cudaseg::autograd::backward(out, Tensor::ones(out.shape(), DType::f32, Device::cuda(0)));
  EXPECT_EQ(ql.grad().to_vector(), std::vector<double>(48, 0.0));
  EXPECT_TRUE(!kl.grad().defined() || kl.grad().numel() == 0);
}
