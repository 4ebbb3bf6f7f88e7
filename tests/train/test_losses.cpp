#include <gtest/gtest.h>

#include <cmath>

#include "autograd/fn.h"
#include "common/testing.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nn/segnet.h"
#include "nets/stdc.h"
#include "ops/ops.h"
#include "train/losses.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace ct = cudaseg::testing;

namespace {

// Labels in [0, classes) with every 7th pixel ignored.
Tensor random_labels(Shape shape, int64_t classes, uint64_t seed) {
  auto u = ct::uniform(shape, 0, static_cast<double>(classes), seed).to_vector();
  for (size_t i = 0; i < u.size(); ++i) u[i] = i % 7 == 3 ? 255 : std::floor(u[i]);
  return Tensor::from_vector(u, shape, DType::i64);
}

// A net defining its own term on its second output: the options' coefficients
// reach it, and the output it consumes is not taken for aux logits.
struct OwnLossNet : nn::SegNet {
  OwnLossNet() : nn::SegNet("OwnLossNet") {}
  std::vector<nn::NetLoss> net_losses(const nn::NetLossOptions& o) const override {
    const double scale = o.dice_coef + o.bce_coef + o.detail_thresh;
    auto sum = [scale](const std::vector<Tensor>& outputs, const Tensor&) {
      return fn::mul(fn::sum(outputs.at(1)), scale);
    };
    return {{"own", o.detail_coef, 1, sum}};
  }
};

}  // namespace

TEST(Losses, CrossEntropyUsesClassWeightsAndIgnoreIndex) {
  LossConfig c;
  c.type = "ce";
  c.class_weights = {0.5, 2.0, 1.0};
  SegLoss loss(c, 3);
  Tensor logits = ct::randn({2, 3, 4, 5}, 1, DType::f64);
  Tensor labels = random_labels({2, 4, 5}, 3, 2);
  // By hand: sum_i w[t_i] * -log_softmax(x_i)[t_i] / sum_i w[t_i] over non-ignored pixels.
  const auto lp = ops::log_softmax(logits, 1).to_vector();
  const auto t = labels.to_vector();
  double num = 0, den = 0;
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t p = 0; p < 20; ++p) {
      const double label = t[static_cast<size_t>(n * 20 + p)];
      if (label == 255) continue;
      const double w = c.class_weights[static_cast<size_t>(label)];
      num += -w * lp[static_cast<size_t>(n * 60 + static_cast<int64_t>(label) * 20 + p)];
      den += w;
    }
  }
  EXPECT_NEAR(loss.pixel_loss(logits, labels).item(), num / den, 1e-12);
  LossResult r = loss({logits}, labels);
  ASSERT_EQ(r.terms.size(), 1u);
  EXPECT_EQ(r.terms[0].name, "seg");
  EXPECT_NEAR(r.total.item(), num / den, 1e-12);
}

TEST(Losses, OhemIsZh320sOhem) {
  LossConfig c;  // ohem is the default
  SegLoss loss(c, 4);
  Tensor logits = ct::randn({2, 4, 6, 6}, 3, DType::f64);
  Tensor labels = random_labels({2, 6, 6}, 4, 4);
  EXPECT_EQ(loss.pixel_loss(logits, labels).item(), fn::ohem_cross_entropy(logits, labels, {0.7, 255, -1}).item());
}

TEST(Losses, DownsamplesLabelsByNearest) {
  std::vector<double> v(16);
  for (int i = 0; i < 16; ++i) v[static_cast<size_t>(i)] = i;
  Tensor labels = Tensor::from_vector(v, {1, 4, 4}, DType::i64);
  Tensor small = downsample_labels(labels, 2, 2);
  EXPECT_EQ(small.dtype(), DType::i64);
  EXPECT_EQ(small.to_vector(), (std::vector<double>{0, 2, 8, 10}));
  // 4 -> 3: source index floor(i * 4 / 3) = 0, 1, 2
  EXPECT_EQ(downsample_labels(labels, 3, 1).to_vector(), (std::vector<double>{0, 4, 8}));
}

TEST(Losses, AuxTermsUseCoefficientsAndDownsampledLabels) {
  LossConfig c;
  c.type = "ce";
  c.aux_coef = {0.4, 0.25};
  SegLoss loss(c, 3);
  Tensor main = ct::randn({2, 3, 8, 8}, 5, DType::f64);
  Tensor aux0 = ct::randn({2, 3, 4, 4}, 6, DType::f64);
  Tensor aux1 = ct::randn({2, 3, 2, 2}, 7, DType::f64);
  Tensor labels = random_labels({2, 8, 8}, 3, 8);
  LossResult r = loss({main, aux0, aux1}, labels);
  ASSERT_EQ(r.terms.size(), 3u);
  EXPECT_EQ(r.terms[1].name, "aux0");
  EXPECT_EQ(r.terms[2].name, "aux1");
  const double seg = loss.pixel_loss(main, labels).item();
  const double a0 = loss.pixel_loss(aux0, downsample_labels(labels, 4, 4)).item();
  const double a1 = loss.pixel_loss(aux1, downsample_labels(labels, 2, 2)).item();
  EXPECT_NEAR(r.terms[1].value.item(), 0.4 * a0, 1e-12);
  EXPECT_NEAR(r.total.item(), seg + 0.4 * a0 + 0.25 * a1, 1e-12);
  EXPECT_NE(r.summary().find("aux1 "), std::string::npos);

  c.aux_coef = {1.0};
  SegLoss wrong(c, 3);
  EXPECT_TRUE(ct::throws_mentioning([&] { wrong({main, aux0, aux1}, labels); }, {"aux_coef", "2 aux outputs"}));
}

