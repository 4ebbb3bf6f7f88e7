// FastSegFormer (nets/fastsegformer.h) against tests/goldens/fastsegformer_*.json:
// upstream caixiongjiang FastSegFormer(num_classes=4), det-filled parameters.
// -E (EfficientFormerV2-S0) and -P (PoolFormer-S12) in the paper's config
// (multi-scale pyramid, image reconstruction branch) at 224x224, the only size
// both take as upstream (-E's attention biases are fixed to it; the IRB gives
// 224x224 logits whatever the input); the *_fork goldens take the pooling
// pyramid without IRB and fork_feat, so the train step checks every
// distillation feature, -P at two sizes (one not square).
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/fastsegformer.h"
#include "nn/param_init.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace golden = cudaseg::testing::golden;

namespace {

// The golden's training step sets the classifier's Dropout to p = 0.
const golden::Json kNoDropout = {{"dropout", false}};

const golden::Golden& load(const std::string& stem) {
  static std::map<std::string, golden::Golden> cache;
  auto it = cache.find(stem);
  if (it == cache.end()) it = cache.emplace(stem, golden::Golden::load(stem)).first;
  return it->second;
}

}  // namespace

TEST(FastSegFormerGolden, StateDictEqualsUpstream) {
  for (const char* stem : {"fastsegformer_e", "fastsegformer_p", "fastsegformer_e_fork_f64", "fastsegformer_p_fork"}) {
    SCOPED_TRACE(stem);
    const auto& g = load(stem);
    // Built in float32 (the declared dtypes), also for the float64-only golden.
    EXPECT_TRUE(golden::state_dict_matches(*nn::create_net(g.model()), g));
  }
}

TEST(FastSegFormerGolden, EvalLogits) {
  for (const char* stem : {"fastsegformer_e", "fastsegformer_p", "fastsegformer_p_fork"}) {
    SCOPED_TRACE(stem);
    const auto& g = load(stem);
    for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
  }
}

// The backward against float64 goldens: float32 gradient norms through the
// train-mode BatchNorms on the 7x7 maps carry more rounding noise than 1e-4.
TEST(FastSegFormerGolden, TrainStepFloat64) {
  for (const char* stem : {"fastsegformer_e_f64", "fastsegformer_p_f64", "fastsegformer_e_fork_f64",
                           "fastsegformer_p_fork_f64"}) {
    SCOPED_TRACE(stem);
    const auto& g = load(stem);
    ASSERT_EQ(g.dtype(), DType::f64);
    for (size_t i = 0; i < g.num_cases(); ++i)
      EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), kNoDropout, golden::float64_tolerances()));
  }
}

TEST(FastSegFormerGolden, EfficientFormerTakesOnlyItsResolution) {
  auto net = nn::create_net({{"name", "fastsegformer"}, {"num_classes", 4}, {"backbone", "efficientformerV2_s0"}});
  net->eval();
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { (*net)(Tensor::zeros({1, 3, 256, 256})); },
                                                  {"EfficientFormerV2", "14x14", "fixed resolution"}));
}

// Upstream caches the gathered attention biases at .eval(); weights loaded
// afterwards must still take effect here.
// Upstream gathers its attention biases once at .eval(), stale if the
// weights change after; cudaseg gathers them at every call: biases loaded
// after a forward (those of a block and of the downsampling attention) give
// the logits of a net that never ran before them.
TEST(FastSegFormerGolden, AttentionBiasesLoadedAfterEvalTakeEffect) {
  autograd::NoGradGuard no_grad;
  const nn::Json config = {{"name", "fastsegformer"}, {"num_classes", 4}, {"backbone", "efficientformerV2_s0"}};
  auto net = nn::create_net(config);
  golden::fill_det_params(*net, 1);
  net->eval();
  const Tensor x = nn::det_uniform("input", {1, 3, 224, 224}, -1.0, 1.0, 1);
  const std::vector<double> before = (*net)(x).to_vector();
  std::map<std::string, Tensor> state = golden::state_map(*net);
  for (const char* name : {"common_backbone.network.6.3.token_mixer.attention_biases",
                           "common_backbone.network.5.attn.attention_biases"})
    state.at(name) = Tensor::full(state.at(name).shape(), 3.0);
  net->load_state_dict(state);
  const std::vector<double> after = (*net)(x).to_vector();
  EXPECT_NE(after, before);
  auto fresh = nn::create_net(config);
  fresh->load_state_dict(state);
  fresh->eval();
  EXPECT_EQ((*fresh)(x).to_vector(), after);
}

