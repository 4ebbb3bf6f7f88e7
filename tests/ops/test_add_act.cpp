// ops::add_act: act(a + b) in one pass equals ops::add then ops::prelu and
// ops::clamp (and ops::gelu, which takes the unfused path), bit for bit, in
// float32 and float64, NaN, infinities and signed zeros included; and its
// arguments are checked.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <string>

#include "common/testing.h"
#include "ops/activation.h"
#include "ops/binary.h"
#include "ops/conv.h"
#include "ops/norm.h"
#include "ops/unary.h"

using namespace cudaseg;

namespace {

Tensor activate(Tensor y, const ops::ConvAct& act) {
  if (act.slope.defined()) y = ops::prelu(y, act.slope);
  const std::optional<double> lo = act.lo > -INFINITY ? std::optional<double>(act.lo) : std::nullopt;
  const std::optional<double> hi = act.hi < INFINITY ? std::optional<double>(act.hi) : std::nullopt;
  if (lo || hi) y = ops::clamp(y, lo, hi);
  return act.gelu ? ops::gelu(y) : y;
}

Tensor reference(const Tensor& a, const Tensor& b, const ops::ConvAct& act) { return activate(ops::add(a, b), act); }

// Equal bits (any NaN equals any NaN).
void expect_identical(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  const std::vector<double> a = got.to_vector(), b = want.to_vector();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(b[i])) {
      ASSERT_TRUE(std::isnan(a[i])) << what << ": NaN lost at " << i;
      continue;
    }
    ASSERT_EQ(std::memcmp(&a[i], &b[i], sizeof(double)), 0) << what << " at " << i << ": " << a[i] << " vs " << b[i];
  }
}

TEST(AddAct, EqualsTheSumThenTheActivationOps) {
  for (DType dtype : {DType::f32, DType::f64})
    for (const Shape& shape : {Shape{2, 5, 7, 9}, Shape{1, 3, 1, 1}, Shape{4, 6}, Shape{1, 70, 300}}) {
      Tensor a = cudaseg::testing::randn(shape, 11).to(dtype), b = cudaseg::testing::randn(shape, 12).to(dtype);
      // Specials where they meet: NaN, infinities of both signs, -0 + -0.
      const double specials[][2] = {{NAN, 1.0}, {INFINITY, -2.0}, {-INFINITY, 3.0}, {-0.0, -0.0}, {1e30, 1e30}};
      for (int64_t k = 0; k < 5 && k < a.numel(); ++k) {
        a.view({a.numel()}).narrow(0, k, 1).fill_(specials[k][0]);
        b.view({b.numel()}).narrow(0, k, 1).fill_(specials[k][1]);
      }
      const int64_t c = shape[1];
      struct Act {
        const char* name;
        ops::ConvAct act;
      };
      const Act acts[] = {
          {"relu", {Tensor(), 0.0, INFINITY}},
          {"relu6", {Tensor(), 0.0, 6.0}},
          {"prelu shared", {Tensor::full({1}, 0.25, dtype, Device::cpu())}},
          {"prelu per channel", {cudaseg::testing::randn({c}, 13).to(dtype)}},
          {"prelu then clamp", {cudaseg::testing::randn({c}, 14).to(dtype), -0.5, 0.5}},
          {"gelu (unfused)", {Tensor(), -INFINITY, INFINITY, true}},
      };
      for (const Act& act : acts) {
        const std::string what = std::string(dtype_name(dtype)) + " " + shape_str(shape) + " " + act.name;
        expect_identical(ops::add_act(a, b, act.act), reference(a, b, act.act), what);
        // Strided operands are read as they are.
        expect_identical(ops::add_act(a.transpose(0, 1).contiguous().transpose(0, 1), b, act.act),
                         reference(a, b, act.act), what + " (strided input)");
      }
    }
}

// act(batch_norm(a + b)) with running statistics: the bits of add,
// batch_norm and the activation ops in turn, with and without an affine
// weight, float32 and float64.
TEST(AddAct, WithABatchNormEqualsTheThreeOps) {
  for (DType dtype : {DType::f32, DType::f64})
    for (bool affine : {true, false}) {
      const Shape shape{2, 6, 5, 11};
      Tensor a = cudaseg::testing::randn(shape, 21).to(dtype), b = cudaseg::testing::randn(shape, 22).to(dtype);
      a.view({a.numel()}).narrow(0, 3, 1).fill_(NAN);
      const Tensor mean = cudaseg::testing::randn({6}, 23).to(dtype);
      const Tensor var = ops::add(ops::mul(cudaseg::testing::randn({6}, 24), cudaseg::testing::randn({6}, 24)), 0.1).to(dtype);
      const Tensor w = affine ? cudaseg::testing::randn({6}, 25).to(dtype) : Tensor();
      const Tensor bias = affine ? cudaseg::testing::randn({6}, 26).to(dtype) : Tensor();
      for (const ops::ConvAct& act : {ops::ConvAct{Tensor(), 0.0, INFINITY},
                                      ops::ConvAct{cudaseg::testing::randn({6}, 27).to(dtype)},
                                      ops::ConvAct{Tensor(), -INFINITY, INFINITY, true}}) {
        const Tensor bn = ops::batch_norm(ops::add(a, b), mean, var, w, bias, false, 0.1, 1e-3);
        const std::string what = std::string(dtype_name(dtype)) + (affine ? " affine" : "") +
                                 (act.slope.defined() ? " prelu" : act.gelu ? " gelu" : " relu");
        expect_identical(ops::add_batch_norm_act(a, b, mean, var, w, bias, 1e-3, act),
                         activate(bn, act), what);
      }
    }
  const Tensor a = cudaseg::testing::randn({1, 3, 2, 2}, 1);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { ops::add_batch_norm_act(a, a, cudaseg::testing::randn({2}, 2), cudaseg::testing::randn({3}, 3), Tensor(), Tensor(), 1e-5, {}); },
      {"add_batch_norm_act", "running_mean of 2 values", "3 channels"}));
}

TEST(AddAct, ChecksItsArguments) {
  const Tensor a = cudaseg::testing::randn({2, 3, 4, 4}, 1), b = cudaseg::testing::randn({2, 3, 4, 4}, 2);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { ops::add_act(a, cudaseg::testing::randn({2, 3, 4, 5}, 3), {}); },
                                         {"add_act", "[2, 3, 4, 4]", "[2, 3, 4, 5]", "one shape"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { ops::add_act(a, b, {Tensor(), 1.0, 0.0}); },
                                         {"add_act", "clamp range", "empty"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { ops::add_act(a, b, {cudaseg::testing::randn({2}, 4)}); },
                                         {"add_act", "slope of 2 values", "3 channels"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { ops::add_act(a, b.to(DType::f32), {}); }, {"add_act"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { ops::add_act(Tensor(), b, {}); }, {"add_act", "input"}));
}

}  // namespace
