// STDC and PP-LiteSeg against zh320/realtime-semantic-segmentation-pytorch:
// golden parity of stdc1/stdc2 with aux heads or the detail head and of
// PP-LiteSeg stdc1/stdc2 (eval logits and one training step at two sizes,
// the detail step through nets::stdc_detail_targets / stdc_detail_loss), the
// state_dict names, and the errors of a wrong-net load.
#include <gtest/gtest.h>

#include <map>

#include "autograd/arith.h"
#include "common/golden.h"
#include "common/testing.h"
#include "nets/ppliteseg.h"
#include "nn/registry.h"
#include "nets/stdc.h"
#include "ops/reduce.h"

using namespace cudaseg;
namespace ct = cudaseg::testing;
namespace golden = cudaseg::testing::golden;

namespace {

// zh320's SegTrainer with use_detail_head and plain CE: CE(main) + DetailLoss
// on the detail head's logits, targets from the net's own detail_conv.
golden::LossFn stdc_detail_recipe() {
  return [](nn::Module& net, const std::vector<Tensor>& outs, const Tensor& labels) {
    auto& stdc = dynamic_cast<nets::STDC&>(net);
    const Tensor targets = nets::stdc_detail_targets(labels, stdc.detail_conv(), 0.1);
    const nets::DetailLoss detail = nets::stdc_detail_loss(outs.at(1), targets);
    const Tensor main = golden::ce_loss(outs.at(0), labels);
    golden::LossTerms t;
    t.total = fn::add(main, detail.total);
    t.main = main.item();
    t.detail = detail.total.item();
    t.detail_dice = detail.dice.item();
    t.detail_bce = detail.bce.item();
    t.detail_target_ones = static_cast<int64_t>(ops::sum(targets).item());
    return t;
  };
}

// The float32 golden: state_dict names and the eval logits at both sizes.
void check_eval(const std::string& stem) {
  const auto g = golden::Golden::load(stem);
  ASSERT_EQ(g.num_cases(), 2u);
  EXPECT_TRUE(golden::state_dict_matches(*g.build(), g));
  for (size_t i = 0; i < g.num_cases(); ++i) EXPECT_TRUE(golden::check_eval(g, i));
}

// The training step against the float64 golden of the same problem
// (tools/goldens/make_golden_f64.py): in train mode these nets amplify
// rounding so much (BatchNorm over a few values per channel at stride 32, the
// ARM's BatchNorm on a broadcast average) that upstream's own float32 step is
// off its float64 step by up to 1e-4 in the logits and 1e-2 in gradient norms
// (STDC2), more than the tolerances; in double both agree far below them.
// One size per test, to keep each one short.
void check_train(const std::string& stem, size_t case_index, const golden::LossFn& loss) {
  const auto g = golden::Golden::load(stem + "_f64");
  ASSERT_EQ(g.dtype(), DType::f64);
  ASSERT_EQ(g.num_cases(), 2u);
  EXPECT_TRUE(golden::check_train_step(g, case_index, loss));
}

}  // namespace

