#include <gtest/gtest.h>

#include "autograd/engine.h"
#include "common/testing.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "ops/ops.h"
#include "train/validate.h"
#include "trainer_toy.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace ct = cudaseg::testing;

namespace {

// A translation-invariant net: 1x1 convs and eval-mode BN act per pixel, so
// every window sees exactly what the whole image gives at its pixels.
nn::ModulePtr pointwise_net() {
  train_testing::register_toy_net();
  nn::manual_seed(5);
  nn::ModulePtr net = nn::create_net({{"name", "train_toy"}, {"num_classes", 4}, {"kernel", 1}});
  net->train();
  net->forward(ct::randn({2, 3, 6, 6}, 1, DType::f32));  // non-trivial running stats
  net->eval();
  return net;
}

}  // namespace

TEST(Validate, SlidingWindowEqualsWholeImageForATranslationInvariantNet) {
  nn::ModulePtr net = pointwise_net();
  const Tensor images = ct::randn({2, 3, 13, 17}, 2, DType::f32);
  const Tensor whole = infer_whole(*net, images);
  // Overlapping windows with a shifted last row/column, and windows larger than the image.
  for (const auto& [crop, stride] : std::vector<std::pair<std::array<int64_t, 2>, std::array<int64_t, 2>>>{
           {{6, 8}, {4, 5}}, {{5, 5}, {5, 5}}, {{20, 30}, {10, 10}}, {{13, 4}, {1, 3}}}) {
    const Tensor slide = infer_slide(*net, images, crop, stride);
    EXPECT_EQ(slide.shape(), whole.shape());
    EXPECT_TRUE(ct::all_close(slide, whole, 1e-6, 1e-6)) << "crop " << crop[0] << "x" << crop[1];
  }
  ValConfig vc{"slide", {6, 8}, {4, 5}};
  EXPECT_TRUE(ct::all_close(infer(*net, images, vc), whole, 1e-6, 1e-6));
  EXPECT_TRUE(autograd::grad_mode_enabled());  // the no-grad guard ends with the call
}

TEST(Validate, SlidingWindowAveragesWhereWindowsOverlap) {
  // With a 3x3 conv the windows' borders see zero padding, so overlap regions
  // mix differing window logits: the result is their mean, not their sum.
  train_testing::register_toy_net();
  nn::manual_seed(6);
  nn::ModulePtr net = nn::create_net({{"name", "train_toy"}, {"num_classes", 2}});
  net->eval();
  const Tensor images = ct::randn({1, 3, 8, 8}, 3, DType::f32);
  const Tensor slide = infer_slide(*net, images, {8, 6}, {8, 2});  // windows at x = 0 and 2
  const Tensor left = infer_whole(*net, images.slice(3, 0, 6).contiguous());
  const Tensor right = infer_whole(*net, images.slice(3, 2, 8).contiguous());
  const Tensor mid = ops::div(ops::add(left.slice(3, 2, 6), right.slice(3, 0, 4)), 2.0);
  EXPECT_TRUE(ct::all_close(slide.slice(3, 2, 6), mid, 1e-6, 1e-6));
  EXPECT_TRUE(ct::all_close(slide.slice(3, 0, 2), left.slice(3, 0, 2), 1e-6, 1e-6));
  EXPECT_TRUE(ct::all_close(slide.slice(3, 6, 8), right.slice(3, 4, 6), 1e-6, 1e-6));
}

TEST(Validate, EvaluateScoresEveryLabelledPixelAndRestoresTheMode) {
  train_testing::register_toy_net();
  nn::manual_seed(7);
  nn::ModulePtr net = nn::create_net({{"name", "train_toy"}, {"num_classes", 3}});
  net->train();
  auto loader = train_testing::toy_loader(std::make_shared<train_testing::BlobsDataset>(3, 10, 12, 1), false);
  loader->next();  // evaluation starts from the first sample wherever the loader stands
  const EvalResult r = evaluate(*net, *loader, ValConfig{}, Device::cpu());
  EXPECT_EQ(r.images, 3);
  EXPECT_EQ(r.confusion.total(), 3 * 9 * 12);  // the top row is ignored
  EXPECT_TRUE(net->is_training());
  EXPECT_TRUE(ct::throws_mentioning([&] { infer_slide(*net, Tensor::zeros({1, 3, 4, 4}), {0, 2}, {1, 1}); },
                                    {"crop and stride must be positive"}));
}
