#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "common/testing.h"
#include "nn/registry.h"
#include "train/config.h"
#include "trainer_toy.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace ct = cudaseg::testing;
namespace fs = std::filesystem;

namespace {

Json minimal() { return {{"model", {{"name", "train_toy"}, {"num_classes", 3}}}}; }

::testing::AssertionResult rejects(Json config, const std::vector<std::string>& fragments) {
  train_testing::register_toy_net();
  return ct::throws_mentioning([&] { resolve_config(config); }, fragments);
}

}  // namespace

TEST(Config, FillsDefaultsInEverySection) {
  train_testing::register_toy_net();
  const Json c = resolve_config(minimal());
  for (const auto& s : config_sections()) EXPECT_TRUE(c.contains(s.name)) << s.name;
  EXPECT_EQ(c["model"]["width"], 8);  // the registry's defaults
  EXPECT_EQ(c["optimizer"]["type"], "sgd");
  EXPECT_EQ(c["optimizer"]["momentum"], 0.9);
  EXPECT_EQ(c["schedule"]["policy"], "onecycle");
  EXPECT_EQ(c["loss"]["type"], "ohem");
  EXPECT_EQ(c["loss"]["ignore_index"], 255);
  EXPECT_EQ(c["data"]["dataset"], "synthetic");
  EXPECT_EQ(c["train"]["device"], "cpu");
  EXPECT_EQ(resolve_config(c), c);  // resolving is idempotent

  const OptimizerConfig o = optimizer_config(c);
  EXPECT_EQ(o.beta2, 0.999);
  const ScheduleConfig s = schedule_config(c);
  EXPECT_EQ(s.total_iters, c["train"]["iters"].get<int64_t>());
  EXPECT_EQ(s.div_factor, 25.0);
  EXPECT_EQ(loss_config(c).ohem_thresh, 0.7);
  EXPECT_FALSE(ema_config(c).enabled);
  EXPECT_EQ(val_config(c).mode, "whole");
  EXPECT_EQ(train_config(c).batch_size, 4);
}

TEST(Config, ErrorsNameTheKeyAndWhatIsAccepted) {
  Json c = minimal();
  c["optimiser"] = Json::object();
  EXPECT_TRUE(rejects(c, {"unknown key 'optimiser' (did you mean 'optimizer'?)", "schedule"}));
  c = minimal();
  c["optimizer"] = {{"lrr", 0.1}};
  EXPECT_TRUE(rejects(c, {"unknown key 'lrr' in optimizer (did you mean 'lr'?)", "lr, momentum", "grad_clip_norm"}));
  c["optimizer"] = {{"lr", "fast"}};
  EXPECT_TRUE(rejects(c, {"optimizer.lr: expected a number", "\"fast\""}));
  c["optimizer"] = {{"type", "rmsprop"}};
  EXPECT_TRUE(rejects(c, {"optimizer.type", "\"sgd\", \"adam\", \"adamw\"", "rmsprop"}));
  c["optimizer"] = {{"betas", {0.9}}};
  EXPECT_TRUE(rejects(c, {"optimizer.betas", "a list of 2 numbers"}));
  c["optimizer"] = {{"lr_mult", {{"backbone.", "x"}}}};
  EXPECT_TRUE(rejects(c, {"optimizer.lr_mult", "object of numbers"}));
  c = minimal();
  c["train"] = {{"iters", 1.5}};
  EXPECT_TRUE(rejects(c, {"train.iters", "integer", "1.5"}));
  c["train"] = {{"iters", 0}};
  EXPECT_TRUE(rejects(c, {"train.iters", "positive"}));
  c = minimal();
  c["val"] = {{"mode", "slide"}};
  EXPECT_TRUE(rejects(c, {"val.crop_size", "val.stride"}));
  c = minimal();
  c["model"]["widht"] = 4;
  EXPECT_TRUE(rejects(c, {"config: net 'train_toy': unknown key 'widht' in model (did you mean 'width'?)"}));
  EXPECT_TRUE(rejects(Json{{"train", Json::object()}}, {"'model' section is required", "train_toy"}));
  c = minimal();
  c["data"] = {{"datset", "synthetic"}};
  EXPECT_TRUE(rejects(c, {"config", "data", "datset"}));
  c = minimal();
  c["loss"] = 3;
  EXPECT_TRUE(rejects(c, {"config: loss: expected a JSON object, got 3"}));
}

