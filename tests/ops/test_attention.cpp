#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/testing.h"
#include "ops/attention.h"
#include "ops/kernels/attention.h"

using namespace cudaseg;
using cudaseg::testing::all_close;
using cudaseg::testing::noncontiguous;
using cudaseg::testing::randn;
using cudaseg::testing::throws_mentioning;

namespace {

// Row-major offset of `index` (right-aligned) in `shape`, size-1 dims broadcast.
int64_t bcast_offset(const Shape& shape, const Shape& index) {
  int64_t off = 0;
  const size_t lead = index.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + (shape[d] == 1 ? 0 : index[lead + d]);
  return off;
}

// softmax(q k^T * scale + bias, masked) v by definition, in double; `batch`
// is the broadcast batch shape.
Tensor naive_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& mask,
                       double scale, const Shape& batch) {
  const int64_t lq = q.size(-2), lk = k.size(-2), d = q.size(-1), dv = v.size(-1);
  const std::vector<double> vq = q.to_vector(), vk = k.to_vector(), vv = v.to_vector();
  const std::vector<double> vb = bias.defined() ? bias.to_vector() : std::vector<double>();
  const std::vector<double> vm = mask.defined() ? mask.to_vector() : std::vector<double>();
  const Shape qb(q.shape().begin(), q.shape().end() - 2), kb(k.shape().begin(), k.shape().end() - 2),
      vbs(v.shape().begin(), v.shape().end() - 2);
  const int64_t nb = shape_numel(batch);
  std::vector<double> out(nb * lq * dv);
  for (int64_t b = 0; b < nb; ++b) {
    Shape idx(batch.size());
    for (int64_t r = b, i = static_cast<int64_t>(batch.size()) - 1; i >= 0; --i) {
      idx[i] = r % batch[i];
      r /= batch[i];
    }
    const int64_t oq = bcast_offset(qb, idx) * lq * d, ok = bcast_offset(kb, idx) * lk * d,
                  ov = bcast_offset(vbs, idx) * lk * dv;
    for (int64_t i = 0; i < lq; ++i) {
      std::vector<double> s(lk);
      double mx = -INFINITY;
      for (int64_t j = 0; j < lk; ++j) {
        double acc = 0;
        for (int64_t c = 0; c < d; ++c) acc += vq[oq + i * d + c] * vk[ok + j * d + c];
        s[j] = acc * scale;
        Shape full = idx;
        full.push_back(i);
        full.push_back(j);
        if (bias.defined()) s[j] += vb[bcast_offset(bias.shape(), full)];
        if (mask.defined() && vm[bcast_offset(mask.shape(), full)] == 0) s[j] = -INFINITY;
        mx = std::max(mx, s[j]);
      }
      double total = 0;
      for (double& x : s) total += (x = std::exp(x - mx));
      for (int64_t c = 0; c < dv; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < lk; ++j) acc += s[j] / total * vv[ov + j * dv + c];
        out[(b * lq + i) * dv + c] = acc;
      }
    }
  }
  Shape shape = batch;
  shape.insert(shape.end(), {lq, dv});
  return Tensor::from_vector(out, shape, DType::f64);
}

}  // namespace

TEST(Attention, PlainMatchesNaiveWithDefaultScale) {
  const Tensor q = randn({2, 3, 7, 5}, 1), k = randn({2, 3, 9, 5}, 2), v = randn({2, 3, 9, 4}, 3);
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(q, k, v),
                        naive_attention(q, k, v, Tensor(), Tensor(), 1 / std::sqrt(5.0), {2, 3}), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(q, k, v, Tensor(), Tensor(), 0.3),
                        naive_attention(q, k, v, Tensor(), Tensor(), 0.3, {2, 3}), 1e-12, 1e-12));
}

TEST(Attention, NonContiguousAndPermutedInputs) {
  // [B, L, heads, D] permuted to [B, heads, L, D], as multi-head attention does.
  const Tensor q = randn({2, 7, 3, 4}, 4).permute({0, 2, 1, 3}), k = noncontiguous(randn({2, 3, 5, 4}, 5));
  const Tensor v = randn({2, 5, 3, 6}, 6).permute({0, 2, 1, 3});
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(q, k, v),
                        naive_attention(q.contiguous(), k.contiguous(), v.contiguous(), Tensor(), Tensor(), 0.5, {2, 3}),
                        1e-12, 1e-12));
}

