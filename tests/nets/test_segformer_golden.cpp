// SegFormer against NVlabs/SegFormer: golden parity of mit_b0 (eval logits and
// one training step at two sizes), the state_dict names, and the structure and
// parameter counts of every MiT variant.
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nn/hooks.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nets/segformer.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

// The golden's training step runs with Dropout2d and DropPath at 0.
const golden::Json kNoDropout = {{"dropout_ratio", 0.0}, {"drop_path_rate", 0.0}};

}  // namespace

TEST(SegFormerGolden, StateDictNamesEqualUpstream) {
  const auto g = golden::Golden::load("segformer_b0");
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  EXPECT_TRUE(golden::state_dict_matches(*g.build(kNoDropout), g));
}

TEST(SegFormerGolden, EvalLogitsB0) {
  const auto g = golden::Golden::load("segformer_b0");
  ASSERT_EQ(g.num_cases(), 2u);
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

TEST(SegFormerGolden, TrainStepB0) {
  const auto g = golden::Golden::load("segformer_b0");
  for (size_t i = 0; i < g.num_cases(); ++i)
    EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), kNoDropout));
}

TEST(SegFormerGolden, WrongNetLoadNamesTheNetAndTheTensors) {
  nn::SkipInitGuard skip;  // the loads fail before any value is read
  nn::ModulePtr b0 = nn::create_net({{"name", "segformer"}, {"backbone", "mit_b0"}, {"num_classes", 19}});
  nn::ModulePtr b1 = nn::create_net({{"name", "segformer"}, {"backbone", "mit_b1"}, {"num_classes", 19}});
  const auto b1_state = golden::state_map(*b1);
  EXPECT_TRUE(ct::throws_mentioning([&] { b0->load_state_dict(b1_state); },
                                    {"SegFormer", "mis-shaped", "backbone.patch_embed1.proj.weight",
                                     "decode_head.linear_c4.proj.weight"}));
  auto extra = golden::state_map(*b0);
  extra.erase("decode_head.conv_seg.weight");
  extra.emplace("decode_head.conv_seg_extra.weight", Tensor::zeros({1}));
  EXPECT_TRUE(ct::throws_mentioning([&] { b0->load_state_dict(extra); },
                                    {"SegFormer", "missing", "decode_head.conv_seg.weight", "unexpected",
                                     "decode_head.conv_seg_extra.weight"}));
}

// Upstream's counts, from mix_transformer.py's mit_bX + SegFormerHead with the
// B* city configs' decode head (embed_dim 256 / 768, channels 128), 19
// classes, counted once with Debian's torch 1.13.
TEST(SegFormer, EveryMitVariantMatchesUpstream) {
  struct Expect {
    const char* name;
    std::array<int64_t, 4> dims, heads, depths;
    int64_t embed_dim, parameters, state_entries;
  };
  const Expect expected[] = {
      {"mit_b0", {32, 64, 160, 256}, {1, 2, 5, 8}, {2, 2, 2, 2}, 256, 3721478, 194},
      {"mit_b1", {64, 128, 320, 512}, {1, 2, 5, 8}, {2, 2, 2, 2}, 256, 13684582, 194},
      {"mit_b2", {64, 128, 320, 512}, {1, 2, 5, 8}, {3, 4, 6, 3}, 768, 27363686, 350},
      {"mit_b3", {64, 128, 320, 512}, {1, 2, 5, 8}, {3, 4, 18, 3}, 768, 47239526, 590},
      {"mit_b4", {64, 128, 320, 512}, {1, 2, 5, 8}, {3, 8, 27, 3}, 768, 64010086, 850},
      {"mit_b5", {64, 128, 320, 512}, {1, 2, 5, 8}, {3, 6, 40, 3}, 768, 84610406, 1070},
  };
  nn::SkipInitGuard skip;  // structure only: no random draws for 240 M values
  for (const auto& e : expected) {
    SCOPED_TRACE(e.name);
    const nets::MiTConfig& c = nets::mit_config(e.name);
    EXPECT_EQ(c.embed_dims, e.dims);
    EXPECT_EQ(c.num_heads, e.heads);
    EXPECT_EQ(c.depths, e.depths);
    EXPECT_EQ(c.sr_ratios, (std::array<int64_t, 4>{8, 4, 2, 1}));
    nn::ModulePtr net = nn::create_net({{"name", "segformer"}, {"backbone", e.name}, {"num_classes", 19}});
    int64_t params = 0;
    for (const auto& p : net->parameters()) params += p.numel();
    EXPECT_EQ(params, e.parameters);
    const auto state = golden::state_map(*net);
    EXPECT_EQ(net->state_dict().size(), static_cast<size_t>(e.state_entries));
    for (int s = 0; s < 4; ++s) {
      const std::string stage = "backbone.block" + std::to_string(s + 1) + ".";
      EXPECT_TRUE(state.count(stage + std::to_string(e.depths[s] - 1) + ".mlp.fc2.weight"));
      EXPECT_FALSE(state.count(stage + std::to_string(e.depths[s]) + ".norm1.weight"));
      EXPECT_EQ(state.count(stage + "0.attn.sr.weight"), s < 3 ? 1u : 0u);
    }
    EXPECT_EQ(net->get("decode_head.linear_fuse.conv.weight").shape(), (Shape{e.embed_dim, 4 * e.embed_dim, 1, 1}));
  }
}

