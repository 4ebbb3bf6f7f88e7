// Gradchecks of the pooling ops (float64, finite differences).
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "autograd/engine.h"
#include "autograd/pool.h"
#include "common/testing.h"

using namespace cudaseg;
using cudaseg::testing::gradcheck_ok;
using cudaseg::testing::leaf;

namespace {

// A random permutation of well-separated values: no ties, and no two values
// closer than the finite-difference step, so every argmax is stable.
Tensor distinct_leaf(const Shape& shape, uint64_t seed) {
  const std::vector<double> r = cudaseg::testing::randn(shape, seed).to_vector();
  std::vector<size_t> order(r.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r[a] < r[b]; });
  std::vector<double> v(r.size());
  for (size_t rank = 0; rank < order.size(); ++rank) v[order[rank]] = 0.1 * static_cast<double>(rank) - 2.0;
  Tensor t = Tensor::from_vector(v, shape, DType::f64);
  t.set_requires_grad(true);
  return t;
}

}  // namespace

TEST(PoolGrad, MaxPool2d) {
  const Tensor x = distinct_leaf({2, 2, 7, 9}, 1);
  // Overlapping windows (an input may be the max of several), ceil mode, padding, dilation.
  const std::vector<ops::MaxPool2dParams> configs = {
      {{3, 3}, {2, 2}, {1, 1}, {1, 1}, true},
      {{3, 2}, {1, 3}, {1, 1}, {2, 1}, false},
      {{2, 2}},
  };
  for (const auto& p : configs)
    EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& in) { return fn::max_pool2d(in[0], p); }, {x}));
}

TEST(PoolGrad, MaxUnpool2d) {
  const Tensor source = distinct_leaf({2, 2, 6, 7}, 2);
  const Tensor indices = ops::max_pool2d_with_indices(source.detach(), {{2, 2}, {2, 2}, {0, 0}, {1, 1}, true}).second;
  const Tensor x = leaf(indices.shape(), 3);
  EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& in) { return fn::max_unpool2d(in[0], indices, {6, 7}); },
                           {x}));
}

TEST(PoolGrad, AvgPool2d) {
  const Tensor x = leaf({2, 2, 7, 9}, 4);
  std::vector<ops::AvgPool2dParams> configs;
  for (bool include : {true, false})
    for (bool ceil_mode : {false, true}) configs.push_back({{3, 2}, {2, 3}, {1, 1}, ceil_mode, include, std::nullopt});
  configs.push_back({{2, 3}, {1, 1}, {1, 0}, false, true, 4});
  for (const auto& p : configs)
    EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& in) { return fn::avg_pool2d(in[0], p); }, {x}));
}

TEST(PoolGrad, AdaptivePools) {
  const Tensor x = distinct_leaf({2, 2, 7, 5}, 5);
  for (const std::array<int64_t, 2> s : {std::array<int64_t, 2>{3, 4}, {9, 8}, {1, 1}}) {
    EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& in) { return fn::adaptive_avg_pool2d(in[0], s); }, {x}));
    EXPECT_TRUE(gradcheck_ok([&](const std::vector<Tensor>& in) { return fn::adaptive_max_pool2d(in[0], s); }, {x}));
  }
}

TEST(PoolGrad, IndicesDoNotRequireGradAndNoGradRecordsNothing) {
  const Tensor x = leaf({1, 1, 4, 4}, 6);
  auto [out, idx] = fn::max_pool2d_with_indices(x, {{2, 2}});
  EXPECT_TRUE(out.requires_grad());
  EXPECT_FALSE(idx.requires_grad());
  autograd::NoGradGuard guard;
  EXPECT_FALSE(fn::avg_pool2d(x, {{2, 2}}).requires_grad());
}
