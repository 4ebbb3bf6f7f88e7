#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "common/cuda_skip.h"
#include "common/testing.h"
#include "nn/registry.h"
#include "train/data_config.h"
#include "train/trainer.h"
#include "train/validate.h"
#include "trainer_toy.h"
#include "weights/checkpoint.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace ct = cudaseg::testing;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_trainer_" + name);
  fs::remove_all(dir);
  return dir;
}

// A source that yields good batches, then one with a NaN pixel.
class PoisonedBatches : public BatchSource {
 public:
  PoisonedBatches(std::shared_ptr<Loader> loader, int64_t poison_at) : inner_(loader), poison_at_(poison_at) {}
  Batch next() override {
    Batch b = inner_.next();
    if (++drawn_ == poison_at_) {
      b.images = b.images.clone();
      b.images.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
    }
    return b;
  }
  nlohmann::json state() const override { return inner_.state(); }
  void set_state(const nlohmann::json& s) override { inner_.set_state(s); }
  int64_t epoch() const override { return inner_.epoch(); }

 private:
  LoaderBatches inner_;
  int64_t poison_at_;
  int64_t drawn_ = 0;
};

}  // namespace

TEST(Trainer, ShortRunOnSyntheticDataRaisesMiou) {
  const fs::path dir = fresh_dir("miou");
  Json config = train_testing::toy_config();
  config["train"]["val_interval"] = 15;
  const TrainData data = train_testing::toy_data(24, 6, 1);
  Trainer trainer(config, dir.string(), data);
  std::vector<std::string> lines;
  trainer.set_log([&](const std::string& l) { lines.push_back(l); });
  const double before =
      evaluate(trainer.net(), *data.val, ValConfig{}, Device::cpu()).confusion.miou();
  const TrainResult r = trainer.run();
  EXPECT_EQ(r.step, 30);
  EXPECT_GT(r.last_miou, before + 0.25) << "before " << before;
  EXPECT_GT(r.best_miou, 0.7);
  EXPECT_GE(r.best_step, 15);
  // Progress lines carry the loss terms, lr, throughput and ETA; validations the per-class table.
  bool progress = false, table = false;
  for (const auto& l : lines) {
    progress = progress || (l.find("step 10/30") != std::string::npos && l.find("seg ") != std::string::npos &&
                            l.find("lr ") != std::string::npos && l.find("img/s") != std::string::npos &&
                            l.find("ETA") != std::string::npos);
    table = table || (l.find("val step 30: mIoU") != std::string::npos && l.find("blue") != std::string::npos);
  }
  EXPECT_TRUE(progress);
  EXPECT_TRUE(table);
  // The effective config, the last training checkpoint and the best weights.
  const Json saved = load_config((dir / "config.json").string());
  EXPECT_EQ(saved["optimizer"]["momentum"], 0.9);
  EXPECT_EQ(saved, trainer.config());
  const weights::Checkpoint last = weights::load_checkpoint((dir / "last").string());
  ASSERT_TRUE(last.train_state.has_value());
  EXPECT_EQ(last.train_state->step, 30);
  const weights::Checkpoint best = weights::load_checkpoint((dir / "best").string());
  EXPECT_FALSE(best.train_state.has_value());
  EXPECT_EQ(Json::parse(best.model_json), trainer.config()["model"]);
  EXPECT_NEAR(Json::parse(best.metadata_json)["miou"].get<double>(), r.best_miou, 1e-12);
  EXPECT_EQ(best.class_names, (std::vector<std::string>{"background", "red", "blue"}));
  fs::remove_all(dir);
}

// The checkpoints record the normalisation and validation size of the augment
// section: the preprocessing and input size inference applies.
TEST(Trainer, CheckpointsCarryTheAugmentPreprocessing) {
  const fs::path dir = fresh_dir("preprocess");
  Json config = train_testing::toy_config();
  config["augment"]["mean"] = {0.0, 0.0, 0.0};
  config["augment"]["std"] = {1.0, 1.0, 1.0};
  config["augment"]["val_resize"] = {12, 16};
  config["train"]["iters"] = 3;
  config["train"]["val_interval"] = 0;
  Trainer trainer(config, dir.string(), train_testing::toy_data(4, 2, 1));
  trainer.set_log([](const std::string&) {});
  trainer.run();
  for (const char* name : {"last", "best"}) {
    SCOPED_TRACE(name);
    const weights::Checkpoint ck = weights::load_checkpoint((dir / name).string());
    EXPECT_EQ(ck.preprocess.mean, (std::vector<double>{0.0, 0.0, 0.0}));
    EXPECT_EQ(ck.preprocess.std, (std::vector<double>{1.0, 1.0, 1.0}));
    EXPECT_EQ(ck.preprocess.input_size, (std::vector<int64_t>{12, 16}));
  }
  fs::remove_all(dir);
}

