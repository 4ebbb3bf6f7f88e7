// The smp teachers (nets/smp.h) against tests/goldens/smp_<decoder>_resnet18*.json:
// zh320's models/smp_wrapper.get_smp_model(resnet18, decoder, None, 19), i.e.
// segmentation_models_pytorch 0.3.3 with its defaults (tools/goldens/upstream.py,
// build_smp), det-filled. DeepLabV3+, Unet and FPN: eval logits at 64x64 and
// 64x96 (not square; multiples of 32) and the training step, dropout off, at
// both sizes against their float64 twins. The other six: the same at 64x96
// (PAN at 128x192: its FPA pools the 1/16 map thrice). DeepLabV3+ on
// resnet50: state_dict and eval logits at 64x96.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/smp.h"
#include "nn/fuse.h"
#include "nn/layers.h"
#include "nn/param_init.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

std::string stem(const std::string& decoder) { return "smp_" + decoder + "_resnet18"; }

class SmpGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SmpGolden, StateDictEqualsUpstream) {
  const auto g = golden::Golden::load(stem(GetParam()));
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
}

TEST_P(SmpGolden, EvalLogits) {
  const auto g = golden::Golden::load(stem(GetParam()));
  ASSERT_GE(g.num_cases(), 1u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i)) << g.case_name(i);
}

INSTANTIATE_TEST_SUITE_P(Decoders, SmpGolden,
                         ::testing::Values("deeplabv3p", "unet", "fpn", "deeplabv3", "linknet", "manet", "pan",
                                           "pspnet", "unetpp"),
                         [](const auto& info) { return info.param; });

// Train-mode BatchNorm on the small maps of layer4 (2x2 at 64x64, batch 2)
// makes the float32 step ill-conditioned (upstream's float32 gradient norms
// are up to 4.2e-3 off its float64 ones, Unet): checked in double against
// the float64 twins (two sizes for DeepLabV3+, Unet and FPN, one for the
// others). The dropout override sets the decoders' Dropout and Dropout2d to
// p = 0, as the generator does upstream.
class SmpFloat64 : public ::testing::TestWithParam<std::string> {};

TEST_P(SmpFloat64, TrainStep) {
  const auto g = golden::Golden::load(stem(GetParam()) + "_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  ASSERT_GE(g.num_cases(), 1u);
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), {{"dropout", false}},
                                         golden::float64_tolerances()))
        << g.case_name(i);
}

// Our float32 eval logits against upstream's float64 ones, within 1e-5.
TEST_P(SmpFloat64, Float32EvalNearFloat64Logits) {
  const auto g32 = golden::Golden::load(stem(GetParam()));
  const auto g64 = golden::Golden::load(stem(GetParam()) + "_f64");
  ASSERT_EQ(g32.num_cases(), g64.num_cases());
  nn::ModulePtr net = g32.build();
  net->eval();
  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < g32.num_cases(); ++i)
    EXPECT_TRUE(golden::matches_stats(net->forward(g32.input(i)), g64.case_json(i).at("eval").at("outputs").at("out"),
                                      1e-5))
        << g32.case_name(i);
}

INSTANTIATE_TEST_SUITE_P(Decoders, SmpFloat64,
                         ::testing::Values("deeplabv3p", "unet", "fpn", "deeplabv3", "linknet", "manet", "pan",
                                           "pspnet", "unetpp"),
                         [](const auto& info) { return info.param; });

// zh320's default teacher decoder on a Bottleneck encoder (layer4 dilated 2).
TEST(Smp, DeepLabV3PlusResNet50StateDictAndEvalLogits) {
  const auto g = golden::Golden::load("smp_deeplabv3p_resnet50");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
}

int64_t count_batchnorms(const nn::Module& m) {
  int64_t n = m.type_name() == "BatchNorm2d";
  for (const auto& [name, child] : m.named_children()) n += count_batchnorms(*child);
  return n;
}

nn::ModulePtr det_net(const std::string& decoder) {
  nn::ModulePtr net;
  {
    nn::SkipInitGuard skip;
    net = nn::create_net({{"name", "smp"}, {"decoder", decoder}, {"encoder", "resnet18"}, {"num_classes", 5}});
  }
  golden::fill_det_params(*net, 7);
  net->eval();
  return net;
}

}  // namespace

