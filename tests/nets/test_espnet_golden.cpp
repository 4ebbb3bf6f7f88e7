// ESPNet (nets/espnet.h) against tests/goldens/espnet.json: upstream zh320
// ESPNet(num_class=19) (arch_type "espnet", with the decoder), det-filled
// parameters, at 64x128 and 96x160 (the decoder needs multiples of 8).
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/espnet.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& espnet_golden() {
  static const golden::Golden g = golden::Golden::load("espnet");
  return g;
}

bool has_key(const nn::Module& net, const std::string& key) {
  for (const auto& [name, t] : net.state_dict())
    if (name == key) return true;
  return false;
}

}  // namespace

TEST(ESPNetGolden, StateDictEqualsUpstream) {
  const auto& g = espnet_golden();
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST(ESPNetGolden, EvalLogits) {
  const auto& g = espnet_golden();
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The backward against the float64 golden: train-mode BatchNorm over the
// narrow branches makes PyTorch's own float32 gradients (PReLU slopes above
// all) differ from its float64 ones by more than a 1e-4 comparison allows.
TEST(ESPNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("espnet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {}, golden::float64_tolerances()));
}

TEST(ESPNetGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto espnet = nn::create_net({{"name", "espnet"}, {"num_classes", 19}});
  auto other = nn::create_net({{"name", "fastscnn"}, {"num_classes", 19}});
  const std::map<std::string, Tensor> state = golden::state_map(*other);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { espnet->load_state_dict(state); },
      {"ESPNet", "missing", "decoder.conv_l1.conv_k1.weight", "unexpected", "classifier.2.0.bias"}));
}

TEST(ESPNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "espnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "espnet"},
                                {"num_classes", 19},
                                {"n_channel", 3},
                                {"arch_type", "espnet"},
                                {"K", 5},
                                {"alpha2", 2},
                                {"alpha3", 8},
                                {"block_channel", {16, 64, 128}},
                                {"act_type", "prelu"}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "espnet"}, {"num_classes", 19}, {"arch_type", "espnet-d"}}); },
      {"espnet", "arch_type", "espnet-d"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "espnet"}, {"num_classes", 19}, {"K", 4}}); }, {"espnet", "K"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "espnet"}, {"num_classes", 19}, {"block_channel", {16, 32, 128}}}); },
      {"ESPNet", "block_channel[2] (128)", "64"}));
  // As upstream, whose decoder would build zero-width ESP branches and fail in its forward.
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "espnet"}, {"num_classes", 4}}); }, {"ESPNet", "out_channels (4)", "5"}));
}

// The variants: "espnet-a" stacks the levels (block_channel[2] becomes
// block_channel[1]), "-b" adds the level skips, "-c" the reinforcing image;
// all three end with a plain 1x1 conv upsampled to the input size.
TEST(ESPNetGolden, VariantsBuildUpstreamsTrees) {
  struct Variant {
    const char* arch;
    int64_t l3_in;          // the strided level-3 ESP module's input channels
    int64_t conv_last_in;
  };
  for (const Variant v : {Variant{"espnet-a", 64, 128}, Variant{"espnet-b", 128, 256}, Variant{"espnet-c", 131, 256}}) {
    SCOPED_TRACE(v.arch);
    auto net = nn::create_net({{"name", "espnet"}, {"num_classes", 4}, {"arch_type", v.arch}, {"alpha3", 2}});
    EXPECT_FALSE(has_key(*net, "decoder.upconv_l1.up_conv.0.weight"));
    const auto sd = net->state_dict();
    std::map<std::string, Shape> shapes;
    for (const auto& [name, t] : sd) shapes[name] = t.shape();
    EXPECT_EQ(shapes.at("l3_block.conv1.conv_kn.weight"), (Shape{25, v.l3_in, 1, 1}));
    EXPECT_EQ(shapes.at("l3_block.conv_last.weight"), (Shape{4, v.conv_last_in, 1, 1}));
    autograd::NoGradGuard no_grad;
    net->eval();
    EXPECT_EQ(net->forward(Tensor::zeros({1, 3, 40, 56})).shape(), (Shape{1, 4, 40, 56}));
  }
}