TEST(Attention, SwinWindowsWithRelativePositionBias) {
  // 3 windows (B*nW) x 2 heads x 49 tokens, a [heads, 49, 49] bias broadcast over windows.
  const Tensor q = randn({3, 2, 49, 8}, 7), k = randn({3, 2, 49, 8}, 8), v = randn({3, 2, 49, 8}, 9);
  const Tensor bias = randn({2, 49, 49}, 10);
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(q, k, v, bias),
                        naive_attention(q, k, v, bias, Tensor(), 1 / std::sqrt(8.0), {3, 2}), 1e-12, 1e-12));
  // Shifted windows mask pairs of tokens per window: a [nW, 1, 49, 49] mask broadcast over heads.
  std::vector<double> keep = randn({3, 1, 49, 49}, 11).to_vector();
  for (double& x : keep) x = x > -1.0;
  const Tensor mask = Tensor::from_vector(keep, {3, 1, 49, 49}, DType::boolean);
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(q, k, v, bias, mask),
                        naive_attention(q, k, v, bias, mask, 1 / std::sqrt(8.0), {3, 2}), 1e-12, 1e-12));
}

TEST(Attention, SegFormerSpatialReductionLqDiffersFromLk) {
  // Lq = 7*13 tokens attend to Lk = 12 reduced tokens; key/value shared over heads by broadcasting.
  const Tensor q = randn({2, 1, 91, 8}, 12), k = randn({2, 1, 12, 8}, 13), v = randn({2, 1, 12, 8}, 14);
  const Tensor qh = randn({2, 2, 91, 8}, 15);
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(q, k, v),
                        naive_attention(q, k, v, Tensor(), Tensor(), 1 / std::sqrt(8.0), {2, 1}), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(qh, k, v),
                        naive_attention(qh, k, v, Tensor(), Tensor(), 1 / std::sqrt(8.0), {2, 2}), 1e-12, 1e-12));
}

TEST(Attention, BooleanMaskKeepsTrueEntries) {
  const Tensor q = randn({2, 5, 4}, 16), k = randn({2, 6, 4}, 17), v = randn({2, 6, 3}, 18);
  // A key-padding mask [2, 1, 6] with at least one kept key per row.
  std::vector<double> m(12, 1.0);
  m[4] = m[5] = m[6] = 0.0;
  const Tensor mask = Tensor::from_vector(m, {2, 1, 6}, DType::boolean);
  const Tensor bias = randn({5, 6}, 19);
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(q, k, v, Tensor(), mask),
                        naive_attention(q, k, v, Tensor(), mask, 0.5, {2}), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(q, k, v, bias, mask, 0.7),
                        naive_attention(q, k, v, bias, mask, 0.7, {2}), 1e-12, 1e-12));
}

TEST(Attention, FullyMaskedRowIsNaNAsTorch) {
  const Tensor q = randn({2, 3}, 20), k = randn({4, 3}, 21), v = randn({4, 2}, 22);
  const Tensor mask = Tensor::zeros({2, 4}, DType::boolean);
  const std::vector<double> out = ops::scaled_dot_product_attention(q, k, v, Tensor(), mask).to_vector();
  for (double x : out) EXPECT_TRUE(std::isnan(x));
}

TEST(Attention, Float32) {
  const Tensor q = randn({3, 7, 5}, 23, DType::f32), k = randn({3, 9, 5}, 24, DType::f32);
  const Tensor v = randn({3, 9, 6}, 25, DType::f32), bias = randn({7, 9}, 26, DType::f32);
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(q, k, v, bias),
                        naive_attention(q, k, v, bias, Tensor(), 1 / std::sqrt(5.0), {3}), 1e-5, 1e-5));
}

