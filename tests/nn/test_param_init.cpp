// det_param against literal values printed by `python3 tools/goldens/detparams.py
// --selftest` (bit-exact float32 compare via the bit patterns).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "nn/param_init.h"
#include "runtime/error.h"

namespace cudaseg::nn {
namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

struct Case {
  const char* name;
  Shape shape;
  uint64_t seed;
  ParamRule rule;
  uint64_t key;
  std::vector<uint32_t> first;
  double sum;
};

TEST(ParamInit, MatchesPython) {
  const std::vector<Case> cases = {
      {"stage1.0.weight", {32, 3, 3, 3}, 0, ParamRule::FanIn, 0xba85a9a61788bd83ull,
       {0xbe8d4737, 0x3de94c16, 0x3d2acacb, 0xbda22496}, 9.444019000084154},
      {"stage1.1.running_var", {32}, 0, ParamRule::RunningVar, 0xab44fa18e48fe169ull,
       {0x3fa7f09a, 0x3f0cab43, 0x3f6e5842, 0x3f86663a}, 31.799304962158203},
      {"encoder.encoder.stage3.0.block1.1.bias", {128}, 1234, ParamRule::Bias, 0xdded1ef13227b895ull,
       {0xbe1c50d3, 0x3dedd3a3, 0x3d96b943, 0x3e185630}, 0.5602814034209587},
      {"initial.conv.2.activation.weight", {1}, 1234, ParamRule::ScalarWeight, 0x61d7815c182b1dfaull,
       {0x3d89cf10}, 0.06728947162628174},
      {"block1.0.attn.kv.weight", {64, 32}, 1234, ParamRule::FanIn, 0x941353922aa99aacull,
       {0xbe58db22, 0x3e8ea652, 0xbc80dd59, 0xbe9960a8}, -7.162271367153153},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(det_stream_key(c.name, c.seed), c.key);
    EXPECT_EQ(det_rule(c.name, c.shape, DType::f32), c.rule);
    const Tensor t = det_param(c.name, c.shape, DType::f32, c.seed);
    ASSERT_EQ(t.shape(), c.shape);
    ASSERT_EQ(t.dtype(), DType::f32);
    const float* p = t.data<float>();
    for (size_t i = 0; i < c.first.size(); ++i) EXPECT_EQ(bits_of(p[i]), c.first[i]) << "element " << i;
    double sum = 0;
    for (int64_t i = 0; i < t.numel(); ++i) sum += static_cast<double>(p[i]);
    EXPECT_EQ(sum, c.sum);
  }
}

TEST(ParamInit, InputAndLabelStreams) {
  const Tensor x = det_uniform("input", {1, 3, 4, 5}, -1.0, 1.0, 7);
  const std::vector<uint32_t> first = {0xbd6cf7a0, 0x3f3f584e, 0x3f056ec4, 0x3f772e46};
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(bits_of(x.data<float>()[i]), first[i]);
  const Tensor y = det_labels("labels", {2, 10}, 19, 7);
  const std::vector<int64_t> want = {10, 5, 255, 18, 8, 14, 8, 0, 12, 15, 15, 14, 14, 15, 15, 0, 18, 0, 255, 16};
  ASSERT_EQ(y.dtype(), DType::i64);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y.data<int64_t>()[i], want[i]) << i;
}

TEST(ParamInit, Rules) {
  EXPECT_EQ(det_rule("a.num_batches_tracked", {}, DType::i64), ParamRule::ZeroInt);
  EXPECT_EQ(det_rule("a.relative_position_index", {4, 4}, DType::i64), ParamRule::Keep);
  EXPECT_EQ(det_rule("bn.running_mean", {8}, DType::f32), ParamRule::RunningMean);
  EXPECT_EQ(det_rule("bn.weight", {8}, DType::f32), ParamRule::NormWeight);
  EXPECT_EQ(det_rule("conv.bias", {8}, DType::f32), ParamRule::Bias);
  EXPECT_EQ(det_rule("pos_embed", {1, 16, 8}, DType::f32), ParamRule::Other);
  const Tensor n = det_param("bn.num_batches_tracked", {}, DType::i64, 0);
  EXPECT_EQ(n.dtype(), DType::i64);
  EXPECT_EQ(n.item(), 0.0);
  EXPECT_THROW(det_param("a.relative_position_index", {4, 4}, DType::i64, 0), Error);
  // The FAN_IN bound holds, and BN scales stay in [0.5, 1.5].
  const Tensor w = det_param("conv.weight", {16, 8, 3, 3}, DType::f32, 5);
  for (double v : w.to_vector()) EXPECT_LE(std::abs(v), std::sqrt(3.0 / 72.0) + 1e-7);
  for (double v : det_param("bn.weight", {64}, DType::f32, 5).to_vector()) {
    EXPECT_GE(v, 0.5);
    EXPECT_LE(v, 1.5);
  }
  // Other floating dtypes are the f32 values converted.
  const Tensor d = det_param("conv.weight", {16, 8, 3, 3}, DType::f64, 5);
  EXPECT_EQ(d.to_vector(), w.to_vector());
}

}  // namespace
}  // namespace cudaseg::nn