TEST(Config, SetOverridesTakeJsonTypedValues) {
  Json c = minimal();
  apply_override(c, "optimizer.lr=0.5");
  apply_override(c, "optimizer.type=adamw");  // not JSON: a string
  apply_override(c, "optimizer.nesterov=true");
  apply_override(c, "optimizer.lr_mult={\"conv.\": 0.1}");
  apply_override(c, "augment.crop=[32,48]");
  apply_override(c, "model.width=4");
  apply_override(c, "train.device=\"cpu\"");
  EXPECT_TRUE(c["optimizer"]["lr"].is_number_float());
  EXPECT_EQ(c["optimizer"]["type"], "adamw");
  EXPECT_EQ(c["optimizer"]["nesterov"], true);
  train_testing::register_toy_net();
  const Json r = resolve_config(c);
  EXPECT_EQ(r["optimizer"]["lr"], 0.5);
  EXPECT_EQ(r["augment"]["crop"], Json::array({32, 48}));
  EXPECT_EQ(r["model"]["width"], 4);
  EXPECT_EQ(optimizer_config(r).lr_mult.at("conv."), 0.1);

  apply_override(c, "train.iters=ten");  // a string where an integer belongs
  EXPECT_TRUE(rejects(c, {"train.iters", "integer", "\"ten\""}));
  EXPECT_TRUE(ct::throws_mentioning([&] { apply_override(c, "optimizer.lr"); }, {"KEY=VALUE"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { apply_override(c, "optimizer..lr=1"); }, {"empty key"}));
  EXPECT_TRUE(ct::throws_mentioning([&] { apply_override(c, "optimizer.lr.x=1"); }, {"'optimizer.lr' is not an object"}));
}

TEST(Config, LoadsFileWithOverridesAndSavesTheEffectiveConfig) {
  train_testing::register_toy_net();
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_config_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "run.json");
    f << minimal().dump();
  }
  const Json c = load_config((dir / "run.json").string(), {"train.iters=7", "schedule.policy=cosine"});
  EXPECT_EQ(c["train"]["iters"], 7);
  EXPECT_EQ(c["schedule"]["policy"], "cosine");
  save_config((dir / "saved.json").string(), c);
  EXPECT_EQ(load_config((dir / "saved.json").string()), c);
  EXPECT_TRUE(ct::throws_mentioning([&] { load_config((dir / "run.json").string(), {"schedule.policy=exp"}); },
                                    {"run.json", "schedule.policy", "exp"}));
  {
    std::ofstream f(dir / "broken.json");
    f << "{\"model\": ";
  }
  EXPECT_TRUE(ct::throws_mentioning([&] { load_config((dir / "broken.json").string()); }, {"broken.json", "JSON"}));
  fs::remove_all(dir);
}

TEST(Config, HelpListsSectionsKeysAndChoices) {
  const std::string help = config_help();
  for (const auto& s : config_sections()) EXPECT_NE(help.find("  " + s.name + ": "), std::string::npos) << s.name;
  EXPECT_NE(help.find("warmup_iters"), std::string::npos);
  EXPECT_NE(help.find("[poly, cosine, onecycle, step]"), std::string::npos);
  EXPECT_NE(help.find("precision (string, default \"fp32\")"), std::string::npos);
  EXPECT_NE(help.find("[fp32, fp16, bf16]"), std::string::npos);
  EXPECT_NE(help.find("epochs (integer, default 0)"), std::string::npos);
  EXPECT_NE(help.find("out (string, default \"\")"), std::string::npos);
}

