// Shape ops against naive index loops: cat, stack, split/chunk, pad (every
// mode), repeat, roll, index_select, channel_shuffle, slice_backward.
#include <gtest/gtest.h>

#include <functional>

#include "common/testing.h"
#include "ops/shape.h"

using namespace cudaseg;
using cudaseg::testing::all_close;
using cudaseg::testing::noncontiguous;
using cudaseg::testing::randn;
using cudaseg::testing::throws_mentioning;

namespace {

Shape unravel(int64_t flat, const Shape& shape) {
  Shape idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

int64_t ravel(const Shape& idx, const Shape& shape) {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + idx[d];
  return flat;
}

// A tensor of `out` whose element at idx is x's element at source(idx)
// (or `fill` when source returns false).
Tensor gather_naive(const Tensor& x, const Shape& out,
                    const std::function<bool(const Shape&, Shape&)>& source, double fill = 0.0) {
  const std::vector<double> v = x.to_vector();
  std::vector<double> r(static_cast<size_t>(shape_numel(out)));
  for (size_t flat = 0; flat < r.size(); ++flat) {
    Shape src;
    r[flat] = source(unravel(static_cast<int64_t>(flat), out), src) ? v[ravel(src, x.shape())] : fill;
  }
  return Tensor::from_vector(r, out, DType::f64);
}

int64_t mod(int64_t a, int64_t n) { return ((a % n) + n) % n; }

}  // namespace

TEST(Shape, CatAlongEveryDim) {
  const Tensor a = randn({3, 4, 5}, 1), b = randn({3, 2, 5}, 2), c = randn({3, 1, 5}, 3);
  const Tensor out = ops::cat({noncontiguous(a), b, c.transpose(0, 2).transpose(0, 2)}, -2);
  const Tensor expect = gather_naive(a, {3, 7, 5}, [](const Shape& i, Shape& s) {
    s = i;
    return i[1] < 4;
  });
  const std::vector<double> va = out.to_vector(), vb = b.to_vector(), vc = c.to_vector();
  ASSERT_EQ(out.shape(), (Shape{3, 7, 5}));
  for (int64_t f = 0; f < out.numel(); ++f) {
    const Shape i = unravel(f, {3, 7, 5});
    double want = expect.to_vector()[f];
    if (i[1] >= 4 && i[1] < 6) want = vb[ravel({i[0], i[1] - 4, i[2]}, {3, 2, 5})];
    if (i[1] == 6) want = vc[ravel({i[0], 0, i[2]}, {3, 1, 5})];
    EXPECT_EQ(va[f], want) << f;
  }
  for (int64_t d : {0, 2}) {
    const Tensor x = randn({3, 4, 5}, 4), y = randn({3, 4, 5}, 5);
    const Tensor r = ops::cat({x, y}, d);
    Shape s = x.shape();
    s[d] *= 2;
    ASSERT_EQ(r.shape(), s);
    EXPECT_TRUE(all_close(r.narrow(d, 0, x.size(d)), x, 0, 0));
    EXPECT_TRUE(all_close(r.narrow(d, x.size(d), y.size(d)), y, 0, 0));
  }
}

TEST(Shape, StackNewDim) {
  const Tensor a = randn({3, 5}, 6), b = noncontiguous(randn({3, 5}, 7));
  for (int64_t d : {0, 1, 2, -1}) {
    const Tensor s = ops::stack({a, b}, d);
    const int64_t w = d < 0 ? d + 3 : d;
    Shape shape = {3, 5};
    shape.insert(shape.begin() + w, 2);
    ASSERT_EQ(s.shape(), shape);
    EXPECT_TRUE(all_close(s.select(w, 0), a, 0, 0));
    EXPECT_TRUE(all_close(s.select(w, 1), b, 0, 0));
  }
}

TEST(Shape, SplitChunkUneven) {
  const Tensor x = randn({4, 11}, 8);
  const auto parts = ops::split(x, 4, -1);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].shape(), (Shape{4, 3}));
  const auto sized = ops::split_with_sizes(x, {2, 0, 9}, 1);
  ASSERT_EQ(sized.size(), 3u);
  EXPECT_EQ(sized[1].shape(), (Shape{4, 0}));
  const auto chunks = ops::chunk(x, 3, 1);  // ceil(11 / 3) = 4: sizes 4, 4, 3
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(ops::chunk(randn({5}, 1), 4).size(), 3u);  // sizes 2, 2, 1 as torch.chunk
  int64_t at = 0;
  for (const Tensor& p : parts) {
    const int64_t start = at;
    EXPECT_TRUE(all_close(p,
                          gather_naive(x, p.shape(),
                                       [start](const Shape& i, Shape& s) {
                                         s = {i[0], i[1] + start};
                                         return true;
                                       }),
                          0, 0));
    at += p.size(1);
  }
  EXPECT_TRUE(all_close(sized[2],
                        gather_naive(x, {4, 9},
                                     [](const Shape& i, Shape& s) {
                                       s = {i[0], i[1] + 2};
                                       return true;
                                     }),
                        0, 0));
  EXPECT_EQ(chunks[1].shape(), (Shape{4, 4}));
  EXPECT_EQ(chunks[2].shape(), (Shape{4, 3}));
}

