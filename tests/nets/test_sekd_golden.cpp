// SEKD against xl-alt/SEKD: golden parity of the MiT-B0 student (FEF) and
// teacher (eval logits and the KD outputs at two sizes, one training step
// against the float64 twins), the B1-B3 teachers (state_dict and eval), the
// wrong-variant loads and the registry arguments.
#include <gtest/gtest.h>

#include <map>

#include "autograd/engine.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/sekd.h"
#include "nn/layers.h"
#include "nn/registry.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

// The golden's training step runs with Dropout2d and DropPath at 0.
const golden::Json kNoDropout = {{"drop_path_rate", 0.0}};

// Every KD output forward_kd gives, in eval, against the golden's "kd.*" entries.
void expect_kd_outputs(const golden::Golden& g, size_t i) {
  SCOPED_TRACE(g.stem() + " " + g.case_name(i));
  nn::ModulePtr net = g.build();
  net->eval();
  nets::SekdOutputs o;
  {
    autograd::NoGradGuard no_grad;
    if (auto s = std::dynamic_pointer_cast<nets::SekdStudent>(net))
      o = s->forward_kd(g.input(i));
    else
      o = std::dynamic_pointer_cast<nets::SekdSegFormer>(net)->forward_kd(g.input(i));
  }
  const auto& want = g.case_json(i).at("eval").at("outputs");
  ASSERT_EQ(o.features.size(), 4u);
  ASSERT_EQ(o.embeds.size(), 4u);
  EXPECT_TRUE(golden::matches_stats(o.logits, want.at("kd.logits"), 1e-5));
  for (size_t s = 0; s < 4; ++s) {
    EXPECT_TRUE(golden::matches_stats(o.features[s], want.at("kd.features." + std::to_string(s)), 1e-5)) << s;
    EXPECT_TRUE(golden::matches_stats(o.embeds[s], want.at("kd.embeds." + std::to_string(s)), 1e-5)) << s;
  }
}

}  // namespace

TEST(SekdGolden, StateDictNamesEqualUpstream) {
  for (const char* stem : {"sekd_student_b0", "sekd_student_b1", "sekd_teacher_b0", "sekd_teacher_b1",
                           "sekd_teacher_b2", "sekd_teacher_b3"}) {
    SCOPED_TRACE(stem);
    const auto g = golden::Golden::load(stem);
    EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
    EXPECT_TRUE(golden::state_dict_matches(*g.build(kNoDropout), g));
  }
}

TEST(SekdGolden, EvalLogitsAndKdOutputsB0) {
  for (const char* stem : {"sekd_student_b0", "sekd_teacher_b0"}) {
    const auto g = golden::Golden::load(stem);
    ASSERT_EQ(g.num_cases(), 2u);
    for (size_t i = 0; i < g.num_cases(); ++i) {
      EXPECT_TRUE(golden::check_eval(g, i));
      expect_kd_outputs(g, i);
    }
  }
}

TEST(SekdGolden, EvalLogitsAndKdOutputsB1ToB3Teachers) {
  for (const char* stem : {"sekd_teacher_b1", "sekd_teacher_b2", "sekd_teacher_b3"}) {
    const auto g = golden::Golden::load(stem);
    ASSERT_EQ(g.num_cases(), 1u);
    EXPECT_TRUE(golden::check_eval(g, 0));
    expect_kd_outputs(g, 0);
  }
}

// The student on B1: its feature embeddings and embedding projections take
// B1's stage widths (64, 128, 320, 512), where upstream FEF's default
// in_channels fit B0 only; built without in_channels it takes them itself.
TEST(SekdGolden, EvalLogitsAndKdOutputsB1Student) {
  const auto g = golden::Golden::load("sekd_student_b1");
  ASSERT_EQ(g.num_cases(), 1u);
  EXPECT_TRUE(golden::check_eval(g, 0));
  expect_kd_outputs(g, 0);
  for (const char* backbone : {"mit_b1", "mit_b2", "mit_b3"}) {
    SCOPED_TRACE(backbone);
    nn::SkipInitGuard skip;
    const nn::ModulePtr net = nn::create_net({{"name", "sekd_student"}, {"backbone", backbone}, {"num_classes", 3}});
    const auto sd = net->state_dict();
    auto shape_of = [&](const std::string& key) {
      for (const auto& [k, t] : sd)
        if (k == key) return t.shape();
      ADD_FAILURE() << "no " << key;
      return Shape{};
    };
    EXPECT_EQ(shape_of("embed_projections.0.weight"), (Shape{64, 64}));
    EXPECT_EQ(shape_of("embed_projections.3.weight"), (Shape{512, 512}));
    EXPECT_EQ(shape_of("embeddings.1.conv1.0.weight")[1], 128);
  }
}