// Interrupted at step 5 and resumed, the run ends bit-identical to one that
// never stopped: weights, BN buffers, optimizer moments, EMA, dropout masks
// (RNG) and the loader's shuffled order all continue exactly.
TEST(Trainer, ResumeIsBitIdentical) {
  Json config = train_testing::toy_config();
  config["model"]["dropout"] = 0.2;
  config["model"]["use_aux"] = true;
  config["optimizer"] = {{"type", "sgd"}, {"lr", 0.05}, {"nesterov", true}, {"weight_decay", 1e-3}};
  config["schedule"] = {{"policy", "onecycle"}, {"warmup_iters", 3}};
  config["loss"] = {{"type", "ohem"}, {"aux_coef", {0.4}}};
  config["ema"] = {{"enabled", true}};
  config["train"]["iters"] = 11;
  config["train"]["ckpt_interval"] = 4;
  // 10 samples: 2 full batches of 4 per epoch, so epochs roll over; flips
  // are drawn per (epoch, index); 2 loader threads.
  auto data = [] { return train_testing::toy_data(10, 2, 3, 2); };

  const fs::path a = fresh_dir("resume_a"), b = fresh_dir("resume_b");
  Trainer whole(config, a.string(), data());
  whole.set_log([](const std::string&) {});
  whole.run();

  {
    Trainer first(config, b.string(), data());
    first.set_log([](const std::string&) {});
    EXPECT_EQ(first.run(5).step, 5);  // "interrupted" after step 5
  }
  Trainer second(config, b.string(), data());
  second.set_log([](const std::string&) {});
  second.resume(b.string());
  EXPECT_EQ(second.step(), 5);
  const TrainResult r = second.run();
  EXPECT_EQ(r.step, 11);

  const auto sa = whole.net().state_dict(), sb = second.net().state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].second.to_vector(), sb[i].second.to_vector()) << sa[i].first;
  }
  const auto ea = weights::load_checkpoint((a / "best").string()), eb = weights::load_checkpoint((b / "best").string());
  for (const auto& [name, t] : ea.tensors) EXPECT_EQ(t.to_vector(), eb.tensors.at(name).to_vector()) << name;
  const auto la = weights::load_checkpoint((a / "last").string()), lb = weights::load_checkpoint((b / "last").string());
  EXPECT_EQ(la.train_state->loader_json, lb.train_state->loader_json);
  EXPECT_EQ(la.train_state->rng_offset, lb.train_state->rng_offset);
  for (const auto& [name, t] : la.train_state->optimizer) {
    EXPECT_EQ(t.to_vector(), lb.train_state->optimizer.at(name).to_vector()) << name;
  }
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Trainer, NanLossStopsWithAClearErrorAndKeepsTheLastGoodCheckpoint) {
  const fs::path dir = fresh_dir("nan");
  Json config = train_testing::toy_config();
  config["train"]["ckpt_interval"] = 1;
  const TrainData data = train_testing::toy_data(8, 0, 5);
  Trainer trainer(config, dir.string(), data);
  trainer.set_log([](const std::string&) {});
  trainer.set_batch_source(std::make_unique<PoisonedBatches>(data.train, 3));
  EXPECT_TRUE(ct::throws_mentioning([&] { trainer.run(); },
                                    {"diverged", "nan", "step 3", "seg", "last good checkpoint", "last"}));
  const weights::Checkpoint last = weights::load_checkpoint((dir / "last").string());
  EXPECT_EQ(last.train_state->step, 2);
  for (const auto& [name, t] : last.tensors) {
    for (double v : t.to_vector()) ASSERT_TRUE(std::isfinite(v)) << name;
  }
  fs::remove_all(dir);
}