TEST(Shape, PadMatchesPyTorchExamples) {
  const Tensor x = Tensor::arange(5, DType::f64).view({1, 1, 5});
  EXPECT_EQ(ops::pad(x, {2, 1}, ops::PadMode::reflect).to_vector(),
            (std::vector<double>{2, 1, 0, 1, 2, 3, 4, 3}));
  EXPECT_EQ(ops::pad(x, {2, 1}, ops::PadMode::replicate).to_vector(),
            (std::vector<double>{0, 0, 0, 1, 2, 3, 4, 4}));
  EXPECT_EQ(ops::pad(x, {-1, 2}, ops::PadMode::constant, 7).to_vector(),
            (std::vector<double>{1, 2, 3, 4, 7, 7}));
  EXPECT_EQ(ops::pad(x, {-1, 2}, ops::PadMode::reflect).to_vector(), (std::vector<double>{1, 2, 3, 4, 3, 2}));
  EXPECT_EQ(ops::pad(x, {-1, 2}, ops::PadMode::replicate).to_vector(),
            (std::vector<double>{1, 2, 3, 4, 4, 4}));
}

TEST(Shape, PadEveryModeAsymmetric) {
  const Tensor x = randn({2, 3, 5, 7}, 9);
  const std::vector<int64_t> pads = {3, 1, 0, 4};  // last dim (3, 1), dim 2 (0, 4)
  auto map = [](int64_t i, int64_t n, ops::PadMode m, bool& inside) {
    inside = true;
    if (m == ops::PadMode::replicate) return std::min(std::max<int64_t>(i, 0), n - 1);
    if (m == ops::PadMode::reflect) return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i);
    inside = i >= 0 && i < n;
    return i;
  };
  for (ops::PadMode m : {ops::PadMode::constant, ops::PadMode::reflect, ops::PadMode::replicate})
    for (const Tensor& in : {x, noncontiguous(x)}) {
      const Tensor out = ops::pad(in, pads, m, -2.5);
      const Tensor expect = gather_naive(
          x, {2, 3, 9, 11},
          [&](const Shape& i, Shape& s) {
            bool in_h, in_w;
            s = {i[0], i[1], map(i[2] - 0, 5, m, in_h), map(i[3] - 3, 7, m, in_w)};
            return in_h && in_w;
          },
          -2.5);
      EXPECT_TRUE(all_close(out, expect, 0, 0)) << static_cast<int>(m);
    }
  // Constant padding with cropping on one dim and padding on another.
  const Tensor c = ops::pad(x, {-2, 1, 1, -3}, ops::PadMode::constant, 1.5);
  EXPECT_TRUE(all_close(c,
                        gather_naive(
                            x, {2, 3, 3, 6},
                            [](const Shape& i, Shape& s) {
                              s = {i[0], i[1], i[2] - 1, i[3] + 2};
                              return s[2] >= 0 && s[3] < 7;
                            },
                            1.5),
                        0, 0));
  EXPECT_EQ(ops::pad_mode_from_name("reflect"), ops::PadMode::reflect);
}

TEST(Shape, RepeatWithMoreDims) {
  const Tensor x = noncontiguous(randn({2, 3}, 10));
  const Tensor r = ops::repeat(x, {2, 3, 1, 2});
  ASSERT_EQ(r.shape(), (Shape{2, 3, 2, 6}));
  EXPECT_TRUE(all_close(r,
                        gather_naive(x, r.shape(),
                                     [](const Shape& i, Shape& s) {
                                       s = {i[2] % 2, i[3] % 3};
                                       return true;
                                     }),
                        0, 0));
  EXPECT_EQ(ops::repeat(x, {1, 1}).shape(), x.shape());
}

TEST(Shape, RollShiftsAndDims) {
  const Tensor x = randn({3, 4, 5}, 11);
  const Tensor r = ops::roll(noncontiguous(x), {-1, 7, 2}, {0, -1, 0});  // dim 0 rolled by 1 in all
  EXPECT_TRUE(all_close(r,
                        gather_naive(x, x.shape(),
                                     [](const Shape& i, Shape& s) {
                                       s = {mod(i[0] - 1, 3), i[1], mod(i[2] - 7, 5)};
                                       return true;
                                     }),
                        0, 0));
  const Tensor f = ops::roll(x, {-8});
  EXPECT_TRUE(all_close(f,
                        gather_naive(x, x.shape(),
                                     [](const Shape& i, Shape& s) {
                                       s = unravel(mod(ravel(i, {3, 4, 5}) + 8, 60), {3, 4, 5});
                                       return true;
                                     }),
                        0, 0));
}

