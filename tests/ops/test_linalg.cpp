#include <gtest/gtest.h>

#include <cmath>

#include "common/testing.h"
#include "ops/linalg.h"
#include "runtime/thread_pool.h"

using namespace cudaseg;
using cudaseg::testing::all_close;
using cudaseg::testing::noncontiguous;
using cudaseg::testing::randn;
using cudaseg::testing::throws_mentioning;

namespace {

// Row-major offset of `index` (right-aligned) in a tensor of `shape`, with
// size-1 dims broadcast.
int64_t bcast_offset(const Shape& shape, const Shape& index) {
  int64_t off = 0;
  const size_t lead = index.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + (shape[d] == 1 ? 0 : index[lead + d]);
  return off;
}

// torch.matmul by definition, in double.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  Shape as = a.shape(), bs = b.shape();
  if (a.dim() == 1) as.insert(as.begin(), 1);
  if (b.dim() == 1) bs.push_back(1);
  const int64_t n = as[as.size() - 2], m = as.back(), p = bs.back();
  const Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  Shape batch(std::max(ab.size(), bb.size()), 1);
  for (size_t i = 0; i < batch.size(); ++i) {
    const int64_t x = i + ab.size() >= batch.size() ? ab[i + ab.size() - batch.size()] : 1;
    const int64_t y = i + bb.size() >= batch.size() ? bb[i + bb.size() - batch.size()] : 1;
    batch[i] = std::max(x, y);
  }
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  const int64_t nb = shape_numel(batch);
  std::vector<double> out(nb * n * p);
  for (int64_t bi = 0; bi < nb; ++bi) {
    Shape idx(batch.size());
    for (int64_t r = bi, d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
      idx[d] = r % batch[d];
      r /= batch[d];
    }
    const int64_t oa = bcast_offset(ab, idx) * n * m, ob = bcast_offset(bb, idx) * m * p;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < p; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < m; ++k) acc += va[oa + i * m + k] * vb[ob + k * p + j];
        out[(bi * n + i) * p + j] = acc;
      }
  }
  Shape shape = batch;
  if (a.dim() > 1) shape.push_back(n);
  if (b.dim() > 1) shape.push_back(p);
  return Tensor::from_vector(out, shape, DType::f64);
}

}  // namespace

TEST(Linalg, MatmulMatchesNaiveOnOddSizes) {
  const Tensor a = randn({7, 13}, 1), b = randn({13, 5}, 2);
  EXPECT_TRUE(all_close(ops::matmul(a, b), naive_matmul(a, b), 1e-12, 1e-12));
}

TEST(Linalg, MatmulOnNonContiguousAndTransposedViews) {
  const Tensor a = randn({7, 13}, 3), b = randn({5, 13}, 4);
  const Tensor bt = b.transpose(0, 1);  // BLAS reads it transposed, no copy
  EXPECT_TRUE(all_close(ops::matmul(noncontiguous(a), bt), naive_matmul(a, bt.contiguous()), 1e-12, 1e-12));
  const Tensor c = randn({3, 7, 13}, 5).permute({1, 0, 2});  // [7, 3, 13], batch stride not outermost
  const Tensor d = randn({13, 4}, 6);
  EXPECT_TRUE(all_close(ops::matmul(c, d), naive_matmul(c.contiguous(), d), 1e-12, 1e-12));
}

TEST(Linalg, MatmulBroadcastsBatchDims) {
  const Tensor a = randn({2, 1, 3, 4}, 7), b = randn({5, 4, 6}, 8);
  const Tensor out = ops::matmul(a, b);
  EXPECT_EQ(out.shape(), (Shape{2, 5, 3, 6}));
  EXPECT_TRUE(all_close(out, naive_matmul(a, b), 1e-12, 1e-12));
  const Tensor c = randn({3, 4}, 9), e = randn({2, 3, 4, 5}, 10);
  EXPECT_TRUE(all_close(ops::matmul(c, e), naive_matmul(c, e), 1e-12, 1e-12));
  const Tensor f = randn({1, 4, 5}, 11).expand({3, 4, 5});  // stride-0 batch dim
  EXPECT_TRUE(all_close(ops::matmul(c, f), naive_matmul(c, f.contiguous()), 1e-12, 1e-12));
}

