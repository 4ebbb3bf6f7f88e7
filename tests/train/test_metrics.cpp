#include <gtest/gtest.h>

#include <cmath>

#include "common/testing.h"
#include "train/metrics.h"

using namespace cudaseg;
using namespace cudaseg::train;

namespace {
Tensor ids(std::vector<double> v, Shape shape) { return Tensor::from_vector(v, shape, DType::i64); }
}  // namespace

// labels / predictions over 10 pixels (two images of 1x5), 255 ignored:
//   label 0: predicted 0, 0, 1        -> TP0 2, FN0 1
//   label 1: predicted 1, 1, 0, 2     -> TP1 2, FN1 2
//   label 2: predicted 2              -> TP2 1
//   ignored: 2 pixels (predicted 3 and 1), never counted
// class 3: never labelled nor predicted (on counted pixels) -> no IoU
TEST(Metrics, KnownConfusionMatrix) {
  ConfusionMatrix m(4);
  m.update(ids({0, 0, 1, 1, 1, 0, 2, 2, 3, 1}, {2, 1, 5}), ids({0, 0, 0, 1, 1, 1, 1, 2, 255, 255}, {2, 1, 5}));
  EXPECT_EQ(m.total(), 8);
  EXPECT_EQ(m.count(0, 0), 2);
  EXPECT_EQ(m.count(0, 1), 1);
  EXPECT_EQ(m.count(1, 0), 1);
  EXPECT_EQ(m.count(1, 2), 1);
  const auto iou = m.iou();
  EXPECT_DOUBLE_EQ(iou[0], 2.0 / (3 + 3 - 2));  // row 3, column 3
  EXPECT_DOUBLE_EQ(iou[1], 2.0 / (4 + 3 - 2));
  EXPECT_DOUBLE_EQ(iou[2], 1.0 / (1 + 2 - 1));
  EXPECT_TRUE(std::isnan(iou[3]));
  EXPECT_DOUBLE_EQ(m.miou(), (0.5 + 0.4 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(m.pixel_accuracy(), 5.0 / 8);
  const std::string table = m.table({"road", "car", "sky", "bus"});
  EXPECT_NE(table.find("road"), std::string::npos);
  EXPECT_NE(table.find("40.00%"), std::string::npos);
  EXPECT_NE(table.find("n/a"), std::string::npos);
  EXPECT_NE(table.find("46.67%"), std::string::npos);  // mIoU

  ConfusionMatrix again(4);
  again.merge(m);
  again.merge(m);
  EXPECT_EQ(again.count(1, 2), 2);
  EXPECT_DOUBLE_EQ(again.miou(), m.miou());
  m.reset();
  EXPECT_EQ(m.total(), 0);
  EXPECT_TRUE(std::isnan(m.miou()));
}

TEST(Metrics, UpdateFromLogitsTakesTheArgmax) {
  // [1, 3, 1, 2]: pixel 0 scores class 2 highest, pixel 1 class 0.
  Tensor logits = Tensor::from_vector({0.1, 0.9, -1.0, 0.2, 2.5, -0.3}, {1, 3, 1, 2});
  ConfusionMatrix m(3);
  m.update_logits(logits, ids({2, 1}, {1, 1, 2}));
  EXPECT_EQ(m.count(2, 2), 1);
  EXPECT_EQ(m.count(1, 0), 1);
}

TEST(Metrics, RejectsLabelsOutOfRangeAndShapeMismatch) {
  ConfusionMatrix m(3);
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { m.update(ids({0, 1}, {1, 2}), ids({0, 7}, {1, 2})); },
                                         {"label 7", "ignore index 255"}));
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { m.update(ids({0, 1}, {1, 2}), ids({0, 1}, {2, 1})); },
                                         {"[1, 2]", "[2, 1]"}));
}
