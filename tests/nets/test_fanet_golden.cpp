// FANet (nets/fanet.h) against tests/goldens/fanet.json: upstream zh320
// FANet(num_class=19) with its default torchvision resnet18 (built without
// downloading, random init, see tools/goldens/upstream.py), det-filled
// parameters, at 64x128 and 128x192 (not square; multiples of 64, as the
// top-down additions from the stride-64 stage need). Upstream's train step
// runs with the clone of tools/goldens/upstream.py's OUTPUT_CLONES (its
// in-place `y += residual` on a saved ReLU output cannot backpropagate).
#include <gtest/gtest.h>

#include <map>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/linalg.h"
#include "autograd/norm.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/fanet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& fanet_golden() {
  static const golden::Golden g = golden::Golden::load("fanet");
  return g;
}

// Upstream's order: normalize(q) @ (normalize(k)^T @ v) / n, an n x n product.
Tensor naive_fast_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  const Tensor kt = fn::transpose(fn::normalize(k, 2.0, 1), 1, 2);
  return fn::div(fn::matmul(fn::normalize(q, 2.0, 1), fn::matmul(kt, v)), static_cast<double>(q.size(2)));
}

}  // namespace

TEST(FANetGolden, StateDictEqualsUpstream) {
  const auto& g = fanet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(FANetGolden, EvalLogits) {
  const auto& g = fanet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden, as for every net here: the
// stride-64 stage is 1x2 (2x3) at these sizes, so its train-mode
// BatchNorms see 4 (12) values per channel.
TEST(FANetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("fanet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

// The linear-memory order equals upstream's n x n order, values and
// gradients (float64, rounding only).
TEST(FANetFastAttention, LinearOrderEqualsNaiveOrder) {
  const Shape shape{2, 5, 37};
  const Tensor q = cudaseg::testing::randn(shape, 1), k = cudaseg::testing::randn(shape, 2),
               v = cudaseg::testing::randn(shape, 3);
  EXPECT_TRUE(cudaseg::testing::all_close(nets::fast_attention_product(q, k, v), naive_fast_attention(q, k, v),
                                          1e-14, 1e-12));
  std::vector<Tensor> grads[2];
  for (int order = 0; order < 2; ++order) {
    std::vector<Tensor> in;
    for (uint64_t s = 1; s <= 3; ++s) in.push_back(cudaseg::testing::leaf(shape, s));
    const Tensor y = order == 0 ? nets::fast_attention_product(in[0], in[1], in[2])
                                : naive_fast_attention(in[0], in[1], in[2]);
    const Tensor w = cudaseg::testing::randn(shape, 4);
    autograd::backward(fn::sum(fn::mul(y, w)));
    for (const auto& t : in) grads[order].push_back(t.grad());
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(cudaseg::testing::all_close(grads[0][i], grads[1][i], 1e-12, 1e-10));
  EXPECT_TRUE(cudaseg::testing::gradcheck_ok(
      [](const std::vector<Tensor>& in) { return nets::fast_attention_product(in[0], in[1], in[2]); },
      {cudaseg::testing::leaf({1, 3, 6}, 5), cudaseg::testing::leaf({1, 3, 6}, 6),
       cudaseg::testing::leaf({1, 3, 6}, 7)}));
}

TEST(FANetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto fanet = nn::create_net({{"name", "fanet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "swiftnet"}, {"num_classes", 19}});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { fanet->load_state_dict(golden::state_map(*other)); },
      {"FANet", "missing", "fast_attention.0.conv_q.0.weight", "unexpected", "decoder.up_stage3.0.weight"}));
}

TEST(FANetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "fanet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "fanet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"att_channel", 32},
                                {"backbone_type", "resnet18"},
                                {"cat_feat", true},
                                {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "fanet"}, {"num_classes", 19}, {"backbone_type", "resnet50"}}); },
      {"fanet", "backbone_type", "resnet50"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "fanet"}, {"num_classes", 19}, {"pretrained", true}}); },
      {"fanet", "pretrained"}));
}

// cat_feat false: the SegHead reads the stride-8 stage alone (32 channels).
TEST(FANetGolden, WithoutCatFeatTheSegHeadReadsOneStage) {
  auto net = nn::create_net({{"name", "fanet"}, {"num_classes", 19}, {"cat_feat", false}});
  EXPECT_EQ(golden::state_map(*net).at("seg_head.0.0.weight").shape(), (Shape{128, 32, 3, 3}));
  net->eval();
  EXPECT_EQ(net->forward(Tensor::zeros({1, 3, 64, 128})).shape(), (Shape{1, 19, 64, 128}));
}

TEST(FANetGolden, RejectsSizesNotMultipleOf64) {
  auto net = nn::create_net({{"name", "fanet"}, {"num_classes", 19}});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 96, 128})); },
                                                  {"FANet", "multiples of 64"}));
}
