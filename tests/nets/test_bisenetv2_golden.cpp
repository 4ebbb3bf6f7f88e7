// BiSeNetv2 (nets/bisenetv2.h) against tests/goldens/bisenetv2_aux.json:
// upstream zh320 BiSeNetv2(num_class=19, use_aux=True), det-filled parameters.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/bisenetv2.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& bisenetv2_golden() {
  static const golden::Golden g = golden::Golden::load("bisenetv2_aux");
  return g;
}

}  // namespace

TEST(BiSeNetv2Golden, StateDictEqualsUpstream) {
  const auto& g = bisenetv2_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(BiSeNetv2Golden, EvalLogits) {
  const auto& g = bisenetv2_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}


// The backward against the float64 golden: in float32 one ReLU input of
// stage5's first GE layer (4x8 map) is ~1.7e-6 in exact arithmetic and its
// sign depends on summation order, which moves the semantic branch's
// gradient norms by up to 1% (PyTorch float32 vs float64: 1e-2 too).
TEST(BiSeNetv2Golden, TrainStepWithAuxHeadsFloat64) {
  const auto g = golden::Golden::load("bisenetv2_aux_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_train_step(g, i, golden::main_plus_aux_loss()));
}

TEST(BiSeNetv2Golden, WithoutAuxHasNoHeadsAndOneTrainingOutput) {
  auto net = nn::create_net({{"name", "bisenetv2"}, {"num_classes", 19}, {"use_aux", false}});
  const auto with_aux = bisenetv2_golden().json().at("state_dict").at("entries").size();
  EXPECT_EQ(net->state_dict().size(), with_aux - 4 * 7);  // each SegHead: conv, 5 BatchNorm entries, conv
  for (const auto& [name, t] : net->state_dict()) EXPECT_EQ(name.find("seg_head2"), std::string::npos) << name;
  auto* seg = dynamic_cast<nets::BiSeNetv2*>(net.get());
  ASSERT_NE(seg, nullptr);
  const auto outs = seg->forward_train(Tensor::zeros({2, 3, 32, 64}));
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].shape(), (Shape{2, 19, 32, 64}));
}

TEST(BiSeNetv2Golden, WrongNetLoadNamesTheNetAndTensors) {
  auto bisenet = nn::create_net({{"name", "bisenetv2"}, {"num_classes", 19}});
  auto fastscnn = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { bisenet->load_state_dict(golden::state_map(*fastscnn)); },
      {"BiSeNetv2", "missing", "detail_branch.0.0.weight", "unexpected", "learning_to_downsample.0.0.weight"}));
  auto bisenet21 = nn::create_net({{"name", "bisenetv2"}, {"num_classes", 21}});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { bisenet->load_state_dict(golden::state_map(*bisenet21)); },
      {"BiSeNetv2", "mis-shaped", "seg_head.1.weight", "[21, 128, 1, 1]", "[19, 128, 1, 1]"}));
}

TEST(BiSeNetv2Golden, RejectsSizesNotMultipleOf32) {
  auto net = nn::create_net({{"name", "bisenetv2"}, {"num_classes", 19}});
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { net->forward(Tensor::zeros({1, 3, 48, 64})); },
                                                  {"BiSeNetv2", "multiples of 32"}));
}