// Every shipped run config validates; nets not registered yet (their branch
// has not landed) are reported and skipped.
TEST(Config, ShippedNetConfigsValidate) {
  const fs::path dir = fs::path(CUDASEG_SOURCE_DIR) / "nets";
  const std::vector<std::string> required = {"stdc1",    "stdc2",         "ppliteseg_stdc1", "bisenetv2",
                                             "fastscnn", "ddrnet23_slim", "enet",            "segformer_b0"};
  std::vector<std::string> unregistered;
  for (const auto& name : required) {
    const fs::path path = dir / (name + ".json");
    ASSERT_TRUE(fs::exists(path)) << path;
    try {
      const Json c = load_config(path.string());
      EXPECT_LE(c["train"]["iters"].get<int64_t>(), 2000) << name << ": keep the default run short";
    } catch (const Error& e) {
      if (std::string(e.what()).find("unknown net") == std::string::npos) ADD_FAILURE() << name << ": " << e.what();
      unregistered.push_back(name);
    }
  }
  if (!unregistered.empty()) {
    std::string names;
    for (const auto& n : unregistered) names += " " + n;
    GTEST_SKIP() << "nets not registered in this build:" << names;
  }
}

TEST(Config, TrainLengthPrecisionAndOutKeys) {
  Json c = minimal();
  c["train"] = {{"precision", "fp8"}};
  EXPECT_TRUE(rejects(c, {"train.precision", "\"fp32\", \"fp16\", \"bf16\"", "fp8"}));
  c["train"] = {{"epochs", -1}};
  EXPECT_TRUE(rejects(c, {"train.epochs", ">= 0", "-1"}));
  c["train"] = {{"epochs", 1.5}};
  EXPECT_TRUE(rejects(c, {"train.epochs", "an integer"}));
  c["train"] = {{"epochs", 2}, {"iters", 50}};
  EXPECT_TRUE(rejects(c, {"'train.iters' (50)", "'train.epochs' (2)", "not both"}));
  c["train"] = {{"out", 3}};
  EXPECT_TRUE(rejects(c, {"train.out", "a string"}));
  c["train"] = {{"precision", "fp16"}};
  train_testing::register_toy_net();
  try {
    resolve_config(c);
    ADD_FAILURE() << "fp16 on the CPU was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "config: train.precision 'fp16' needs a CUDA device (train.device is 'cpu'); use fp32 on the CPU");
  }
  c["train"] = {{"precision", "bf16"}, {"device", "cuda:0"}, {"epochs", 2}, {"out", "runs/x"}};
  const Json r = resolve_config(c);  // resolving needs no GPU
  EXPECT_EQ(train_config(r).precision, "bf16");
  EXPECT_EQ(train_config(r).epochs, 2);
  EXPECT_EQ(train_config(r).out, "runs/x");
  const Json defaults = resolve_config(minimal());
  EXPECT_EQ(defaults["train"]["precision"], "fp32");
  EXPECT_EQ(defaults["train"]["epochs"], 0);
  EXPECT_EQ(defaults["train"]["out"], "");
}

TEST(Config, EpochsResolveToStepsOfTheLoadersEpoch) {
  train_testing::register_toy_net();
  Json c = minimal();
  c["train"] = {{"epochs", 3}};
  const Json given = resolve_config(c);
  const Json r = resolve_run_length(given, 5);
  EXPECT_EQ(r["train"]["iters"], 15);
  EXPECT_EQ(r["train"]["epochs"], 0);
  EXPECT_EQ(schedule_config(r).total_iters, 15);
  EXPECT_EQ(resolve_config(r), r);  // the saved form reloads as the same run
  EXPECT_EQ(resolve_run_length(r, 7), r);  // iters-based runs keep their length
  EXPECT_TRUE(ct::throws_mentioning([&] { resolve_run_length(given, 0); }, {"train.epochs", "batch per epoch"}));
}

// Whether train.iters was given decides, not its value: iters equal to the
// default beside epochs is as contradictory as any other, from the file or --set.
TEST(Config, ItersGivenWithEpochsIsAnErrorWhateverItsValue) {
  Json c = minimal();
  c["train"] = {{"iters", 200}, {"epochs", 2}};
  EXPECT_TRUE(rejects(c, {"'train.iters' (200)", "'train.epochs' (2)", "not both"}));
  c = minimal();
  apply_override(c, "train.epochs=2");
  apply_override(c, "train.iters=200");
  EXPECT_TRUE(rejects(c, {"'train.iters' (200)", "not both"}));
  c["train"] = {{"epochs", 2}};
  const Json epochs_only = resolve_config(c);
  EXPECT_TRUE(epochs_only["train"]["iters"].is_null());  // the length comes from the loader
  EXPECT_EQ(train_config(epochs_only).epochs, 2);
  EXPECT_EQ(resolve_config(epochs_only), epochs_only);  // resolving again sees no iters given
  c["train"] = {{"iters", 200}};
  EXPECT_EQ(resolve_config(c)["train"]["iters"], 200);
  EXPECT_EQ(resolve_config(minimal())["train"]["iters"], 200);
}

