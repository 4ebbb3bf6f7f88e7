// train.tf32 is the calling thread's TF32 setting (runtime/math_mode.h) for
// every forward of a Trainer run, validation included, and is restored after.
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <vector>

#include "nn/layers.h"
#include "nn/registry.h"
#include "runtime/math_mode.h"
#include "train/config.h"
#include "train/data_config.h"
#include "train/trainer.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace fs = std::filesystem;

namespace {

std::vector<bool>& seen() {
  static std::vector<bool> values;
  return values;
}

class Tf32Probe : public nn::SegNet {
 public:
  explicit Tf32Probe(int64_t num_classes) : nn::SegNet("Tf32Probe") {
    head = register_module("head", std::make_shared<nn::Conv2d>(3, num_classes, 1));
  }
  Tensor forward(const Tensor& x) override {
    seen().push_back(allow_tf32());
    return (*head)(x);
  }
  std::shared_ptr<nn::Conv2d> head;
};

void register_probe() {
  static std::once_flag once;
  std::call_once(once, [] {
    nn::register_net({"train_tf32_probe", "records the TF32 setting its forward sees", {},
                      [](const Json& a) -> nn::SegNetPtr {
                        return std::make_shared<Tf32Probe>(a["num_classes"].get<int64_t>());
                      }});
  });
}

}  // namespace

TEST(Trainer, Tf32SettingHoldsDuringTheRunAndIsRestored) {
  register_probe();
  const fs::path dir = fs::temp_directory_path() / "cudaseg_test_trainer_tf32";
  for (const bool on : {true, false}) {
    fs::remove_all(dir);
    const Json config = {
        {"model", {{"name", "train_tf32_probe"}, {"num_classes", 3}}},
        {"data", {{"num_classes", 3}, {"train_size", 4}, {"val_size", 1}, {"image_size", {8, 8}}, {"workers", 0}}},
        {"loss", {{"type", "ce"}}},
        {"train", {{"iters", 2}, {"batch_size", 2}, {"tf32", on}, {"val_interval", 0}, {"ckpt_interval", 0}}}};
    const Json resolved = resolve_config(config);
    const DataSetup data = build_data(resolved["data"], resolved["augment"], 2, 1);
    Trainer trainer(resolved, dir.string(), {data.train_loader, data.val_loader});
    trainer.set_log([](const std::string&) {});
    seen().clear();
    trainer.run();
    ASSERT_GE(seen().size(), 3u);  // two steps and the final validation
    for (bool s : seen()) EXPECT_EQ(s, on);
    EXPECT_FALSE(allow_tf32());
  }
  fs::remove_all(dir);
}