TEST(Trainer, ResumeRefusesAnotherModelOrAWeightsOnlyCheckpoint) {
  const fs::path dir = fresh_dir("refuse");
  Json config = train_testing::toy_config();
  config["train"]["iters"] = 2;
  config["train"]["val_interval"] = 1;
  config["schedule"]["warmup_iters"] = 0;
  {
    Trainer t(config, dir.string(), train_testing::toy_data(8, 1, 6));
    t.set_log([](const std::string&) {});
    t.run();
  }
  config["model"]["width"] = 4;
  Trainer other(config, (dir / "other").string(), train_testing::toy_data(8, 0, 6));
  EXPECT_TRUE(ct::throws_mentioning([&] { other.resume(dir.string()); }, {"differs from the config"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { other.resume((dir / "best").string()); }, {"not a training checkpoint"}));
  config["model"]["num_classes"] = 5;
  EXPECT_TRUE(ct::throws_mentioning([&] { Trainer(config, dir.string(), train_testing::toy_data(8, 0, 6)); },
                                    {"blobs", "3 classes", "num_classes is 5"}));
  config["model"]["num_classes"] = 3;
  config["train"]["batch_size"] = 2;
  EXPECT_TRUE(ct::throws_mentioning([&] { Trainer(config, dir.string(), train_testing::toy_data(8, 0, 6)); },
                                    {"batch size 4", "train.batch_size 2"}));
  fs::remove_all(dir);
}

// fp32 training on CUDA follows the CPU run (same batches, same init).
TEST(Trainer, CudaRunFollowsTheCpuRun) {
  CUDASEG_REQUIRE_CUDA();
  Json config = train_testing::toy_config();
  config["train"]["iters"] = 4;
  config["model"]["use_aux"] = true;
  config["loss"] = {{"type", "ohem"}};
  const fs::path a = fresh_dir("cpu"), b = fresh_dir("cuda");
  Trainer cpu(config, a.string(), train_testing::toy_data(8, 2, 9));
  cpu.set_log([](const std::string&) {});
  cpu.run();
  config["train"]["device"] = "cuda";
  Trainer cuda(config, b.string(), train_testing::toy_data(8, 2, 9));
  cuda.set_log([](const std::string&) {});
  const TrainResult r = cuda.run();
  EXPECT_GE(r.last_miou, 0.0);
  const auto sa = cpu.net().state_dict(), sb = cuda.net().state_dict();
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_TRUE(ct::all_close(sb[i].second.to(Device::cpu()), sa[i].second, 1e-4, 1e-3)) << sa[i].first;
  }
  fs::remove_all(a);
  fs::remove_all(b);
}

// The default data path: the built-in synthetic dataset through build_data.
TEST(Trainer, RaisesMiouOnTheBuiltInSyntheticData) {
  const fs::path dir = fresh_dir("synthetic");
  Json config = train_testing::toy_config();
  config["model"]["num_classes"] = 4;
  config["model"]["width"] = 16;
  config["data"] = {{"dataset", "synthetic"}, {"num_classes", 4}, {"train_size", 16}, {"val_size", 4},
                    {"image_size", {24, 24}}, {"workers", 0}};
  config["train"]["iters"] = 40;
  const Json resolved = resolve_config(config);
  const DataSetup data = build_data(resolved["data"], resolved["augment"], 4, 1);
  Trainer trainer(resolved, dir.string(), {data.train_loader, data.val_loader});
  trainer.set_log([](const std::string&) {});
  const double before = evaluate(trainer.net(), *data.val_loader, ValConfig{}, Device::cpu()).confusion.miou();
  const TrainResult r = trainer.run();
  EXPECT_GT(r.last_miou, before + 0.2) << "before " << before << " after " << r.last_miou;
  fs::remove_all(dir);
}

// train.epochs: the run is epochs * the train loader's batches per epoch,
// which count a final partial batch only without drop_last; the schedule,
// the progress lines, the metrics log and the saved config all see it.
TEST(Trainer, EpochsSetTheRunLengthFromTheLoadersEpoch) {
  for (const bool drop_last : {true, false}) {
    const fs::path dir = fresh_dir(drop_last ? "epochs_drop" : "epochs_keep");
    Json config = train_testing::toy_config();
    config["train"].erase("iters");
    config["train"]["epochs"] = 2;
    config["train"]["log_interval"] = 1;
    config["data"] = {{"dataset", "synthetic"}, {"num_classes", 3}, {"train_size", 10}, {"val_size", 2},
                      {"image_size", {16, 16}}, {"workers", 0}, {"drop_last", drop_last}};
    const Json resolved = resolve_config(config);
    const DataSetup data = build_data(resolved["data"], resolved["augment"], 4, 1);
    const int64_t steps = drop_last ? 2 * (10 / 4) : 2 * ((10 + 3) / 4);
    Trainer trainer(resolved, dir.string(), {data.train_loader, data.val_loader});
    std::vector<std::string> lines;
    trainer.set_log([&](const std::string& l) { lines.push_back(l); });
    EXPECT_EQ(trainer.config()["train"]["iters"], steps);
    EXPECT_EQ(schedule_config(trainer.config()).total_iters, steps);
    EXPECT_EQ(trainer.run().step, steps);

    std::ifstream metrics(dir / "metrics.jsonl");
    std::vector<int64_t> logged;
    for (std::string line; std::getline(metrics, line);) {
      const Json r = Json::parse(line);
      if (r["type"] == "train") logged.push_back(r["step"].get<int64_t>());
    }
    EXPECT_EQ(static_cast<int64_t>(logged.size()), steps);
    EXPECT_EQ(logged.back(), steps);
    const std::string last_line = "step " + std::to_string(steps) + "/" + std::to_string(steps);
    EXPECT_TRUE(std::any_of(lines.begin(), lines.end(),
                            [&](const std::string& l) { return l.rfind(last_line, 0) == 0; }))
        << last_line;
    const Json saved = load_config((dir / "config.json").string());
    EXPECT_EQ(saved["train"]["iters"], steps);
    EXPECT_EQ(saved["train"]["epochs"], 0);
    fs::remove_all(dir);
  }
}