// Every BatchNorm of every decoder folds (DeepLabV3+'s behind separable
// convs, PAN's in its ConvBnRelu modules, the ASPP pooling branch), and the
// prepared net gives the plain logits.
TEST(Smp, EveryBatchNormFoldsAndPreparedEqualsPlain) {
  autograd::NoGradGuard no_grad;
  for (const std::string& decoder : nets::smp_decoder_names()) {
    SCOPED_TRACE(decoder);
    const int64_t side = decoder == "pan" ? 128 : 64;
    const Tensor x = nn::det_uniform("input", {1, 3, side, side}, -1, 1, 3);
    nn::ModulePtr net = det_net(decoder);
    const Tensor want = net->forward(x);
    const nn::FuseReport report = nn::fuse_for_inference(*net);
    EXPECT_EQ(report.folded_batchnorms, count_batchnorms(*net));
    EXPECT_LE(cudaseg::testing::rel_l2(net->forward(x), want), 1e-5);
  }
}

TEST(Smp, RegistryArgumentsAreZh320s) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "smp"}, {"num_classes", 19}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "smp"},
                                {"num_classes", 19},
                                {"decoder", "deeplabv3p"},
                                {"encoder", "resnet101"},
                                {"dropout", true}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [] { nn::create_net({{"name", "smp"}, {"num_classes", 19}, {"decoder", "deeplabv3plus"}}); },
      {"smp", "decoder", "deeplabv3plus", "deeplabv3p", "unetpp"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [] { nn::create_net({{"name", "smp"}, {"num_classes", 19}, {"encoder", "efficientnet-b0"}}); },
      {"smp", "encoder", "efficientnet-b0", "resnet18", "resnet101"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [] { nn::create_net({{"name", "smp"}, {"num_classes", 19}, {"encoder_weights", "imagenet"}}); },
      {"smp", "encoder_weights"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([] { nets::Smp("segformer", "resnet18", 19); },
                                                  {"segformer", "deeplabv3, deeplabv3p, fpn"}));
}

// smp's check_input_shape: multiples of the encoder's output stride.
TEST(Smp, InputSizesFollowTheOutputStride) {
  const std::map<std::string, int64_t> multiple = {{"deeplabv3", 8}, {"deeplabv3p", 16}, {"fpn", 32},
                                                   {"linknet", 32},  {"manet", 32},      {"pan", 16},
                                                   {"pspnet", 8},    {"unet", 32},       {"unetpp", 32}};
  for (const std::string& decoder : nets::smp_decoder_names()) {
    nn::SkipInitGuard skip;
    EXPECT_EQ(nets::Smp(decoder, "resnet18", 3).input_multiple(), multiple.at(decoder)) << decoder;
  }
  autograd::NoGradGuard no_grad;
  auto unet = det_net("unet");
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { unet->forward(Tensor::zeros({1, 3, 64, 80})); },
                                                  {"unet", "[1, 3, 64, 80]", "multiples of 32"}));
  auto psp = det_net("pspnet");
  EXPECT_EQ(psp->forward(nn::det_uniform("input", {1, 3, 40, 56}, -1, 1, 3)).shape(), (Shape{1, 5, 40, 56}));
  auto pan = det_net("pan");
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { pan->forward(Tensor::zeros({1, 3, 64, 128})); },
                                                  {"pan", "at least 8x8", "128"}));
}

// PSPNet's encoder stops at layer2 (depth 3): layer3 and layer4 stay in the
// state_dict, as upstream's, and take no gradient.
TEST(Smp, PspNetLeavesLayer3AndLayer4Untrained) {
  auto net = std::dynamic_pointer_cast<nn::SegNet>(det_net("pspnet"));
  net->train();
  const Tensor x = nn::det_uniform("input", {2, 3, 32, 32}, -1, 1, 3);
  autograd::backward(fn::sum(net->forward_train(x)[0]));
  int64_t with_grad = 0, untrained = 0;
  for (const auto& [name, p] : net->named_parameters()) {
    const bool deep = name.rfind("encoder.layer3.", 0) == 0 || name.rfind("encoder.layer4.", 0) == 0;
    if (deep) {
      untrained += !p.grad().defined();
    } else {
      with_grad += p.grad().defined();
    }
  }
  // resnet18, per layer: 2 blocks x (2 convs + 2 BatchNorm weights and biases) + downsample conv and BatchNorm
  EXPECT_EQ(untrained, 2 * (2 * 6 + 3));
  EXPECT_GT(with_grad, 0);
}