TEST(StdcGolden, Stdc1AuxEval) { check_eval("stdc1_aux"); }
TEST(StdcGolden, Stdc1AuxTrainSize1) { check_train("stdc1_aux", 0, golden::main_plus_aux_loss()); }
TEST(StdcGolden, Stdc1AuxTrainSize2) { check_train("stdc1_aux", 1, golden::main_plus_aux_loss()); }
TEST(StdcGolden, Stdc2AuxEval) { check_eval("stdc2_aux"); }
TEST(StdcGolden, Stdc2AuxTrainSize1) { check_train("stdc2_aux", 0, golden::main_plus_aux_loss()); }
TEST(StdcGolden, Stdc2AuxTrainSize2) { check_train("stdc2_aux", 1, golden::main_plus_aux_loss()); }
TEST(StdcGolden, Stdc1DetailEval) { check_eval("stdc1_detail"); }
TEST(StdcGolden, Stdc1DetailTrainSize1) { check_train("stdc1_detail", 0, stdc_detail_recipe()); }
TEST(StdcGolden, Stdc1DetailTrainSize2) { check_train("stdc1_detail", 1, stdc_detail_recipe()); }
TEST(StdcGolden, Stdc2DetailEval) { check_eval("stdc2_detail"); }
TEST(StdcGolden, Stdc2DetailTrainSize1) { check_train("stdc2_detail", 0, stdc_detail_recipe()); }
TEST(StdcGolden, Stdc2DetailTrainSize2) { check_train("stdc2_detail", 1, stdc_detail_recipe()); }
TEST(StdcGolden, PPLiteSegStdc1Eval) { check_eval("ppliteseg_stdc1"); }
TEST(StdcGolden, PPLiteSegStdc1TrainSize1) { check_train("ppliteseg_stdc1", 0, golden::main_only_loss()); }
TEST(StdcGolden, PPLiteSegStdc1TrainSize2) { check_train("ppliteseg_stdc1", 1, golden::main_only_loss()); }
TEST(StdcGolden, PPLiteSegStdc2Eval) { check_eval("ppliteseg_stdc2"); }
TEST(StdcGolden, PPLiteSegStdc2TrainSize1) { check_train("ppliteseg_stdc2", 0, golden::main_only_loss()); }
TEST(StdcGolden, PPLiteSegStdc2TrainSize2) { check_train("ppliteseg_stdc2", 1, golden::main_only_loss()); }

TEST(StdcNets, AuxAndDetailHeadsAreExclusive) {
  EXPECT_TRUE(ct::throws_mentioning(
      [] {
        nn::create_net({{"name", "stdc"}, {"num_classes", 19}, {"use_aux", true}, {"use_detail_head", true}});
      },
      {"stdc", "exclusive"}));
}

TEST(StdcNets, TrainingOutputsFollowUpstream) {
  const Tensor x = Tensor::zeros({1, 3, 64, 64});
  auto aux = std::dynamic_pointer_cast<nn::SegNet>(
      nn::create_net({{"name", "stdc"}, {"num_classes", 5}, {"use_aux", true}}));
  const auto a = aux->forward_train(x);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].shape(), (Shape{1, 5, 64, 64}));
  EXPECT_EQ(a[1].shape(), (Shape{1, 5, 8, 8}));
  EXPECT_EQ(a[2].shape(), (Shape{1, 5, 4, 4}));
  EXPECT_EQ(a[3].shape(), (Shape{1, 5, 2, 2}));
  auto detail = std::dynamic_pointer_cast<nn::SegNet>(
      nn::create_net({{"name", "stdc"}, {"num_classes", 5}, {"use_detail_head", true}}));
  const auto d = detail->forward_train(x);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[1].shape(), (Shape{1, 1, 8, 8}));
  EXPECT_TRUE(ct::throws_mentioning([&] { aux->forward(Tensor::zeros({1, 3, 48, 64})); }, {"stdc", "32"}));
}

