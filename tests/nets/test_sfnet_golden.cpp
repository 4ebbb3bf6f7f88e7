// SFNet (nets/sfnet.h) against the goldens of lxtGH/SFSegNets'
// AlignNetResNet: sfnet_r18.json is DeepR18_SF_deeply (resnet-18-deep,
// variant 'D', UperNetAlignHead), sfnet_lite_r18.json
// DeepR18_SFV2_deeply_dsn_FA_Atten (UperNetAlignHeadV2 with
// AlignedModulev2PoolingAtten, fpn_dsn), det-filled parameters at 64x64 and
// 64x96 (the flow warp's grid is not square there). The training steps run
// against the float64 twins: train-mode BatchNorm over the PPM's 1x1 and 2x2
// cells (batch 2) makes the float32 step ill-conditioned. Upstream's Dropout2d
// is off there (p = 0), here through the dropout argument.
#include <gtest/gtest.h>

#include <map>

#include "common/golden.h"
#include "common/testing.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

const golden::Golden& sfnet_golden(const std::string& name) {
  static std::map<std::string, golden::Golden> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, golden::Golden::load(name)).first;
  return it->second;
}

}  // namespace

TEST(SFNetGolden, StateDictEqualsUpstream) {
  for (const char* name : {"sfnet_r18", "sfnet_lite_r18"}) {
    SCOPED_TRACE(name);
    const auto& g = sfnet_golden(name);
    EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  }
}

TEST(SFNetGolden, EvalLogits) {
  for (const char* name : {"sfnet_r18", "sfnet_lite_r18"}) {
    SCOPED_TRACE(name);
    const auto& g = sfnet_golden(name);
    ASSERT_EQ(g.num_cases(), 2u);
    for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
  }
}

TEST(SFNetGolden, TrainStepFloat64) {
  for (const char* name : {"sfnet_r18_f64", "sfnet_lite_r18_f64"}) {
    SCOPED_TRACE(name);
    const auto g = golden::Golden::load(name);
    ASSERT_EQ(g.dtype(), DType::f64);
    for (size_t i = 0; i < g.num_cases(); ++i)
      EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {{"dropout", false}},
                                            golden::float64_tolerances()));
  }
}

TEST(SFNetGolden, WrongVariantLoadNamesTheNetAndTensors) {
  auto v1 = nn::create_net({{"name", "sfnet"}, {"num_classes", 19}});
  auto lite = nn::create_net({{"name", "sfnet"}, {"num_classes", 19}, {"head_type", "v2"}, {"fpn_dsn", true}});
  const std::map<std::string, Tensor> state = golden::state_map(*lite);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { v1->load_state_dict(state); },
      {"AlignNetResNet", "missing", "head.fpn_out_align.0.flow_make.weight", "unexpected",
       "head.flow_align_module.flow_gate.0.weight"}));
}

TEST(SFNetGolden, DsnOutputsOnlyInTrainingWithHeadV1) {
  auto net = nn::create_net({{"name", "sfnet"}, {"num_classes", 3}, {"fpn_dsn", true}});
  const Tensor x = Tensor::zeros({2, 3, 64, 64});
  const auto outs = net->forward_train(x);
  ASSERT_EQ(outs.size(), 4u);
  for (const Tensor& o : outs) EXPECT_EQ(o.shape(), (Shape{2, 3, 64, 64}));
  auto lite = nn::create_net({{"name", "sfnet"}, {"num_classes", 3}, {"head_type", "v2"}, {"fpn_dsn", true}});
  EXPECT_EQ(lite->forward_train(x).size(), 1u);
}

TEST(SFNetGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "sfnet"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "sfnet"},
                                {"num_classes", 19},
                                {"trunk", "resnet-18-deep"},
                                {"variant", "D"},
                                {"head_type", "v1"},
                                {"skip", "m1"},
                                {"skip_num", 48},
                                {"fpn_dsn", false},
                                {"fa_type", "spatial"},
                                {"global_context", "ppm"},
                                {"dropout", true}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "sfnet"}, {"num_classes", 19}, {"trunk", "resnet-18"}}); },
      {"sfnet", "trunk", "resnet-18"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "sfnet"}, {"num_classes", 19}, {"backbone", "resnet18"}}); },
      {"sfnet", "backbone"}));
}
