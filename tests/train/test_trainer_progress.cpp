// Trainer::set_progress: the per-step callback the Python package's
// cudaseg.train(progress=...) is built on.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "common/testing.h"
#include "train/trainer.h"
#include "trainer_toy.h"
#include "weights/checkpoint.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace ct = cudaseg::testing;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_progress_" + name);
  fs::remove_all(dir);
  return dir;
}

// The "train" records of OUT/metrics.jsonl by step.
std::map<int64_t, nlohmann::json> train_records(const fs::path& dir) {
  std::map<int64_t, nlohmann::json> records;
  std::ifstream in(dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j["type"] == "train") records[j["step"].get<int64_t>()] = j;
  }
  return records;
}

}  // namespace

TEST(TrainerProgress, EveryStepReportsItsLossTermsLrAndValidation) {
  const fs::path dir = fresh_dir("steps");
  Json config = train_testing::toy_config();
  config["train"]["iters"] = 6;
  config["train"]["log_interval"] = 1;
  config["train"]["val_interval"] = 3;
  Trainer trainer(config, dir.string(), train_testing::toy_data(8, 2, 3));
  trainer.set_log([](const std::string&) {});
  std::vector<StepProgress> seen;
  trainer.set_progress([&](const StepProgress& p) { seen.push_back(p); });
  const TrainResult r = trainer.run();
  ASSERT_EQ(seen.size(), 6u);
  const auto records = train_records(dir);
  for (size_t i = 0; i < seen.size(); ++i) {
    const StepProgress& p = seen[i];
    EXPECT_EQ(p.step, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(p.iters, 6);
    // The same numbers metrics.jsonl records for the step.
    const nlohmann::json& rec = records.at(p.step);
    EXPECT_DOUBLE_EQ(p.loss, rec["loss"].get<double>());
    EXPECT_DOUBLE_EQ(p.lr, rec["lr"].get<double>());
    ASSERT_EQ(p.terms.size(), 1u);
    EXPECT_EQ(p.terms[0].first, "seg");
    EXPECT_DOUBLE_EQ(p.terms[0].second, rec["terms"]["seg"].get<double>());
    EXPECT_GE(p.seconds, 0.0);
    EXPECT_EQ(p.miou.has_value(), p.step % 3 == 0) << "step " << p.step;
  }
  EXPECT_DOUBLE_EQ(*seen.back().miou, r.last_miou);
  fs::remove_all(dir);
}

TEST(TrainerProgress, ACallbackRaisingTheStopFlagEndsTheRunAfterThatStepWithACheckpoint) {
  const fs::path dir = fresh_dir("stop");
  Json config = train_testing::toy_config();
  config["train"]["iters"] = 10;
  Trainer trainer(config, dir.string(), train_testing::toy_data(8, 0, 3));
  trainer.set_log([](const std::string&) {});
  std::atomic<bool> stop{false};
  trainer.set_stop_flag(&stop);
  trainer.set_progress([&](const StepProgress& p) {
    if (p.step == 2) stop = true;
  });
  EXPECT_EQ(trainer.run().step, 2);
  EXPECT_EQ(weights::load_checkpoint((dir / "last").string()).train_state->step, 2);
  fs::remove_all(dir);
}

TEST(TrainerProgress, AnExceptionFromTheCallbackFailsTheRunAndKeepsTheStepsTrained) {
  const fs::path dir = fresh_dir("throw");
  Json config = train_testing::toy_config();
  config["train"]["iters"] = 10;
  Trainer trainer(config, dir.string(), train_testing::toy_data(8, 0, 3));
  trainer.set_log([](const std::string&) {});
  trainer.set_progress([](const StepProgress& p) {
    if (p.step == 3) CUDASEG_FAIL("progress callback gave up");
  });
  EXPECT_TRUE(ct::throws_mentioning([&] { trainer.run(); }, {"progress callback gave up", "3 steps trained are saved"}));
  EXPECT_EQ(weights::load_checkpoint((dir / "last").string()).train_state->step, 3);
  fs::remove_all(dir);
}