TEST(Linalg, MatmulOneDimensionalCases) {
  const Tensor v = randn({6}, 12), w = randn({6}, 13), m = randn({6, 3}, 14), l = randn({4, 6}, 15);
  const Tensor bm = randn({2, 6, 3}, 16), bl = randn({2, 4, 6}, 17);
  const Tensor dot = ops::matmul(v, w);
  EXPECT_EQ(dot.dim(), 0);
  EXPECT_TRUE(all_close(dot, naive_matmul(v, w), 1e-12, 1e-12));
  EXPECT_EQ(ops::matmul(v, m).shape(), (Shape{3}));
  EXPECT_TRUE(all_close(ops::matmul(v, m), naive_matmul(v, m), 1e-12, 1e-12));
  EXPECT_EQ(ops::matmul(l, v).shape(), (Shape{4}));
  EXPECT_TRUE(all_close(ops::matmul(l, v), naive_matmul(l, v), 1e-12, 1e-12));
  EXPECT_EQ(ops::matmul(v, bm).shape(), (Shape{2, 3}));
  EXPECT_TRUE(all_close(ops::matmul(v, bm), naive_matmul(v, bm), 1e-12, 1e-12));
  EXPECT_EQ(ops::matmul(bl, v).shape(), (Shape{2, 4}));
  EXPECT_TRUE(all_close(ops::matmul(bl, v), naive_matmul(bl, v), 1e-12, 1e-12));
}

TEST(Linalg, MatmulFloat32) {
  const Tensor a = randn({9, 17}, 18, DType::f32), b = randn({17, 11}, 19, DType::f32);
  const Tensor out = ops::matmul(a, b);
  EXPECT_EQ(out.dtype(), DType::f32);
  EXPECT_TRUE(all_close(out, naive_matmul(a, b), 1e-5, 1e-5));
}

// gemm splits a large product into row or column blocks over the thread
// pool, and batched products go one per worker: every thread count, each
// transposition and both split directions must give the reference.
TEST(Linalg, SplitProductsAgreeAcrossThreadCounts) {
  const int before = num_threads();
  for (int threads : {1, 2, 3, 5}) {
    set_num_threads(threads);
    SCOPED_TRACE(threads);
    const Tensor wide_a = randn({37, 301}, 70), wide_b = randn({301, 517}, 71);   // splits columns
    const Tensor tall_a = randn({523, 211}, 72), tall_b = randn({211, 45}, 73);   // splits rows
    EXPECT_TRUE(all_close(ops::matmul(wide_a, wide_b), naive_matmul(wide_a, wide_b), 1e-10, 1e-10));
    EXPECT_TRUE(all_close(ops::matmul(tall_a, tall_b), naive_matmul(tall_a, tall_b), 1e-10, 1e-10));
    const Tensor at = randn({211, 523}, 74).transpose(0, 1), bt = randn({45, 211}, 75).transpose(0, 1);
    EXPECT_TRUE(all_close(ops::matmul(at, bt), naive_matmul(at, bt), 1e-10, 1e-10));
    const Tensor wt = randn({517, 301}, 76).transpose(0, 1);
    EXPECT_TRUE(all_close(ops::matmul(wide_a, wt), naive_matmul(wide_a, wt), 1e-10, 1e-10));
    const Tensor heads_a = randn({7, 3, 29, 17}, 77), heads_b = randn({7, 3, 17, 31}, 78);
    EXPECT_TRUE(all_close(ops::matmul(heads_a, heads_b), naive_matmul(heads_a, heads_b), 1e-10, 1e-10));
  }
  set_num_threads(before);
}

TEST(Linalg, BmmMatchesNaive) {
  const Tensor a = randn({3, 5, 7}, 20), b = randn({3, 7, 2}, 21);
  EXPECT_TRUE(all_close(ops::bmm(noncontiguous(a), b), naive_matmul(a, b), 1e-12, 1e-12));
}

