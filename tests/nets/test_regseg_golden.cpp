// RegSeg (nets/regseg.h) against tests/goldens/regseg.json: upstream zh320
// RegSeg(num_class=19), det-filled parameters; the second size (96x160) is
// non-square with odd 1/32 maps (RegSeg takes multiples of 32 only).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/regseg.h"
#include "nn/registry.h"
#include "runtime/tensor.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& regseg_golden() {
  static const golden::Golden g = golden::Golden::load("regseg");
  return g;
}

const nn::Json kUpstreamDilations = {{1, 1}, {1, 2}, {1, 2}, {1, 3},  {2, 3}, {2, 7}, {2, 3},
                                     {2, 6}, {2, 5}, {2, 9}, {2, 11}, {4, 7}, {5, 14}};

}  // namespace

TEST(RegSegGolden, StateDictEqualsUpstream) {
  const auto& g = regseg_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(RegSegGolden, EvalLogits) {
  const auto& g = regseg_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden, as every net's (tests/goldens/README.md).
TEST(RegSegGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("regseg_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss()));
}

TEST(RegSegGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto regseg = nn::create_net({{"name", "regseg"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { regseg->load_state_dict(state); },
      {"RegSeg", "missing", "stage_d16.12.conv2.0.se_block.2.weight", "unexpected",
       "learning_to_downsample.0.0.weight"}));
}

TEST(RegSegGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "regseg"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "regseg"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"dilations", kUpstreamDilations},
                                {"act_type", "relu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "regseg"}, {"num_classes", 19}, {"act_type", "mish"}}); },
      {"regseg", "act_type", "mish"}));
}

// Upstream raises unless there are 13 pairs; a pair must be two integers, and
// the registry leaves these nested lists to the net to check.
TEST(RegSegGolden, DilationsAreThirteenPairs) {
  nn::Json twelve = kUpstreamDilations;
  twelve.erase(twelve.size() - 1);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "regseg"}, {"num_classes", 19}, {"dilations", twelve}}); },
      {"RegSeg", "13 pairs", "12"}));
  nn::Json triple = kUpstreamDilations;
  triple[3] = {1, 2, 3};
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "regseg"}, {"num_classes", 19}, {"dilations", triple}}); },
      {"regseg", "[r1, r2]", "[1,2,3]"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "regseg"}, {"num_classes", 19}, {"dilations", "default"}}); },
      {"regseg", "dilations", "\"default\""}));
}

// The pairs reach stage_d16's stride-1 blocks: the same (det-filled)
// weights at other dilations give other logits.
TEST(RegSegGolden, DilationsReachTheStride1Blocks) {
  nn::Json changed = kUpstreamDilations;
  changed[0] = {3, 1};
  auto a = nn::create_net({{"name", "regseg"}, {"num_classes", 3}});
  auto b = nn::create_net({{"name", "regseg"}, {"num_classes", 3}, {"dilations", changed}});
  golden::fill_det_params(*a, 0);
  golden::fill_det_params(*b, 0);
  a->eval();
  b->eval();
  const Tensor x = cudaseg::testing::randn({1, 3, 64, 64}, 7, DType::f32);
  EXPECT_GT(cudaseg::testing::rel_l2(b->forward(x), a->forward(x)), 1e-3);
}

// Upstream fails adding a stride-2 block's conv (rounding up) to its
// average-pooled shortcut (rounding down); cudaseg refuses such sizes up front.
TEST(RegSegGolden, RefusesSizesTheShortcutsCannotMatch) {
  auto net = nn::create_net({{"name", "regseg"}, {"num_classes", 19}});
  net->eval();
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 48, 96})); },
                                                  {"RegSeg", "multiples of 32"}));
}