// A Swin shift mask (-100 added to the masked scores) gives probabilities
// below float32's smallest normal number: they are 0, so the product with V
// sees no subnormal operand, and the output is the reference's.
TEST(Attention, ShiftMaskProbabilitiesBelowTheNormalRangeAreZero) {
  const Tensor q = randn({2, 16, 8}, 1).to(DType::f32), k = randn({2, 16, 8}, 2).to(DType::f32),
               v = randn({2, 16, 8}, 3).to(DType::f32);
  std::vector<double> m(16 * 16);
  for (int64_t i = 0; i < 16; ++i)
    for (int64_t j = 0; j < 16; ++j) m[i * 16 + j] = (i < 8) == (j < 8) ? 0.0 : -100.0;
  const Tensor bias = Tensor::from_vector(m, {16, 16}, DType::f32);
  const Tensor got = ops::scaled_dot_product_attention(q, k, v, bias);
  EXPECT_TRUE(all_close(got, naive_attention(q, k, v, bias, Tensor(), 1.0 / std::sqrt(8.0), {2}), 1e-5, 1e-5));
  const std::vector<double> out = got.to_vector();
  for (double x : out) ASSERT_TRUE(x == 0 || std::fabs(x) >= std::numeric_limits<float>::min()) << x;
  // The probabilities themselves: attention with V = identity rows returns them.
  std::vector<double> identity(2 * 16 * 16, 0.0);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 16; ++i) identity[(b * 16 + i) * 16 + i] = 1.0;
  const Tensor eye = Tensor::from_vector(identity, {2, 16, 16}, DType::f32);
  const Tensor k16 = randn({2, 16, 16}, 4).to(DType::f32), q16 = randn({2, 16, 16}, 5).to(DType::f32);
  int64_t zeros = 0;
  for (double p : ops::scaled_dot_product_attention(q16, k16, eye, bias).to_vector()) {
    ASSERT_TRUE(p == 0 || p >= std::numeric_limits<float>::min()) << p;
    zeros += p == 0;
  }
  EXPECT_GE(zeros, 2 * 16 * 8) << "the masked half of every row";
}