TEST(Losses, ExtraTermIsPluggedInAndGradientsFlow) {
  LossConfig c;
  c.type = "ce";
  SegLoss loss(c, 3);
  Tensor main = ct::leaf({1, 3, 4, 4}, 9);
  Tensor extra = ct::leaf({1, 1, 2, 2}, 10);
  loss.add_extra("l2", 0.5, 1, [](const std::vector<Tensor>& outs, const Tensor&) {
    return fn::sum(fn::mul(outs[1], outs[1]));
  });
  Tensor labels = random_labels({1, 4, 4}, 3, 11);
  LossResult r = loss({main, extra}, labels);  // the extra output is not an aux output
  ASSERT_EQ(r.terms.size(), 2u);
  EXPECT_EQ(r.terms[1].name, "l2");
  double sq = 0;
  for (double v : extra.to_vector()) sq += v * v;
  EXPECT_NEAR(r.terms[1].value.item(), 0.5 * sq, 1e-12);
  EXPECT_NEAR(r.total.item(), loss.pixel_loss(main, labels).item() + 0.5 * sq, 1e-12);
  autograd::backward(r.total);
  ASSERT_TRUE(extra.grad().defined());
  ASSERT_TRUE(main.grad().defined());
  EXPECT_TRUE(ct::all_close(extra.grad(), extra.detach(), 1e-12, 0));  // d(0.5 x^2)/dx
}

// STDC with a detail head trains with zh320's detail loss; without one, not.
TEST(Losses, StdcDetailHeadAddsTheDetailLoss) {
  nn::manual_seed(3);
  const nn::SegNetPtr net = nn::create_net(
      {{"name", "stdc"}, {"encoder_type", "stdc1"}, {"num_classes", 4}, {"use_detail_head", true}});
  auto& stdc = dynamic_cast<nets::STDC&>(*net);
  LossConfig c;
  c.type = "ce";
  c.detail_coef = 0.7;
  c.dice_coef = 0.5;
  c.bce_coef = 2.0;
  c.detail_thresh = 0.2;
  SegLoss loss(c, 4);
  add_net_losses(loss, *net);
  const Tensor labels = random_labels({1, 64, 64}, 4, 12);
  const std::vector<Tensor> outs = stdc.forward_train(ct::randn({1, 3, 64, 64}, 13, DType::f32));
  ASSERT_EQ(outs.size(), 2u);
  const LossResult r = loss(outs, labels);
  ASSERT_EQ(r.terms.size(), 2u);
  EXPECT_EQ(r.terms[1].name, "detail");
  const Tensor targets = nets::stdc_detail_targets(labels, stdc.detail_conv(), 0.2);
  const double want = 0.7 * nets::stdc_detail_loss(outs[1], targets, 0.5, 2.0).total.item();
  EXPECT_NEAR(r.terms[1].value.item(), want, 1e-6);

  const nn::SegNetPtr plain = nn::create_net({{"name", "stdc"}, {"encoder_type", "stdc1"}, {"num_classes", 4}});
  SegLoss without(c, 4);
  add_net_losses(without, *plain);
  const auto plain_outs = plain->forward_train(ct::randn({1, 3, 64, 64}, 14, DType::f32));
  EXPECT_EQ(without(plain_outs, labels).terms.size(), 1u);
}

// add_net_losses asks the net, knowing none by name.
TEST(Losses, NetsContributeTheirOwnTermsThroughTheInterface) {
  LossConfig c;
  c.type = "ce";
  c.detail_coef = 0.5;
  c.dice_coef = 1.0;
  c.bce_coef = 2.0;
  c.detail_thresh = 0.25;
  SegLoss loss(c, 3);
  OwnLossNet net;
  add_net_losses(loss, net);
  const Tensor main = ct::randn({1, 3, 4, 4}, 5, DType::f64);
  const Tensor extra = ct::randn({1, 1, 2, 2}, 6, DType::f64);
  const LossResult r = loss({main, extra}, random_labels({1, 4, 4}, 3, 7));
  ASSERT_EQ(r.terms.size(), 2u);
  EXPECT_EQ(r.terms[1].name, "own");
  double sum = 0;
  for (double v : extra.to_vector()) sum += v;
  EXPECT_NEAR(r.terms[1].value.item(), 0.5 * 3.25 * sum, 1e-12);

  SegLoss plain(c, 3);
  add_net_losses(plain, *nn::create_net({{"name", "ppliteseg"}, {"num_classes", 3}}));
  EXPECT_EQ(plain({main}, random_labels({1, 4, 4}, 3, 7)).terms.size(), 1u);
}

TEST(Losses, RejectsBadConfig) {
  LossConfig c;
  c.type = "focal";
  EXPECT_TRUE(ct::throws_mentioning([&] { SegLoss(c, 3); }, {"loss.type", "focal", "ce, ohem"}));
  c.type = "ce";
  c.class_weights = {1, 2};
  EXPECT_TRUE(ct::throws_mentioning([&] { SegLoss(c, 3); }, {"class_weights", "3 classes"}));
}