TEST(SekdGolden, TrainStepB0) {
  for (const char* stem : {"sekd_student_b0", "sekd_teacher_b0"}) {
    const auto g = golden::Golden::load(stem);
    for (size_t i = 0; i < g.num_cases(); ++i)
      EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), kNoDropout));
  }
}

TEST(SekdGolden, TrainStepB0Float64) {
  for (const char* stem : {"sekd_student_b0_f64", "sekd_teacher_b0_f64"}) {
    const auto g = golden::Golden::load(stem);
    ASSERT_EQ(g.dtype(), DType::f64);
    for (size_t i = 0; i < g.num_cases(); ++i)
      EXPECT_TRUE(golden::check_train_step(g, i, golden::main_only_loss(), kNoDropout,
                                           golden::float64_tolerances()));
  }
}

TEST(SekdGolden, WrongVariantLoadNamesTheNetAndTheTensors) {
  nn::SkipInitGuard skip;  // the loads fail before any value is read
  nn::ModulePtr b0 = nn::create_net({{"name", "sekd_teacher"}, {"backbone", "mit_b0"}, {"num_classes", 3}});
  nn::ModulePtr b1 = nn::create_net({{"name", "sekd_teacher"}, {"backbone", "mit_b1"}, {"num_classes", 3}});
  EXPECT_TRUE(ct::throws_mentioning([&] { b0->load_state_dict(golden::state_map(*b1)); },
                                    {"SekdSegFormer", "mis-shaped", "patch_embed1.proj.weight",
                                     "linear_c4.proj.weight"}));
  nn::ModulePtr student = nn::create_net({{"name", "sekd_student"}, {"backbone", "mit_b0"}, {"num_classes", 3}});
  EXPECT_TRUE(ct::throws_mentioning([&] { student->load_state_dict(golden::state_map(*b0)); },
                                    {"FEA", "missing", "student.patch_embed1.proj.weight",
                                     "embeddings.0.conv1.0.weight", "unexpected", "linear_pred.weight"}));
  nn::ModulePtr no_embed = nn::create_net(
      {{"name", "sekd_student"}, {"backbone", "mit_b0"}, {"num_classes", 3}, {"embed", 0}});
  EXPECT_TRUE(ct::throws_mentioning([&] { no_embed->load_state_dict(golden::state_map(*student)); },
                                    {"FEA", "unexpected", "embed_projections.0.weight"}));
}

TEST(Sekd, RegistryArgumentsAndErrors) {
  const nn::Json s = nn::resolve_model_config({{"name", "sekd_student"}, {"num_classes", 3}});
  EXPECT_EQ(s, (nn::Json{{"name", "sekd_student"}, {"num_classes", 3}, {"backbone", "mit_b0"}, {"embed", 5},
                         {"in_channels", nn::Json::array()}, {"out_channels", {64, 128, 320, 512}},
                         {"drop_path_rate", 0.1}}));
  const nn::Json t = nn::resolve_model_config({{"name", "sekd_teacher"}, {"num_classes", 3}});
  EXPECT_EQ(t, (nn::Json{{"name", "sekd_teacher"}, {"num_classes", 3}, {"backbone", "mit_b3"},
                         {"drop_path_rate", 0.1}}));
  nn::SkipInitGuard skip;
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "sekd_student"}, {"num_classes", 3}, {"in_channels", {32, 64, 160, 256}},
                           {"backbone", "mit_b1"}}); },
      {"in_channels", "mit_b1"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "sekd_student"}, {"num_classes", 3}, {"embed", 6}}); }, {"embed", "6"}));
  EXPECT_TRUE(ct::throws_mentioning(
      [] { nn::create_net({{"name", "sekd_teacher"}, {"num_classes", 3}, {"fuse", 1}}); }, {"sekd_teacher", "fuse"}));
}

// embed 1..4 projects that stage's embedding only (FEA.forward); 0 none.
TEST(Sekd, StudentEmbedSelectsTheProjectedEmbeddings) {
  const Tensor x = ct::uniform({1, 3, 64, 64}, -1, 1, 3, DType::f32);
  autograd::NoGradGuard no_grad;
  for (int64_t embed : {0, 2, 5}) {
    SCOPED_TRACE(embed);
    auto net = std::dynamic_pointer_cast<nets::SekdStudent>(
        nn::create_net({{"name", "sekd_student"}, {"num_classes", 3}, {"embed", embed}}));
    net->eval();
    const auto o = net->forward_kd(x);
    EXPECT_EQ(o.logits.shape(), (Shape{1, 3, 16, 16}));
    EXPECT_EQ(o.features[3].shape(), (Shape{1, 512, 2, 2}));
    if (embed == 0) {
      EXPECT_TRUE(o.embeds.empty());
    } else if (embed == 2) {
      ASSERT_EQ(o.embeds.size(), 1u);
      EXPECT_EQ(o.embeds[0].shape(), (Shape{1, 64, 128}));
    } else {
      EXPECT_EQ(o.embeds.size(), 4u);
    }
  }
}