TEST(Attention, MisuseErrors) {
  const Tensor q = randn({2, 7, 5}, 1), k = randn({2, 9, 5}, 2), v = randn({2, 9, 4}, 3);
  EXPECT_TRUE(throws_mentioning([&] { ops::scaled_dot_product_attention(q, randn({2, 9, 6}, 4), v); },
                                {"scaled_dot_product_attention", "query", "[2, 7, 5]", "[2, 9, 6]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::scaled_dot_product_attention(q, k, randn({2, 8, 4}, 5)); },
                                {"scaled_dot_product_attention", "value", "[2, 8, 4]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::scaled_dot_product_attention(q, k, v, randn({7, 8}, 6)); },
                                {"scaled_dot_product_attention", "bias", "[7, 8]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::scaled_dot_product_attention(q, k, v, Tensor(), randn({7, 9}, 7)); },
                                {"scaled_dot_product_attention", "mask", "bool", "float64"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::scaled_dot_product_attention(q, randn({3, 9, 5}, 8), v); },
                                {"scaled_dot_product_attention", "cannot be broadcast"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::scaled_dot_product_attention(randn({5}, 9), k, v); },
                                {"scaled_dot_product_attention", "at least 2 dims", "[5]"}));
}

// The CPU's fused forward (ops/cpu/attention_fused.cpp) in float32 on shapes
// that cross its tiles: query rows past a multiple of its 24-row tasks, keys
// over three 512-key blocks (the last partial), head dims that are not a
// multiple of the vector, permuted operands, a bias broadcast over the batch
// and a mask that removes whole key blocks from some rows. Against float64
// by definition, and against the materialised path at float32's level.
TEST(Attention, CpuFusedFloat32AcrossTilesAndKeyBlocks) {
  const Tensor q = randn({2, 50, 3, 33}, 41, DType::f32).permute({0, 2, 1, 3});
  const Tensor k = randn({2, 3, 1100, 33}, 42, DType::f32), v = randn({2, 1100, 3, 17}, 43, DType::f32);
  const Tensor vp = v.permute({0, 2, 1, 3}), bias = randn({3, 50, 1100}, 44, DType::f32);
  std::vector<double> keep(50 * 1100);
  for (int64_t i = 0; i < 50; ++i)
    for (int64_t j = 0; j < 1100; ++j) keep[i * 1100 + j] = i % 3 == 0 ? j >= 1024 : (i + j) % 7 != 0;
  const Tensor mask = Tensor::from_vector(keep, {50, 1100}, DType::boolean);
  for (const bool with_bias : {false, true}) {
    const Tensor b = with_bias ? bias : Tensor(), m = with_bias ? mask : Tensor();
    const Tensor got = ops::scaled_dot_product_attention(q, k, vp, b, m, 0.2);
    EXPECT_TRUE(all_close(got, naive_attention(q.contiguous(), k, vp.contiguous(), b, m, 0.2, {2, 3}), 2e-5, 2e-6));
    EXPECT_TRUE(all_close(got, ops::scaled_dot_product_attention_forward(q, k, vp, b, m, 0.2).out, 2e-5, 2e-6));
  }
}

// The same in float64 (the scalar twins of the vector kernels), at float64's level.
TEST(Attention, CpuFusedFloat64AcrossKeyBlocks) {
  const Tensor q = randn({2, 30, 5}, 45), k = randn({2, 1030, 5}, 46), v = randn({2, 1030, 3}, 47);
  const Tensor bias = randn({30, 1030}, 48);
  EXPECT_TRUE(all_close(ops::scaled_dot_product_attention(q, k, v, bias, Tensor(), 0.7),
                        naive_attention(q, k, v, bias, Tensor(), 0.7, {2}), 1e-12, 1e-12));
}

// Rows whose scores are all masked are NaN, rows with one kept key in the
// last block take that key's value, a NaN score makes its row NaN, and no
// keys give zeros with a logsumexp of -inf; the logsumexp of ordinary rows
// is the float64 one.
TEST(Attention, CpuFusedRowRulesAndLogSumExp) {
  for (const DType dt : {DType::f32, DType::f64}) {
    const Tensor q = randn({1, 26, 8}, 49, dt), k = randn({1, 600, 8}, 50, dt), v = randn({1, 600, 4}, 51, dt);
    std::vector<double> keep(26 * 600, 1.0);
    for (int64_t j = 0; j < 600; ++j) {
      keep[0 * 600 + j] = 0.0;
      keep[25 * 600 + j] = j == 599;
    }
    const Tensor mask = Tensor::from_vector(keep, {1, 26, 600}, DType::boolean);
    std::vector<double> bv(26 * 600, 0.0);
    bv[3 * 600 + 100] = NAN;
    const Tensor bias = Tensor::from_vector(bv, {1, 26, 600}, dt);
    const Tensor out = Tensor::empty({1, 26, 4}, dt), lse = Tensor::empty({1, 26}, dt);
    ops::kernels::attention_fused(Device::cpu(), q, k, v, bias, mask, 0.3, out, lse);
    const std::vector<double> o = out.to_vector(), l = lse.to_vector(), vs = v.to_vector(), qs = q.to_vector(),
                              ks = k.to_vector();
    for (int64_t e = 0; e < 4; ++e) {
      EXPECT_TRUE(std::isnan(o[0 * 4 + e])) << "fully masked row";
      EXPECT_TRUE(std::isnan(o[3 * 4 + e])) << "a NaN score";
      EXPECT_NEAR(o[25 * 4 + e], vs[599 * 4 + e], 1e-6) << "one kept key";
    }
    EXPECT_EQ(l[0], -std::numeric_limits<double>::infinity());
    for (int64_t i : {1, 2, 24}) {
      double mx = -INFINITY;
      std::vector<double> s(600);
      for (int64_t j = 0; j < 600; ++j) {
        double acc = 0;
        for (int64_t c = 0; c < 8; ++c) acc += qs[i * 8 + c] * ks[j * 8 + c];
        mx = std::max(mx, s[j] = acc * 0.3);
      }
      double total = 0;
      for (double x : s) total += std::exp(x - mx);
      EXPECT_NEAR(l[i], mx + std::log(total), dt == DType::f32 ? 2e-5 : 1e-12) << "row " << i;
    }
    const Tensor none = Tensor::empty({1, 26, 4}, dt), none_lse = Tensor::empty({1, 26}, dt);
    ops::kernels::attention_fused(Device::cpu(), q, Tensor::empty({1, 0, 8}, dt), Tensor::empty({1, 0, 4}, dt),
                                  Tensor(), Tensor(), 0.3, none, none_lse);
    for (double x : none.to_vector()) EXPECT_EQ(x, 0.0);
    for (double x : none_lse.to_vector()) EXPECT_EQ(x, -std::numeric_limits<double>::infinity());
  }
}
