// Swin-T-Att-UNet against caixiongjiang/FastSegFormer: golden parity (eval
// logits and the fork_feat list at two square sizes, as upstream takes only
// those; one training step against the float64 twin), the relative-position index buffers, the wrong-variant
// load, the registry arguments and the size rule.
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/swin_t_att_unet.h"
#include "nn/layers.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

// The golden's training step runs with DropPath at 0.
const golden::Json kNoDropPath = {{"drop_path_rate", 0.0}};

}  // namespace

TEST(SwinTAttUNetGolden, StateDictNamesEqualUpstream) {
  const auto g = golden::Golden::load("swin_t_att_unet");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  EXPECT_TRUE(golden::state_dict_matches(*g.build(kNoDropPath), g));
}

TEST(SwinTAttUNetGolden, EvalLogitsAndForkFeatures) {
  const auto g = golden::Golden::load("swin_t_att_unet");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) {
    EXPECT_TRUE(golden::check_eval(g, i));
    auto net = std::dynamic_pointer_cast<nets::SwinTAttUNet>(g.build());
    net->eval();
    autograd::NoGradGuard no_grad;
    const std::vector<Tensor> fork = net->forward_fork(g.input(i));
    const auto& want = g.case_json(i).at("eval").at("outputs");
    ASSERT_EQ(fork.size(), 8u);
    for (size_t k = 0; k < fork.size(); ++k)
      EXPECT_TRUE(golden::matches_stats(fork[k], want.at("fork." + std::to_string(k)), 1e-5))
          << g.case_name(i) << " " << k;
  }
}

// The training step against the float64 golden only: through train-mode
// BatchNorm on the 2x2 bottleneck and the one-channel psi BatchNorms,
// PyTorch's own float32 step differs from its float64 one by up to 58% in a
// gradient norm (Att4.psi.1.weight at 64x64: 1.97e-4 vs 1.25e-4).
TEST(SwinTAttUNetGolden, TrainStepFloat64) {
  const auto g = golden::Golden::load("swin_t_att_unet_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), kNoDropPath, golden::float64_tolerances()));
}

// The index buffers are upstream's: (dy + 6) * 13 + (dx + 6) for query and
// key positions of a 7x7 window; a checkpoint carries them, and a fresh net
// already holds them.
TEST(SwinTAttUNet, RelativePositionIndexIsUpstreams) {
  nn::SkipInitGuard skip;
  nn::ModulePtr net = nn::create_net({{"name", "swin_t_att_unet"}, {"num_classes", 4}});
  const Tensor index = net->get("common_backbone.layers.2.blocks.5.attn.relative_position_index");
  ASSERT_EQ(index.shape(), (Shape{49, 49}));
  EXPECT_EQ(index.dtype(), DType::i64);
  const std::vector<double> v = index.to_vector();
  EXPECT_EQ(v[0], 84.0);                // same position: (6, 6)
  EXPECT_EQ(v[1], 83.0);                // key one to the right: dx = -1
  EXPECT_EQ(v[7], 6.0 * 13 - 13 + 6);   // key one below: dy = -1
  EXPECT_EQ(v[48 * 49], 12.0 * 13 + 12);  // query (6, 6), key (0, 0)
}

TEST(SwinTAttUNetGolden, WrongVariantLoadNamesTheNetAndTheTensors) {
  nn::SkipInitGuard skip;  // the loads fail before any value is read
  nn::ModulePtr t = nn::create_net({{"name", "swin_t_att_unet"}, {"num_classes", 4}});
  nn::ModulePtr s = nn::create_net({{"name", "swin_t_att_unet"}, {"num_classes", 4}, {"backbone", "swin_S_224"}});
  EXPECT_TRUE(ct::throws_mentioning(
      [&] { t->load_state_dict(golden::state_map(*s)); },
      {"swinTS_Att_Unet", "unexpected", "common_backbone.layers.2.blocks.17.attn.qkv.weight", "mis-shaped",
       "conv1.conv.0.weight"}));
}

TEST(SwinTAttUNet, RegistryArgumentsSizesAndErrors) {
  const nn::Json r = nn::resolve_model_config({{"name", "swin_t_att_unet"}, {"num_classes", 4}});
  EXPECT_EQ(r, (nn::Json{{"name", "swin_t_att_unet"}, {"num_classes", 4}, {"backbone", "swin_T_224"},
                         {"pretrained", false}, {"embed_dim", 96}, {"base", 64}, {"fork_feat", false},
                         {"drop_path_rate", 0.1}}));
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "swin_t_att_unet"}, {"num_classes", 4}, {"backbone", "convnext_t"}}); },
      {"convnext_t", "not implemented"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "swin_t_att_unet"}, {"num_classes", 4}, {"embed_dim", 128}}); },
      {"embed_dim", "128", "96"}));
  auto net = std::dynamic_pointer_cast<nn::SegNet>(
      nn::create_net({{"name", "swin_t_att_unet"}, {"num_classes", 3}, {"base", 8}}));
  net->eval();
  autograd::NoGradGuard no_grad;
  // Not square: upstream cannot; here every map keeps its own sides.
  EXPECT_EQ(net->forward(ct::uniform({1, 3, 64, 96}, -1, 1, 3, DType::f32)).shape(), (Shape{1, 3, 64, 96}));
  EXPECT_TRUE(ct::throws_mentioning([&] { net->forward(ct::uniform({1, 3, 64, 80}, -1, 1, 3, DType::f32)); },
                                    {"multiples of 32", "80"}));
}
