#include <gtest/gtest.h>

#include <cmath>

#include "common/testing.h"
#include "train/schedule.h"

using namespace cudaseg;
using namespace cudaseg::train;

namespace {
constexpr double kPi = 3.14159265358979323846;
}

// zh320's default: OneCycleLR(max_lr=0.01, total 200 epochs x 100 it, pct_start 3/200),
// values measured with torch 1.13 (see the recipe notes).
TEST(Schedule, OneCycleMatchesTorchAtKeyIterations) {
  ScheduleConfig c;
  c.policy = "onecycle";
  c.total_iters = 20000;
  c.warmup_iters = 300;
  LrSchedule s(0.01, c);
  EXPECT_NEAR(s.lr(0), 4.0e-4, 1e-15);
  EXPECT_NEAR(s.lr(150), 4e-4 + (0.01 - 4e-4) / 2 * (1 - std::cos(kPi * 150 / 299)), 1e-15);
  EXPECT_NEAR(s.lr(299), 0.01, 1e-15);
  EXPECT_NEAR(s.lr(10000), 4e-8 + (0.01 - 4e-8) / 2 * (1 + std::cos(kPi * 9701 / 19700)), 1e-15);
  EXPECT_NEAR(s.lr(10000), 5.12e-3, 5e-6);  // the measured value, to its printed digits
  EXPECT_NEAR(s.lr(19999), 4.0e-8, 1e-20);
  EXPECT_NEAR(*s.momentum(0), 0.95, 1e-15);
  EXPECT_NEAR(*s.momentum(299), 0.85, 1e-15);
  EXPECT_NEAR(*s.momentum(19999), 0.95, 1e-15);
  EXPECT_GT(s.lr(5000), s.lr(15000));
}

// zh320's 'linear' policy: pct_start 0, linear anneal: torch starts one step into phase 2.
TEST(Schedule, OneCycleLinearWithoutWarmup) {
  ScheduleConfig c;
  c.policy = "onecycle";
  c.anneal = "linear";
  c.total_iters = 20000;
  LrSchedule s(0.01, c);
  EXPECT_NEAR(s.lr(0), 0.01 + (4e-8 - 0.01) / 20000, 1e-15);
  EXPECT_NEAR(s.lr(9999), 0.01 + (4e-8 - 0.01) * 0.5, 1e-15);
  EXPECT_NEAR(s.lr(19999), 4e-8, 1e-17);  // torch's (end - start) * 1 + start rounds
  c.cycle_momentum = false;
  EXPECT_FALSE(LrSchedule(0.01, c).momentum(10).has_value());
}

TEST(Schedule, LinearWarmupThenPoly) {
  ScheduleConfig c;
  c.policy = "poly";
  c.total_iters = 100;
  c.warmup_iters = 10;
  c.warmup_factor = 0.1;
  c.power = 0.9;
  LrSchedule s(0.1, c);
  EXPECT_NEAR(s.lr(0), 0.01, 1e-15);
  EXPECT_NEAR(s.lr(5), 0.055, 1e-15);
  EXPECT_NEAR(s.lr(10), 0.1, 1e-15);
  EXPECT_NEAR(s.lr(55), 0.1 * std::pow(0.5, 0.9), 1e-15);
  EXPECT_NEAR(s.lr(100), 0.0, 1e-15);
  EXPECT_FALSE(s.momentum(3).has_value());
}

TEST(Schedule, CosineAndStep) {
  ScheduleConfig c;
  c.policy = "cosine";
  c.total_iters = 100;
  c.min_lr = 0.002;
  LrSchedule cos(0.1, c);
  EXPECT_NEAR(cos.lr(0), 0.1, 1e-15);
  EXPECT_NEAR(cos.lr(50), 0.051, 1e-15);
  EXPECT_NEAR(cos.lr(25), 0.002 + 0.098 * 0.5 * (1 + std::cos(kPi / 4)), 1e-15);
  EXPECT_NEAR(cos.lr(100), 0.002, 1e-15);

  c.policy = "step";
  c.step_size = 30;
  c.gamma = 0.1;
  c.warmup_iters = 4;
  c.warmup_factor = 0.5;
  LrSchedule step(0.1, c);
  EXPECT_NEAR(step.lr(0), 0.05, 1e-15);
  EXPECT_NEAR(step.lr(2), 0.075, 1e-15);
  EXPECT_NEAR(step.lr(29), 0.1, 1e-15);
  EXPECT_NEAR(step.lr(30), 0.01, 1e-15);
  EXPECT_NEAR(step.lr(65), 0.001, 1e-15);
}

TEST(Schedule, RejectsBadSettingsNamingThem) {
  ScheduleConfig c;
  c.policy = "exp";
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { LrSchedule(0.1, c); }, {"schedule.policy", "exp", "poly"}));
  c.policy = "poly";
  c.total_iters = 10;
  c.warmup_iters = 10;
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { LrSchedule(0.1, c); }, {"schedule.warmup_iters"}));
}
