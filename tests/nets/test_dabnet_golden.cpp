// DABNet (nets/dabnet.h) against tests/goldens/dabnet.json: upstream zh320
// DABNet(num_class=19, PReLU), det-filled parameters, at 64x128 and 100x200
// (not a multiple of 8: the ceil-halving strided convs, initial block and
// padded average pools must agree for the concatenations).
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nets/dabnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& dabnet_golden() {
  static const golden::Golden g = golden::Golden::load("dabnet");
  return g;
}

}  // namespace

TEST(DABNetGolden, StateDictEqualsUpstream) {
  const auto& g = dabnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(DABNetGolden, EvalLogits) {
  const auto& g = dabnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: train-mode BatchNorm on the small
// deep maps makes the float32 step ill-conditioned (PyTorch's own float32 step differs from its float64 one by up to 2.4e-4 in gradient norms (64x128)).
TEST(DABNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("dabnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(DABNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto dabnet = nn::create_net({{"name", "dabnet"}, {"num_classes", 19}});
  auto three = nn::create_net({{"name", "dabnet"}, {"num_classes", 19}, {"n_channel", 1}});
  std::map<std::string, Tensor> state = golden::state_map(*three);
  EXPECT_TRUE(ct::throws_mentioning([&] { dabnet->load_state_dict(state); },
                                    {"DABNet", "mis-shaped", "layer1.0.weight", "layer15.weight"}));
  auto relu = nn::create_net({{"name", "dabnet"}, {"num_classes", 19}, {"act_type", "relu"}});
  state.clear();
  for (const auto& [name, t] : relu->state_dict()) state.emplace(name, t);
  EXPECT_TRUE(ct::throws_mentioning([&] { dabnet->load_state_dict(state); },
                                    {"DABNet", "missing", "layer1.2.activation.weight"}));
}

TEST(DABNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "dabnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "dabnet"}, {"num_classes", 19}, {"n_channel", 3}, {"act_type", "prelu"}}));
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { nn::create_net({{"name", "dabnet"}, {"num_classes", 19}, {"dilation", 2}}); }, {"dabnet", "dilation"}));
}
