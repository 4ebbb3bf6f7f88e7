#include <gtest/gtest.h>

#include "autograd/attention.h"
#include "common/testing.h"

using namespace cudaseg;
using cudaseg::testing::gradcheck_ok;
using cudaseg::testing::leaf;

TEST(AttentionGrad, QueryKeyValue) {
  auto f = [](const std::vector<Tensor>& x) { return fn::scaled_dot_product_attention(x[0], x[1], x[2]); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 4}, 1), leaf({2, 5, 4}, 2), leaf({2, 5, 3}, 3)}));
}

TEST(AttentionGrad, BroadcastBiasOverWindows) {
  // A per-head bias [heads, Lq, Lk] shared by the windows: its gradient sums over them.
  auto f = [](const std::vector<Tensor>& x) { return fn::scaled_dot_product_attention(x[0], x[1], x[2], x[3]); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({3, 2, 4, 3}, 4), leaf({3, 2, 4, 3}, 5), leaf({3, 2, 4, 2}, 6), leaf({2, 4, 4}, 7)}));
}

TEST(AttentionGrad, BroadcastKeyValueAndMask) {
  // Lq != Lk, key/value broadcast over heads, a mask that drops some keys.
  std::vector<double> m(2 * 5, 1.0);
  m[1] = m[7] = 0.0;
  const Tensor mask = Tensor::from_vector(m, {2, 1, 1, 5}, DType::boolean);
  auto f = [mask](const std::vector<Tensor>& x) {
    return fn::scaled_dot_product_attention(x[0], x[1], x[2], x[3], mask, 0.8);
  };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 2, 3, 4}, 8), leaf({2, 1, 5, 4}, 9), leaf({2, 1, 5, 3}, 10), leaf({5}, 11)}));
}
