#include <gtest/gtest.h>

#include <cmath>

#include "autograd/loss.h"
#include "common/testing.h"

using namespace cudaseg;
using cudaseg::testing::gradcheck_ok;
using cudaseg::testing::leaf;
using ops::Reduction;

namespace {

Tensor targets(const Shape& shape, int64_t classes, int64_t ignore, uint64_t seed) {
  std::vector<double> t = cudaseg::testing::uniform(shape, 0, static_cast<double>(classes), seed).to_vector();
  for (size_t i = 0; i < t.size(); ++i) t[i] = i % 5 == 2 ? static_cast<double>(ignore) : std::floor(t[i]);
  return Tensor::from_vector(t, shape, DType::i64);
}

Tensor positive_leaf(const Shape& shape, uint64_t seed) {
  Tensor t = cudaseg::testing::uniform(shape, 0.1, 1.0, seed);
  t.set_requires_grad(true);
  return t;
}

}  // namespace

TEST(LossGrad, CrossEntropyEachReduction) {
  const Tensor target = targets({2, 3, 2}, 4, 255, 1);
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    ops::CrossEntropyOptions o;
    o.weight = cudaseg::testing::uniform({4}, 0.5, 2, 2);
    o.ignore_index = 255;
    o.reduction = r;
    auto f = [&](const std::vector<Tensor>& x) { return fn::cross_entropy(x[0], target, o); };
    EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 4, 3, 2}, 3)})) << ops::reduction_name(r);
  }
}

TEST(LossGrad, OhemBothRegimes) {
  const Tensor target = targets({2, 4, 5}, 3, 255, 4);
  for (double thresh : {0.7, 1e-3}) {
    ops::OhemOptions o;
    o.thresh = thresh;
    auto f = [&](const std::vector<Tensor>& x) { return fn::ohem_cross_entropy(x[0], target, o); };
    EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 4, 5}, 5)})) << thresh;
  }
}

TEST(LossGrad, BinaryCrossEntropyWithLogits) {
  ops::BCEWithLogitsOptions o;
  o.weight = cudaseg::testing::uniform({3, 1}, 0.5, 2, 6);
  o.pos_weight = cudaseg::testing::uniform({4}, 0.5, 3, 7);
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    o.reduction = r;
    auto f = [&](const std::vector<Tensor>& x) { return fn::binary_cross_entropy_with_logits(x[0], x[1], o); };
    EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 4}, 8), positive_leaf({2, 3, 4}, 9)})) << ops::reduction_name(r);
  }
}

TEST(LossGrad, Dice) {
  for (bool sig : {false, true}) {
    ops::DiceOptions o;
    o.apply_sigmoid = sig;
    auto f = [&](const std::vector<Tensor>& x) { return fn::dice_loss(x[0], x[1], o); };
    EXPECT_TRUE(gradcheck_ok(f, {positive_leaf({2, 1, 3, 4}, 10), positive_leaf({2, 1, 3, 4}, 11)})) << sig;
    o.reduction = Reduction::none;
    EXPECT_TRUE(gradcheck_ok(f, {leaf({3, 5}, 12), positive_leaf({3, 5}, 13)})) << sig;
  }
}

TEST(LossGrad, KlDivAndKd) {
  for (Reduction r : {Reduction::mean, Reduction::batchmean, Reduction::sum, Reduction::none}) {
    auto f = [&](const std::vector<Tensor>& x) { return fn::kl_div(x[0], x[1], r); };
    EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 3, 4}, 14), positive_leaf({2, 3, 4}, 15)})) << ops::reduction_name(r);
    auto g = [&](const std::vector<Tensor>& x) { return fn::kl_div(x[0], x[1], r, true); };
    EXPECT_TRUE(gradcheck_ok(g, {leaf({2, 3, 4}, 16), leaf({2, 3, 4}, 17)})) << ops::reduction_name(r);
  }
  const Tensor teacher = cudaseg::testing::randn({2, 4, 3, 2}, 18);
  for (Reduction r : {Reduction::mean, Reduction::batchmean, Reduction::sum}) {
    auto f = [&](const std::vector<Tensor>& x) { return fn::kd_loss(x[0], teacher, 4.0, r); };
    EXPECT_TRUE(gradcheck_ok(f, {leaf({2, 4, 3, 2}, 19)})) << ops::reduction_name(r);
  }
}

TEST(LossGrad, Regression) {
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    auto mse = [&](const std::vector<Tensor>& x) { return fn::mse_loss(x[0], x[1], r); };
    auto l1 = [&](const std::vector<Tensor>& x) { return fn::l1_loss(x[0], x[1], r); };
    auto sl1 = [&](const std::vector<Tensor>& x) { return fn::smooth_l1_loss(x[0], x[1], r, 0.8); };
    EXPECT_TRUE(gradcheck_ok(mse, {leaf({3, 5}, 20), leaf({3, 5}, 21)}));
    EXPECT_TRUE(gradcheck_ok(l1, {leaf({3, 5}, 22), leaf({3, 5}, 23)}));
    EXPECT_TRUE(gradcheck_ok(sl1, {leaf({3, 5}, 24), leaf({3, 5}, 25)}));
  }
}
