#include <gtest/gtest.h>

#include "autograd/linalg.h"
#include "common/testing.h"

using namespace cudaseg;
using cudaseg::testing::gradcheck_ok;
using cudaseg::testing::leaf;

TEST(LinalgGrad, MatmulBroadcastBatch) {
  auto f = [](const std::vector<Tensor>& x) { return fn::matmul(x[0], x[1]); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 1, 3, 4}, 1), leaf({5, 4, 2}, 2)}));
  EXPECT_TRUE(gradcheck_ok(f, {leaf({3, 5}, 3), leaf({5, 2}, 4)}));
}

TEST(LinalgGrad, MatmulOneDimensional) {
  auto f = [](const std::vector<Tensor>& x) { return fn::matmul(x[0], x[1]); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({4}, 5), leaf({4}, 6)}));
  EXPECT_TRUE(gradcheck_ok(f, {leaf({4}, 7), leaf({2, 4, 3}, 8)}));
  EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 4}, 9), leaf({4}, 10)}));
}

TEST(LinalgGrad, MatmulTransposedLeaf) {
  // A leaf that is itself a transposed view: BLAS reads it with the transpose flag.
  Tensor bt = cudaseg::testing::randn({5, 4}, 12).transpose(0, 1);
  bt.set_requires_grad(true);
  auto f = [](const std::vector<Tensor>& x) { return fn::matmul(x[0], x[1]); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({3, 4}, 11), bt}));
}

TEST(LinalgGrad, Bmm) {
  auto f = [](const std::vector<Tensor>& x) { return fn::bmm(x[0], x[1]); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 4}, 13), leaf({2, 4, 5}, 14)}));
}

TEST(LinalgGrad, Linear) {
  auto f = [](const std::vector<Tensor>& x) { return fn::linear(x[0], x[1], x[2]); };
  EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 5}, 15), leaf({4, 5}, 16), leaf({4}, 17)}));
  auto g = [](const std::vector<Tensor>& x) { return fn::linear(x[0], x[1]); };
  EXPECT_TRUE(gradcheck_ok(g, {leaf({5}, 18), leaf({4, 5}, 19)}));
}
