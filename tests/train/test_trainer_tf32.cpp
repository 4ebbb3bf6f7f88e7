// train.tf32 is the calling thread's TF32 setting (runtime/math_mode.h) for
// every forward of a Trainer run, validation included, and is restored after.
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "runtime/math_mode.h"
#include "tests/common/tf32_probe.h"
#include "train/config.h"
#include "train/data_config.h"
#include "train/trainer.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace fs = std::filesystem;
namespace ct = cudaseg::testing;

TEST(Trainer, Tf32SettingHoldsDuringTheRunAndIsRestored) {
  ct::register_tf32_probe();
  const fs::path dir = fs::temp_directory_path() / "cudaseg_test_trainer_tf32";
  for (const bool on : {true, false}) {
    fs::remove_all(dir);
    const Json config = {
        {"model", {{"name", "tf32_probe_net"}, {"num_classes", 3}}},
        {"data", {{"num_classes", 3}, {"train_size", 4}, {"val_size", 1}, {"image_size", {8, 8}}, {"workers", 0}}},
        {"loss", {{"type", "ce"}}},
        {"train", {{"iters", 2}, {"batch_size", 2}, {"tf32", on}, {"val_interval", 0}, {"ckpt_interval", 0}}}};
    const Json resolved = resolve_config(config);
    const DataSetup data = build_data(resolved["data"], resolved["augment"], 2, 1);
    Trainer trainer(resolved, dir.string(), {data.train_loader, data.val_loader});
    trainer.set_log([](const std::string&) {});
    ct::Tf32Probe::seen().clear();
    trainer.run();
    ASSERT_GE(ct::Tf32Probe::seen().size(), 3u);  // two steps and the final validation
    for (bool s : ct::Tf32Probe::seen()) EXPECT_EQ(s, on);
    EXPECT_FALSE(allow_tf32());
  }
  fs::remove_all(dir);
}