TEST(Config, UnknownKeysSuggestTheNearestAcceptedOne) {
  Json c = minimal();
  c["loss"] = {{"ohem_tresh", 0.5}};
  EXPECT_TRUE(rejects(c, {"config: unknown key 'ohem_tresh' in loss (did you mean 'ohem_thresh'?)"}));
  c = minimal();
  c["loss"] = {{"focal_gamma", 2}};
  train_testing::register_toy_net();
  try {
    resolve_config(c);
    ADD_FAILURE() << "loss.focal_gamma was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'focal_gamma' in loss; accepted: type"), std::string::npos)
        << e.what();
  }
  c = minimal();
  c["schedule"] = {{"policy", "cosin"}};
  EXPECT_TRUE(rejects(c, {"schedule.policy", "got \"cosin\" (did you mean \"cosine\"?)"}));
}

TEST(Config, Tf32IsABooleanOffByDefault) {
  train_testing::register_toy_net();
  EXPECT_FALSE(train_config(resolve_config(minimal())).tf32);
  Json c = minimal();
  c["train"] = {{"tf32", true}};
  EXPECT_TRUE(train_config(resolve_config(c)).tf32);
  c["train"] = {{"tf32", "on"}};
  EXPECT_TRUE(rejects(c, {"train.tf32: expected true or false, got \"on\""}));
  EXPECT_NE(config_help().find("tf32 (bool, default false)"), std::string::npos);
}

TEST(Config, TeacherConfigsThatComeBackToAConfigAreAnError) {
  train_testing::register_toy_net();
  // The process id in the name: other checkouts run the same suite at once.
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_config_cycle_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& teacher) {
    Json c = minimal();
    c["distill"] = {{"teacher", {{"config", (dir / teacher).string()}, {"checkpoint", "t"}}}};
    std::ofstream(dir / name) << c.dump();
  };
  // Each recursed until the stack overflowed (SIGSEGV in rtseg_train).
  write("self.json", "self.json");
  EXPECT_TRUE(ct::throws_mentioning([&] { load_config((dir / "self.json").string()); },
                                    {"self.json: config: distill.teacher.config", "names itself as a teacher config",
                                     "self.json -> " + (dir / "self.json").string() + ")"}));
  write("a.json", "b.json");
  write("b.json", "./a.json");
  EXPECT_TRUE(ct::throws_mentioning([&] { load_config((dir / "a.json").string()); },
                                    {(dir / "a.json").string() + " -> " + (dir / "b.json").string() + " -> " +
                                     (dir / "a.json").string()}));
  // Afterwards a config loads as before: the chain was unwound.
  std::ofstream(dir / "plain.json") << minimal().dump();
  EXPECT_EQ(load_config((dir / "plain.json").string())["model"]["num_classes"], 3);
  fs::remove_all(dir);
}

TEST(Config, SetValuesThatAreNotUtf8AreAnError) {
  // Found by fuzz_config: the value became a string nlohmann could not dump,
  // and its type_error escaped from an error message about it.
  for (const std::string assignment : {"distill.teacher={\"na\x8a\": 1}", "optimizer.type=ad\xff" "amw",
                                       "optim\xc3izer.lr=0.1"}) {
    Json config = minimal();
    EXPECT_TRUE(ct::throws_mentioning([&] { apply_override(config, assignment); },
                                      {"--set: not valid UTF-8 text (invalid UTF-8 byte at index"}))
        << assignment;
  }
  Json config = minimal();
  apply_override(config, "data.root=caf\xc3\xa9");
  EXPECT_EQ(config["data"]["root"], "caf\xc3\xa9");
}