// At inference the image branch's head convolves before it upsamples (the
// two commute): the logits are those of upstream's order, which a forward
// with gradients keeps, within float rounding.
TEST(FastSegFormerGolden, TheImageBranchHeadConvolvesFirstAtInferenceWithTheSameLogits) {
  auto net = nn::create_net({{"name", "fastsegformer"}, {"num_classes", 4}, {"cnn_branch", true}});
  golden::fill_det_params(*net, 3);
  net->eval();
  const Tensor x = nn::det_uniform("input", {1, 3, 64, 96}, -1.0, 1.0, 3);
  const Tensor upstream_order = (*net)(x);
  Tensor reordered;
  {
    autograd::NoGradGuard no_grad;
    reordered = (*net)(x);
  }
  ASSERT_EQ(reordered.shape(), (Shape{1, 4, 224, 224}));
  EXPECT_TRUE(cudaseg::testing::all_close(reordered, upstream_order.detach(), 1e-6, 1e-5));
}

TEST(FastSegFormerGolden, ForkFeaturesAreClaimedByAZeroWeightTerm) {
  auto net = nn::create_net({{"name", "fastsegformer"}, {"num_classes", 4}, {"fork_feat", true}});
  const auto terms = net->net_losses({});
  ASSERT_EQ(terms.size(), 1u);
  EXPECT_EQ(terms[0].first_output, 1);
  EXPECT_EQ(terms[0].coef, 0.0);
  EXPECT_EQ(net->forward_train(Tensor::zeros({2, 3, 64, 64})).size(), 7u);
  EXPECT_TRUE(nn::create_net({{"name", "fastsegformer"}, {"num_classes", 4}})->net_losses({}).empty());
}

TEST(FastSegFormerGolden, WrongNetLoadNamesTheNetAndTensors) {
  auto e = nn::create_net({{"name", "fastsegformer"}, {"num_classes", 4}, {"backbone", "efficientformerV2_s0"}});
  auto p = nn::create_net({{"name", "fastsegformer"}, {"num_classes", 4}});
  const std::map<std::string, Tensor> state = golden::state_map(*p);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { e->load_state_dict(state); },
      {"FastSegFormer", "missing", "common_backbone.network.6.3.token_mixer.attention_bias_idxs", "unexpected",
       "common_backbone.network.0.0.norm1.weight"}));
}

TEST(FastSegFormerGolden, RegistryArgumentsAreUpstreams) {
  const nn::Json resolved = nn::resolve_model_config({{"name", "fastsegformer"}, {"num_classes", 4}});
  EXPECT_EQ(resolved, (nn::Json{{"name", "fastsegformer"},
                                {"num_classes", 4},
                                {"pretrained", false},
                                {"backbone", "poolformer_s12"},
                                {"Pyramid", "pooling"},
                                {"fork_feat", false},
                                {"cnn_branch", false},
                                {"dropout", true}}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "fastsegformer"}, {"num_classes", 4}, {"backbone", "swin_T_224"}}); },
      {"fastsegformer", "backbone", "swin_T_224"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { nn::create_net({{"name", "fastsegformer"}, {"num_classes", 4}, {"pyramid", "pooling"}}); },
      {"fastsegformer", "pyramid"}));
}
