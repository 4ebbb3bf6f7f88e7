// Each first-slice net trains in the Trainer: built from its run config
// (nets/<config>.json, model section as shipped but Case::num_classes, 4 by default) on 2 synthetic
// 64x64 images (Case::image_size), a few Adam steps lower the loss on a fixed batch (ENet, with
// its spatial dropout and PReLUs, moves slower at the others' lr).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "autograd/engine.h"
#include "tests/train/net_training.h"
#include "train/data_config.h"
#include "train/trainer.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace fs = std::filesystem;
using cudaseg::train_testing::Case;
using cudaseg::train_testing::NetTraining;

namespace {


double fixed_batch_loss(Trainer& trainer, const Batch& batch) {
  autograd::NoGradGuard no_grad;
  return trainer.loss()(trainer.net().forward_train(batch.images), batch.labels).total.item();
}

}  // namespace

TEST_P(NetTraining, AFewStepsLowerTheLoss) {
  const Case c = GetParam();
  std::ifstream f(fs::path(CUDASEG_SOURCE_DIR) / "nets" / (std::string(c.config) + ".json"));
  ASSERT_TRUE(f.good()) << c.config;
  Json config = Json::parse(f);
  config["model"]["num_classes"] = c.num_classes;
  config["data"] = {{"dataset", "synthetic"}, {"num_classes", c.num_classes}, {"train_size", 2}, {"val_size", 1},
                    {"image_size", {c.image_size, c.image_size}}, {"seed", 3}, {"workers", 0}};
  config["augment"] = {{"scale", {1.0, 1.0}}, {"flip", false}};
  config["optimizer"] = {{"type", "adam"}, {"lr", c.lr}, {"weight_decay", 0.0}};
  config["schedule"] = {{"policy", "poly"}, {"warmup_iters", 0}};
  config["loss"] = {{"type", "ce"}};
  config["ema"] = {{"enabled", false}};
  config["train"] = {{"device", "cpu"}, {"iters", c.steps}, {"batch_size", 2}, {"seed", 5}, {"log_interval", 0},
                     {"val_interval", 0}, {"ckpt_interval", 0}};
  const DataSetup data = build_data(config["data"], config["augment"], 2, 1);
  // The process id keeps runs of the suite from other checkouts out of this folder.
  const fs::path dir = fs::temp_directory_path() /
                       (std::string("cudaseg_test_net_training_") + c.config + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  Trainer trainer(config, dir.string(), {data.train_loader, nullptr});
  trainer.set_log([](const std::string&) {});
  // Both training images, as one batch of the unaugmented data.
  const Batch batch = data.train_loader->make_batch(0, 0);
  const double before = fixed_batch_loss(trainer, batch);
  trainer.run();
  const double after = fixed_batch_loss(trainer, batch);
  EXPECT_TRUE(std::isfinite(before));
  EXPECT_LT(after, 0.8 * before) << c.config << ": loss " << before << " -> " << after;
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(FirstSlice, NetTraining,
                         ::testing::Values(Case{"stdc1", 6}, Case{"ppliteseg_stdc1", 6}, Case{"bisenetv2", 6},
                                           Case{"fastscnn", 9}, Case{"ddrnet23_slim", 6}, Case{"enet", 12, 5e-3},
                                           Case{"segformer_b0", 6}),
                         cudaseg::train_testing::case_name);