TEST(SegFormer, RegistryArgumentsAndErrors) {
  const nn::Json r = nn::resolve_model_config({{"name", "segformer"}, {"num_classes", 19}});
  EXPECT_EQ(r["backbone"], "mit_b0");
  EXPECT_EQ(r["embed_dim"], 0);
  EXPECT_EQ(r["channels"], 128);
  EXPECT_DOUBLE_EQ(r["dropout_ratio"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(r["drop_path_rate"].get<double>(), 0.1);
  nn::ModulePtr net = nn::create_net(
      {{"name", "segformer"}, {"num_classes", 7}, {"embed_dim", 64}, {"channels", 32}, {"dropout_ratio", 0.0}});
  EXPECT_EQ(net->get("decode_head.linear_c1.proj.weight").shape(), (Shape{64, 32}));
  EXPECT_EQ(net->get("decode_head.conv_seg.weight").shape(), (Shape{7, 32, 1, 1}));
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "segformer"}, {"num_classes", 19}, {"backbone", "mit_b9"}}); },
      {"backbone", "mit_b9", "mit_b0", "mit_b5"}));
}

TEST(SegFormer, TrainingIsStochasticWithDefaultDropoutsEvalIsNot) {
  // With the defaults (dropout 0.1, drop path 0.1) training is stochastic, eval is not.
  auto net = std::dynamic_pointer_cast<nn::SegNet>(
      nn::create_net({{"name", "segformer"}, {"backbone", "mit_b0"}, {"num_classes", 5}}));
  ASSERT_TRUE(net);
  const Tensor x = ct::uniform({2, 3, 32, 48}, -1, 1, 7, DType::f32);
  autograd::NoGradGuard no_grad;
  const auto t1 = net->forward_train(x), t2 = net->forward_train(x);
  ASSERT_EQ(t1.size(), 2u);
  EXPECT_EQ(t1[0].shape(), (Shape{2, 5, 32, 48}));
  EXPECT_EQ(t1[1].shape(), (Shape{2, 5, 8, 12}));
  EXPECT_GT(ct::max_abs_diff(t1[1], t2[1]), 0.0);
  net->eval();
  EXPECT_EQ(ct::max_abs_diff(net->forward(x), net->forward(x)), 0.0);
}

// Where no hook observes the modules, the head's embeddings are 1x1
// convolutions of the maps and Mix-FFN convolves its tokens in place; where
// a hook does, both go through upstream's layouts (the dumps are
// upstream's). The two give the same logits, and the hook sees tokens.
TEST(SegFormer, ForwardsWithAndWithoutHooksAgree) {
  nn::ModulePtr net =
      nn::create_net({{"name", "segformer"}, {"backbone", "mit_b0"}, {"num_classes", 5}, {"dropout_ratio", 0.0}});
  net->eval();
  const Tensor x = ct::uniform({1, 3, 64, 96}, -1, 1, 8, DType::f32);
  autograd::NoGradGuard no_grad;
  const Tensor plain = net->forward(x);
  Tensor observed;
  {
    nn::LayerRecorder rec(*net);
    nn::ForwardHookGuard guard(&rec);
    observed = net->forward(x);
    bool saw_tokens = false;
    for (const nn::LayerRecord& r : rec.records())
      if (r.name == "decode_head.linear_c1") saw_tokens = r.outputs.at(0).shape == (Shape{1, 16 * 24, 256});
    EXPECT_TRUE(saw_tokens);
  }
  EXPECT_TRUE(ct::all_close(plain, observed, 1e-5, 1e-5));
  EXPECT_GT(ct::max_abs_diff(plain, Tensor::zeros(plain.shape(), DType::f32)), 0.0);
}
