// The torchvision backbones (nets/resnet.h, nets/mobilenetv2.h) against
// tests/goldens/backbone_<type>.json (tools/goldens/make_backbone_golden.py):
// zh320's models/backbone.py wrappers around torchvision's resnet18, resnet50
// and mobilenet_v2, det-filled (BatchNorm running statistics too), eval mode,
// the four stage outputs at 64x96 (not square: stride 32 gives a 2x3 map).
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <memory>
#include <string>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/mobilenetv2.h"
#include "nets/resnet.h"
#include "nn/layers.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

std::shared_ptr<nn::Module> build_backbone(const std::string& type) {
  nn::SkipInitGuard skip_init;
  if (type == "mobilenet_v2") return std::make_shared<nets::MobileNetV2>();
  return std::make_shared<nets::ResNet>(type);
}

std::array<Tensor, 4> features(nn::Module& backbone, const Tensor& x) {
  if (auto* m = dynamic_cast<nets::MobileNetV2*>(&backbone)) return m->forward_features(x);
  return dynamic_cast<nets::ResNet&>(backbone).forward_features(x);
}

class BackboneGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(BackboneGolden, StateDictEqualsUpstream) {
  const auto g = golden::Golden::load("backbone_" + GetParam());
  EXPECT_TRUE(golden::state_dict_matches(*build_backbone(GetParam()), g));
}

TEST_P(BackboneGolden, EvalFeatures) {
  const auto g = golden::Golden::load("backbone_" + GetParam());
  auto backbone = build_backbone(GetParam());
  golden::fill_det_params(*backbone, g.seed());
  backbone->eval();
  ASSERT_EQ(g.num_cases(), 1u);
  autograd::NoGradGuard no_grad;
  const auto out = features(*backbone, g.input(0));
  for (int i = 0; i < 4; ++i) {
    const std::string key = "x" + std::to_string(i + 1);
    EXPECT_TRUE(golden::matches_stats(out[i], g.case_json(0).at("eval").at("outputs").at(key), 1e-5)) << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Torchvision, BackboneGolden, ::testing::Values("resnet18", "resnet50", "mobilenet_v2"),
                         [](const auto& info) { return info.param; });

}  // namespace

TEST(ResNetBackbone, ChannelsAndStagesPerType) {
  nn::SkipInitGuard skip_init;
  const std::array<int64_t, 4> basic = {64, 128, 256, 512}, bottleneck = {256, 512, 1024, 2048};
  EXPECT_EQ(nets::ResNet("resnet18").channels(), basic);
  EXPECT_EQ(nets::ResNet("resnet34").channels(), basic);
  EXPECT_EQ(nets::ResNet("resnet101").channels(), bottleneck);
  // torchvision's block counts: 3, 4, 23, 3 (resnet101) and 3, 8, 36, 3 (resnet152).
  const auto sd101 = nets::ResNet("resnet101").state_dict();
  EXPECT_EQ(sd101.back().first, "layer4.2.bn3.num_batches_tracked");
  bool has_22 = false;
  for (const auto& [name, t] : sd101) has_22 |= name.rfind("layer3.22.conv3.weight", 0) == 0;
  EXPECT_TRUE(has_22);
  const auto sd152 = nets::ResNet("resnet152").state_dict();
  bool has_35 = false, has_7 = false;
  for (const auto& [name, t] : sd152) {
    has_35 |= name == "layer3.35.bn3.weight";
    has_7 |= name == "layer2.7.conv1.weight";
  }
  EXPECT_TRUE(has_35 && has_7);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([] { nets::ResNet("resnet26"); }, {"resnet26", "resnet18"}));
}

// smp's make_dilated: output stride 16 dilates layer4, 8 layer3 and layer4;
// forward_stages adds the stem output (stride 2, before the maxpool).
TEST(ResNetBackbone, OutputStrideDilatesAsSmp) {
  nn::SkipInitGuard skip;
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([] { nets::smp_output_stride(4); }, {"output_stride", "4"}));
  const Tensor x = Tensor::zeros({1, 3, 64, 64});
  autograd::NoGradGuard no_grad;
  for (const auto& [os, last] : std::map<int64_t, int64_t>{{32, 2}, {16, 4}, {8, 8}}) {
    nets::ResNet r("resnet18", nets::smp_output_stride(os));
    r.eval();
    const auto f = r.forward_stages(x);
    ASSERT_EQ(f.size(), 5u);
    EXPECT_EQ(f[0].shape(), (Shape{1, 64, 32, 32}));
    EXPECT_EQ(f[4].size(2), last) << os;
    EXPECT_EQ(f[3].size(2), os == 8 ? 8 : 4) << os;
  }
  EXPECT_EQ(nets::ResNet("resnet18").forward_stages(x, 2).size(), 3u);
}
