// ops::conv2d_act: the convolution with its activation applied as it stores
// (PReLU with one or per-channel slopes, then a clamp: relu, relu6, then
// GELU) equals
// the activation ops applied to conv2d's output, bit for bit, on every CPU
// path (the direct float32 kernel, depthwise, small maps' pixel rows,
// float64), NaN included; and its
// arguments are checked.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>

#include "ops/activation.h"
#include "ops/conv.h"
#include "ops/unary.h"
#include "runtime/error.h"
#include "runtime/rng.h"

using namespace cudaseg;

namespace {

Tensor reference(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dParams& p,
                 const ops::ConvAct& act) {
  Tensor y = ops::conv2d(x, w, b, p);
  if (act.slope.defined()) y = ops::prelu(y, act.slope);
  const std::optional<double> lo = act.lo > -INFINITY ? std::optional<double>(act.lo) : std::nullopt;
  const std::optional<double> hi = act.hi < INFINITY ? std::optional<double>(act.hi) : std::nullopt;
  if (lo || hi) y = ops::clamp(y, lo, hi);
  return act.gelu ? ops::gelu(y) : y;
}

void expect_identical(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<double> a = got.to_vector(), b = want.to_vector();
  int64_t nans = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(b[i])) {
      ++nans;
      ASSERT_TRUE(std::isnan(a[i])) << what << ": NaN lost at " << i;
      continue;
    }
    ASSERT_EQ(a[i], b[i]) << what << " at " << i;
  }
  EXPECT_GT(nans, 0) << what << ": the NaN input reached no output";
}

TEST(ConvAct, EqualsTheActivationOpsAfterConv2dOnEveryCpuPath) {
  struct Path {
    const char* name;
    int64_t c, o, groups, k;
    DType dtype;
    int64_t h = 13, w = 37;
  };
  const Path paths[] = {{"direct f32", 6, 11, 1, 3, DType::f32},
                        {"direct f32 grouped", 8, 12, 2, 3, DType::f32},
                        {"direct f32 pointwise", 8, 9, 1, 1, DType::f32},
                        {"depthwise f32", 7, 7, 7, 3, DType::f32},
                        {"im2col f64", 5, 9, 1, 3, DType::f64},
                        {"small map f32 pointwise", 20, 32, 1, 1, DType::f32, 7, 9},
                        // 196 pixel rows: 32 tiles of 6 rows and one of 4.
                        {"small map f32 pointwise 14x14", 20, 32, 1, 1, DType::f32, 14, 14},
                        {"small map f32 unfolded 3x3", 20, 32, 1, 3, DType::f32, 7, 9},
                        {"small map f32 depthwise 5x5", 24, 24, 24, 5, DType::f32, 7, 9}};
  for (const Path& path : paths) {
    Generator gen(11);
    Tensor x = gen.uniform({2, path.c, path.h, path.w}, -1, 1, path.dtype);
    // One NaN input: it must reach the outputs whose window covers it.
    x.narrow(2, path.h / 2, 1).narrow(3, path.w / 2, 1).narrow(1, 0, 1).fill_(NAN);
    const Tensor w = gen.uniform({path.o, path.c / path.groups, path.k, path.k}, -1, 1, path.dtype);
    const Tensor b = gen.uniform({path.o}, -1, 1, path.dtype);
    ops::Conv2dParams p;
    p.padding = {path.k / 2, path.k / 2};
    p.groups = path.groups;
    const Tensor per_channel = gen.uniform({path.o}, -0.5, 0.5, path.dtype);
    const Tensor shared = Tensor::full({1}, 0.25, path.dtype);
    struct Act {
      const char* name;
      ops::ConvAct act;
    };
    const Act acts[] = {{"relu", {Tensor(), 0.0, INFINITY}},
                        {"relu6", {Tensor(), 0.0, 6.0}},
                        {"prelu per channel", {per_channel}},
                        {"prelu shared", {shared}},
                        {"prelu then clamp", {per_channel, -0.1, 0.4}},
                        {"gelu", {Tensor(), -INFINITY, INFINITY, true}},
                        {"prelu then clamp then gelu", {per_channel, -0.1, 0.4, true}},
                        {"none", {}}};
    for (const Act& a : acts)
      expect_identical(ops::conv2d_act(x, w, b, p, a.act), reference(x, w, b, p, a.act),
                       std::string(path.name) + ", " + a.name);
  }
}

TEST(ConvAct, RefusesASlopeOfTheWrongLengthAndAnEmptyRange) {
  const Tensor x = Tensor::zeros({1, 4, 8, 8}), w = Tensor::zeros({6, 4, 3, 3});
  ops::ConvAct act;
  act.slope = Tensor::zeros({4});
  try {
    ops::conv2d_act(x, w, Tensor(), {}, act);
    FAIL() << "a 4-value slope for 6 channels was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("PReLU slope of 4 values for 6 output channels"), std::string::npos)
        << e.what();
  }
  ops::ConvAct empty;
  empty.lo = 1.0;
  empty.hi = 0.0;
  EXPECT_THROW(ops::conv2d_act(x, w, Tensor(), {}, empty), Error);
}

}  // namespace