// The detail loss comes from the net through nn::SegNet, with the options'
// coefficients; STDC without the detail head and PP-LiteSeg define no term.
TEST(StdcNets, DetailLossIsTheNetsOwnTerm) {
  nn::manual_seed(2);
  auto detail = std::dynamic_pointer_cast<nn::SegNet>(
      nn::create_net({{"name", "stdc"}, {"num_classes", 4}, {"use_detail_head", true}}));
  nn::NetLossOptions o;
  o.detail_coef = 0.7;
  o.dice_coef = 0.5;
  o.bce_coef = 2.0;
  o.detail_thresh = 0.2;
  const std::vector<nn::NetLoss> terms = detail->net_losses(o);
  ASSERT_EQ(terms.size(), 1u);
  EXPECT_EQ(terms[0].name, "detail");
  EXPECT_EQ(terms[0].coef, 0.7);
  EXPECT_EQ(terms[0].first_output, 1);
  const std::vector<Tensor> outs = detail->forward_train(ct::randn({1, 3, 64, 64}, 3, DType::f32));
  const Tensor labels = ct::uniform({1, 64, 64}, 0, 4, 4).to(DType::i64);
  const Tensor targets = nets::stdc_detail_targets(labels, dynamic_cast<nets::STDC&>(*detail).detail_conv(), 0.2);
  EXPECT_EQ(terms[0].value(outs, labels).item(), nets::stdc_detail_loss(outs[1], targets, 0.5, 2.0).total.item());

  for (const nn::Json& model : {nn::Json{{"name", "stdc"}, {"num_classes", 4}, {"use_aux", true}},
                                nn::Json{{"name", "ppliteseg"}, {"num_classes", 4}}}) {
    SCOPED_TRACE(model.dump());
    EXPECT_TRUE(std::dynamic_pointer_cast<nn::SegNet>(nn::create_net(model))->net_losses(o).empty());
  }
}

TEST(StdcNets, LaplacianLabelsAtThreeStrides) {
  // One class-1 pixel at (2, 2) of a zero 8x8 map. Output (a, b) of the
  // stride-s conv (padding 1) is centred on input (s a, s b); the strided maps
  // are nearest-upsampled back to 8x8.
  std::vector<double> v(64, 0.0);
  v[2 * 8 + 2] = 1;
  const Tensor lbl = Tensor::from_vector(v, {1, 8, 8}, DType::i64);
  const std::vector<double> m = nets::stdc_laplacian_labels(lbl).to_vector();
  ASSERT_EQ(m.size(), 3u * 64u);
  EXPECT_EQ(m[2 * 8 + 2], 8.0);  // stride 1 at the pixel
  EXPECT_EQ(m[1 * 8 + 1], -1.0);
  EXPECT_EQ(m[0], 0.0);
  // Stride 2: output (1, 1) is centred on input (2, 2) and covers rows/cols 2..3.
  EXPECT_EQ(m[64 + 2 * 8 + 2], 8.0);
  EXPECT_EQ(m[64 + 3 * 8 + 3], 8.0);
  EXPECT_EQ(m[64 + 0], 0.0);
  // Stride 4: output (0, 0) is centred on (0, 0), output (1, 1) on (4, 4): the pixel is in neither window.
  for (int64_t i = 0; i < 64; ++i) EXPECT_EQ(m[128 + i], 0.0) << i;
}

TEST(StdcNets, WrongNetLoadNamesTheNetAndTheTensors) {
  nn::ModulePtr s1 = nn::create_net({{"name", "stdc"}, {"encoder_type", "stdc1"}, {"num_classes", 19}});
  nn::ModulePtr s2 = nn::create_net({{"name", "stdc"}, {"encoder_type", "stdc2"}, {"num_classes", 19}});
  EXPECT_TRUE(ct::throws_mentioning([&] { s1->load_state_dict(golden::state_map(*s2)); },
                                    {"STDC", "stage3.2.block1.0.weight", "stage5.2.block4.1.running_var"}));
  nn::ModulePtr p1 = nn::create_net({{"name", "ppliteseg"}, {"encoder_type", "stdc1"}, {"num_classes", 19}});
  nn::ModulePtr p2 = nn::create_net({{"name", "ppliteseg"}, {"encoder_type", "stdc2"}, {"num_classes", 19}});
  EXPECT_TRUE(ct::throws_mentioning([&] { p2->load_state_dict(golden::state_map(*p1)); },
                                    {"PPLiteSeg", "encoder.encoder.stage3.2.block1.0.weight",
                                     "decoder.stage6.0.weight", "sppm.conv.weight"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { p1->load_state_dict(golden::state_map(*s1)); },
                                    {"PPLiteSeg", "stage1.0.weight", "encoder.encoder.stage1.0.weight"}));
}