TEST(Shape, IndexSelectRepeatsAndInt32) {
  const Tensor x = randn({4, 6, 3}, 12);
  const Tensor idx = Tensor::from_vector({5, 0, 5, 2}, {4}, DType::i64);
  for (const Tensor& in : {x, noncontiguous(x)}) {
    const Tensor r = ops::index_select(in, -2, idx);
    EXPECT_TRUE(all_close(r,
                          gather_naive(x, {4, 4, 3},
                                       [&](const Shape& i, Shape& s) {
                                         const int64_t pick[] = {5, 0, 5, 2};
                                         s = {i[0], pick[i[1]], i[2]};
                                         return true;
                                       }),
                          0, 0));
  }
  const Tensor r0 = ops::index_select(x, 0, Tensor::from_vector({3, 1}, {2}, DType::i32));
  EXPECT_TRUE(all_close(r0.select(0, 0), x.select(0, 3), 0, 0));
  const Tensor back = ops::index_select_backward(ops::index_select(x, 1, idx), x.shape(), 1, idx);
  // Index 5 was picked twice, so its gradient doubles; index 1 never was.
  EXPECT_DOUBLE_EQ(back.to_vector()[ravel({1, 5, 2}, {4, 6, 3})],
                   2 * x.to_vector()[ravel({1, 5, 2}, {4, 6, 3})]);
  EXPECT_DOUBLE_EQ(back.to_vector()[ravel({1, 1, 2}, {4, 6, 3})], 0.0);
}

TEST(Shape, ChannelShuffleMatchesNaive) {
  const Tensor x = randn({2, 6, 3, 5}, 13);
  for (int64_t g : {1, 2, 3, 6}) {
    const int64_t per = 6 / g;
    const Tensor r = ops::channel_shuffle(noncontiguous(x), g);
    // Output channel j * g + i holds input channel i * per + j.
    EXPECT_TRUE(all_close(r,
                          gather_naive(x, x.shape(),
                                       [&](const Shape& i, Shape& s) {
                                         s = {i[0], (i[1] % g) * per + i[1] / g, i[2], i[3]};
                                         return true;
                                       }),
                          0, 0))
        << g;
  }
}

TEST(Shape, SliceBackwardScattersIntoZeros) {
  const Tensor g = randn({3, 2}, 14);
  const Tensor r = ops::slice_backward(g, {3, 7}, 1, 1, 6, 3);  // columns 1 and 4
  EXPECT_TRUE(all_close(r,
                        gather_naive(g, {3, 7},
                                     [](const Shape& i, Shape& s) {
                                       s = {i[0], (i[1] - 1) / 3};
                                       return i[1] == 1 || i[1] == 4;
                                     }),
                        0, 0));
}

TEST(Shape, MisuseErrors) {
  const Tensor a = randn({2, 3}, 1), b = randn({2, 4}, 2);
  EXPECT_TRUE(throws_mentioning([&] { ops::cat({a, b}, 0); }, {"cat", "tensor 1", "[2, 4]", "[2, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::cat({a, a}, 2); }, {"cat", "dim 2", "out of range"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::cat({a, randn({2, 3}, 3, DType::f32)}, 0); }, {"cat", "float32"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::cat({}, 0); }, {"cat", "non-empty"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::stack({a, b}); }, {"stack", "[2, 4]", "[2, 3]"}));
  EXPECT_TRUE(throws_mentioning(
      [&] {
        ops::split_with_sizes(a, {1, 1}, 1);
      },
      {"split_with_sizes", "sum to 2", "[2, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::chunk(a, 0); }, {"chunk", "positive"}));
  EXPECT_TRUE(throws_mentioning(
      [&] {
        ops::pad(a, {3, 0}, ops::PadMode::reflect);
      },
      {"pad", "reflect", "(3, 0)", "[2, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::pad(a, {1}); }, {"pad", "even"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::pad(a, {1, 1, 1, 1, 1, 1}); }, {"pad", "3 dims", "[2, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::pad(a, {-2, -2}); }, {"pad", "negative size", "[2, 3]"}));
  EXPECT_TRUE(throws_mentioning([] { ops::pad_mode_from_name("circular"); }, {"pad", "circular"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::repeat(a, {2}); }, {"repeat", "[2, 3]"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::roll(a, {1, 2}); }, {"roll", "one shift"}));
  EXPECT_TRUE(throws_mentioning([&] { ops::roll(a, {1, 2}, {0}); }, {"roll", "same length"}));
  const Tensor idx = Tensor::from_vector({3}, {1}, DType::i64);
  EXPECT_TRUE(
      throws_mentioning([&] { ops::index_select(a, 1, idx); }, {"index_select", "index 3", "[2, 3]"}));
  EXPECT_TRUE(
      throws_mentioning([&] { ops::index_select(a, 1, Tensor::zeros({1})); }, {"index_select", "int64"}));
  EXPECT_TRUE(throws_mentioning(
      [&] {
        ops::channel_shuffle(randn({2, 5, 3}, 4), 3);
      },
      {"channel_shuffle", "5 channels", "groups=3"}));
  EXPECT_TRUE(
      throws_mentioning([&] { ops::channel_shuffle(a, 1); }, {"channel_shuffle", "> 2 dims", "[2, 3]"}));
}