TEST(Linalg, LinearMatchesNaive) {
  const Tensor x = randn({2, 3, 13}, 22), w = randn({7, 13}, 23), bias = randn({7}, 24);
  const std::vector<double> vx = x.to_vector(), vw = w.to_vector(), vb = bias.to_vector();
  std::vector<double> ref(6 * 7), ref_nb(6 * 7);
  for (int r = 0; r < 6; ++r)
    for (int o = 0; o < 7; ++o) {
      double acc = 0;
      for (int i = 0; i < 13; ++i) acc += vx[r * 13 + i] * vw[o * 13 + i];
      ref_nb[r * 7 + o] = acc;
      ref[r * 7 + o] = acc + vb[o];
    }
  EXPECT_TRUE(all_close(ops::linear(x, w, bias), Tensor::from_vector(ref, {2, 3, 7}, DType::f64), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(ops::linear(noncontiguous(x), noncontiguous(w)),
                        Tensor::from_vector(ref_nb, {2, 3, 7}, DType::f64), 1e-12, 1e-12));
  // A weight stored transposed (as W^T.t()) takes the other BLAS path.
  const Tensor wt = w.transpose(0, 1).contiguous().transpose(0, 1);
  EXPECT_TRUE(all_close(ops::linear(x, wt, bias), Tensor::from_vector(ref, {2, 3, 7}, DType::f64), 1e-12, 1e-12));
  EXPECT_EQ(ops::linear(randn({13}, 25), w, bias).shape(), (Shape{7}));
}

TEST(Linalg, LinearActMatchesNaive) {
  const Tensor x = randn({2, 3, 5}, 40), w = randn({7, 5}, 41), bias = randn({7}, 42);
  const std::vector<double> vx = x.to_vector(), vw = w.to_vector(), vb = bias.to_vector();
  const auto act_of = [](ops::LinearAct act, double z) {
    switch (act) {
      case ops::LinearAct::relu: return z > 0 ? z : 0.0;
      case ops::LinearAct::gelu: return 0.5 * z * (1 + std::erf(z / std::sqrt(2.0)));
      case ops::LinearAct::gelu_tanh:
        return 0.5 * z * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (z + 0.044715 * z * z * z)));
      default: return z;
    }
  };
  for (ops::LinearAct act :
       {ops::LinearAct::none, ops::LinearAct::relu, ops::LinearAct::gelu, ops::LinearAct::gelu_tanh}) {
    SCOPED_TRACE(static_cast<int>(act));
    for (bool with_bias : {true, false}) {
      std::vector<double> ref(6 * 7);
      for (int r = 0; r < 6; ++r)
        for (int o = 0; o < 7; ++o) {
          double z = with_bias ? vb[o] : 0.0;
          for (int i = 0; i < 5; ++i) z += vx[r * 5 + i] * vw[o * 5 + i];
          ref[r * 7 + o] = act_of(act, z);
        }
      const Tensor want = Tensor::from_vector(ref, {2, 3, 7}, DType::f64);
      EXPECT_TRUE(all_close(ops::linear_act(x, w, with_bias ? bias : Tensor(), act), want, 1e-12, 1e-12));
      EXPECT_TRUE(all_close(ops::linear_act(noncontiguous(x), w, with_bias ? bias : Tensor(), act), want, 1e-12,
                            1e-12));
    }
  }
  EXPECT_TRUE(throws_mentioning(
      [] { ops::linear_act(randn({2, 5}, 1), randn({3, 4}, 2), Tensor(), ops::LinearAct::relu); },
      {"linear", "[2, 5]", "[3, 4]"}));
}

