// The shipped distillation configs (nets/*_kd.json) resolve, build their
// teacher from a checkpoint of its model, resolve every pair on the real nets
// and train one step on the synthetic data on the CPU, logging each
// objective. The teacher checkpoint here holds the teacher's initial weights
// (docs/training.md says how to train a real one first); sizes are cut down
// to keep the step short.
#include <gtest/gtest.h>

#include <filesystem>

#include <unistd.h>

#include "nn/registry.h"
#include "train/config.h"
#include "train/data_config.h"
#include "train/trainer.h"
#include "weights/checkpoint.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace fs = std::filesystem;

namespace {

void run_one_step(const std::string& name, const std::vector<std::string>& overrides,
                  const std::vector<std::string>& terms) {
  SCOPED_TRACE(name);
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_kd_config_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  std::vector<std::string> sets = {"train.iters=1",         "train.batch_size=1",  "data.train_size=2",
                                   "data.val_size=1",       "data.workers=0",      "train.log_interval=1",
                                   "train.val_interval=0",  "train.ckpt_interval=0", "schedule.warmup_iters=0"};
  sets.insert(sets.end(), overrides.begin(), overrides.end());
  Json config = load_config(std::string(CUDASEG_SOURCE_DIR) + "/nets/" + name + ".json", sets);
  const Json teacher_model = nn::resolve_model_config(config["distill"]["teacher"]["model"]);
  weights::Checkpoint ck;
  ck.model_json = teacher_model.dump();
  for (const auto& [n, t] : nn::create_net(teacher_model)->state_dict()) ck.tensors.insert(n, t);
  fs::create_directories(dir);
  weights::save_checkpoint((dir / "teacher").string(), ck);
  config["distill"]["teacher"]["checkpoint"] = (dir / "teacher").string();
  const DataSetup data = build_data(config["data"], config["augment"], 1, 1);
  Trainer trainer(config, (dir / "run").string(), {data.train_loader, nullptr});
  std::string step_line;
  trainer.set_log([&](const std::string& l) {
    if (l.rfind("step 1/1", 0) == 0) step_line = l;
  });
  trainer.run();
  ASSERT_FALSE(step_line.empty());
  for (const std::string& term : terms) EXPECT_NE(step_line.find(term + " "), std::string::npos) << step_line;
  fs::remove_all(dir);
}

}  // namespace

// FastSegFormer-E at 224 (its fixed size) from a Swin-T-Att-UNet teacher on the larger crop (256 here, 512 in the config).
TEST(DistillConfigs, FastSegFormerE) {
  run_one_step("fastsegformer_e_kd",
               {"data.image_size=[256,256]", "augment.crop=[256,256]",
                "augment.multi_resolution={\"student\":[224,224],\"teacher\":[256,256]}"},
               {"pkl", "nfd"});
}

TEST(DistillConfigs, SekdB0) { run_one_step("sekd_b0_kd", {}, {"sekd_context", "sekd_texture"}); }

TEST(DistillConfigs, Stdc1FromSmpDeepLabV3Plus) { run_one_step("stdc1_kd", {}, {"kd"}); }