// The float32 linear of the per-ISA kernel (ops/cpu/linalg.cpp): row counts
// across its row blocks, input sizes across its 256-deep k-blocks, outputs
// across its 64-column panels (and one not a multiple of the vector, which
// takes OpenBLAS), a strided input, a transposed weight view of the same
// storage (another packing), every activation, and a weight changed in
// place between calls (its packing is cached per version): against the
// float64 op at float32's level.
TEST(Linalg, LinearFloat32OnOddShapesAndUpdatedWeights) {
  auto f32 = [](const Tensor& t) { return t.to(DType::f32); };
  for (int64_t rows : {1, 5, 97, 1000})
    for (int64_t in : {1, 13, 300})
      for (int64_t outf : {16, 80, 144, 40}) {
        SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(in) + "->" + std::to_string(outf));
        const Tensor wide = randn({rows, in + 3}, 50), w = randn({outf, in}, 51), b = randn({outf}, 52);
        const Tensor x = wide.narrow(1, 1, in);
        for (ops::LinearAct act : {ops::LinearAct::none, ops::LinearAct::gelu, ops::LinearAct::relu}) {
          const Tensor want = ops::linear_act(x, w, b, act);
          const Tensor got = ops::linear_act(f32(wide).narrow(1, 1, in), f32(w), f32(b), act);
          EXPECT_EQ(got.dtype(), DType::f32);
          EXPECT_TRUE(all_close(got, want, 2e-5, 2e-5));
        }
        EXPECT_TRUE(all_close(ops::linear(f32(x), f32(w)), ops::linear(x, w), 2e-5, 2e-5));
      }
  // The tasks' split among 1 and 3 threads: row blocks that do not divide
  // among them have their columns dealt to one task a thread (7 vectors of
  // 112 outputs, 9 of 144, 1 of 16 at AVX-512).
  const int before = num_threads();
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    for (int64_t rows : {7, 49, 196, 1000})
      for (int64_t outf : {16, 112, 144}) {
        SCOPED_TRACE(std::to_string(threads) + " threads, " + std::to_string(rows) + "x300->" + std::to_string(outf));
        const Tensor x = randn({rows, 300}, 56), w = randn({outf, 300}, 57), b = randn({outf}, 58);
        EXPECT_TRUE(all_close(ops::linear(f32(x), f32(w), f32(b)), ops::linear(x, w, b), 2e-5, 2e-5));
      }
  }
  set_num_threads(before);
  // One storage read as W [16, 16] and as its transpose: two packings.
  const Tensor w = randn({16, 16}, 53).to(DType::f32), x = randn({7, 16}, 54).to(DType::f32);
  const Tensor w64 = w.to(DType::f64), x64 = x.to(DType::f64);
  EXPECT_TRUE(all_close(ops::linear(x, w), ops::linear(x64, w64), 2e-5, 2e-5));
  EXPECT_TRUE(all_close(ops::linear(x, w.transpose(0, 1)), ops::linear(x64, w64.transpose(0, 1)), 2e-5, 2e-5));
  // A training step's update in place: the next call sees the new weights.
  Tensor(w).copy_(randn({16, 16}, 55).to(DType::f32));
  EXPECT_TRUE(all_close(ops::linear(x, w), ops::linear(x64, w64), 2e-5, 2e-5) == false);
  EXPECT_TRUE(all_close(ops::linear(x, w), ops::linear(x64, w.to(DType::f64)), 2e-5, 2e-5));
}

TEST(Linalg, MisuseErrors) {
  EXPECT_TRUE(throws_mentioning([] { ops::matmul(randn({3, 4}, 1), randn({5, 2}, 2)); },
                                {"matmul", "inner dims", "[3, 4]", "[5, 2]"}));
  EXPECT_TRUE(throws_mentioning([] { ops::matmul(randn({2, 3, 4}, 1), randn({3, 4, 2}, 2)); },
                                {"matmul", "cannot be broadcast"}));
  EXPECT_TRUE(throws_mentioning([] { ops::bmm(randn({2, 3, 4}, 1), randn({3, 4, 2}, 2)); },
                                {"bmm", "batch sizes", "[2, 3, 4]", "[3, 4, 2]"}));
  EXPECT_TRUE(throws_mentioning([] { ops::bmm(randn({3, 4}, 1), randn({3, 4, 2}, 2)); }, {"bmm", "input", "[3, 4]"}));
  EXPECT_TRUE(throws_mentioning([] { ops::linear(randn({2, 5}, 1), randn({3, 4}, 2)); },
                                {"linear", "[2, 5]", "[3, 4]"}));
  EXPECT_TRUE(throws_mentioning([] { ops::linear(randn({2, 4}, 1), randn({3, 4}, 2), randn({4}, 3)); },
                                {"linear", "bias", "[4]"}));
  EXPECT_TRUE(throws_mentioning([] { ops::matmul(randn({2, 4}, 1), randn({4, 2}, 2, DType::f32)); },
                                {"matmul", "float32", "float64"}));
  EXPECT_TRUE(throws_mentioning([] { ops::matmul(Tensor::ones({2, 2}, DType::i64), Tensor::ones({2, 2}, DType::i64)); },
                                {"matmul", "int64"}));
}
