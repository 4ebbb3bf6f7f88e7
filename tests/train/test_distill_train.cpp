// Distillation in the trainer (train/distill.h): a teacher trained first on
// the synthetic scenes, then students distilled from it: every objective's
// term logged, adapters trained but not exported, the teacher frozen, the
// multi-resolution crop for the teacher, exact resume, and the errors that
// stop a run before its first step.
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>

#include <unistd.h>

#include "autograd/fn.h"
#include "common/testing.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "train/config.h"
#include "train/data_config.h"
#include "train/trainer.h"
#include "weights/checkpoint.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace fs = std::filesystem;

namespace {

// conv3x3 -> BN -> ReLU ("act") -> conv3x3 stride 2 ("down") -> 1x1 head at
// 1/2, upsampled: every child called through operator(), so hooks see it.
class KdToy : public nn::SegNet {
 public:
  KdToy(int64_t classes, int64_t width) : SegNet("KdToy") {
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(3, width, 3, 1, 1));
    bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(width));
    act_ = register_module("act", nn::make_activation("relu"));
    down_ = register_module("down", std::make_shared<nn::Conv2d>(width, width, 3, 2, 1));
    head_ = register_module("head", std::make_shared<nn::Conv2d>(width, classes, 1));
  }
  std::vector<nn::FusableChain> fusable_chains() const override { return {{conv_, bn_, act_}}; }
  Tensor forward(const Tensor& x) override {
    const Tensor f = (*act_)((*bn_)((*conv_)(x)));
    const Tensor logits = (*head_)(fn::relu((*down_)(f)));
    return fn::interpolate(logits, std::array<int64_t, 2>{x.size(2), x.size(3)}, std::nullopt, "bilinear", false);
  }

 private:
  nn::ModulePtr conv_, bn_, act_, down_, head_;
};

void register_kd_toy() {
  static std::once_flag once;
  std::call_once(once, [] {
    nn::NetSpec spec;
    spec.name = "kd_toy";
    spec.summary = "a tiny conv net for the distillation tests";
    spec.args = {{"width", 8, {}, "channels"}};
    spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
      return std::make_shared<KdToy>(a["num_classes"].get<int64_t>(), a["width"].get<int64_t>());
    };
    nn::register_net(spec);
  });
}

Json base_config(int64_t width, int64_t iters) {
  register_kd_toy();
  return {{"model", {{"name", "kd_toy"}, {"num_classes", 3}, {"width", width}}},
          {"data", {{"dataset", "synthetic"}, {"num_classes", 3}, {"train_size", 16}, {"val_size", 4},
                    {"image_size", {24, 24}}, {"workers", 0}}},
          {"augment", {{"crop", {16, 16}}}},
          {"optimizer", {{"type", "adam"}, {"lr", 0.01}, {"weight_decay", 0.0}}},
          {"schedule", {{"policy", "poly"}}},
          {"loss", {{"type", "ce"}}},
          {"train", {{"iters", iters}, {"batch_size", 4}, {"seed", 3}, {"log_interval", 1}, {"val_interval", 0},
                     {"ckpt_interval", 0}}}};
}

TrainData data_for(const Json& config) {
  const Json r = resolve_config(config);
  const DataSetup d = build_data(r["data"], r["augment"], r["train"]["batch_size"].get<int64_t>(), 1);
  return {d.train_loader, d.val_loader};
}

// Per process: ctest runs each test as its own process, in parallel, and each trains its own teacher.
fs::path fresh_dir_path(const std::string& name) {
  return fs::temp_directory_path() / ("cudaseg_distill_" + std::to_string(::getpid()) + "_" + name);
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fresh_dir_path(name);
  fs::remove_all(dir);
  return dir;
}

// Removes the suite's teacher when the process ends.
class TeacherCleanup : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(fresh_dir_path("teacher")); }
};
const ::testing::Environment* const kTeacherCleanup = ::testing::AddGlobalTestEnvironment(new TeacherCleanup);

// The teacher: width 16, trained once per process.
const std::string& teacher_checkpoint() {
  static const std::string path = [] {
    const fs::path dir = fresh_dir("teacher");
    const Json config = base_config(16, 30);
    Trainer t(config, dir.string(), data_for(config));
    t.set_log([](const std::string&) {});
    t.run();
    return (dir / "last").string();
  }();
  return path;
}

Json every_objective() {
  return Json::array({{{"type", "kd"}, {"weight", 1.0}},
                      {{"type", "pkl"}, {"weight", 0.5}},
                      {{"type", "nfd"}, {"weight", 5.0}, {"pairs", {0}}},
                      {{"type", "cwd"}, {"weight", 1.0}, {"pairs", {0}}},
                      {{"type", "sekd_context"}, {"weight", 0.5}},
                      {{"type", "sekd_texture"}, {"weight", 1.0}, {"pairs", {0}}},
                      {{"type", "sekd_reconstruction"}, {"weight", 0.5}},
                      {{"type", "sekd_alignment"}, {"weight", 0.2}, {"params", {{"scales", {0.5}}}}}});
}

Json student_config(int64_t iters) {
  Json c = base_config(4, iters);
  c["distill"] = {{"teacher", {{"model", {{"name", "kd_toy"}, {"num_classes", 3}, {"width", 16}}},
                               {"checkpoint", teacher_checkpoint()}}},
                  {"pairs", Json::array({{{"student", "act"}, {"teacher", "act"}},
                                         {{"student", "down"}, {"teacher", "down"}}})},
                  {"objectives", every_objective()}};
  return c;
}

}  // namespace

TEST(DistillTrain, EveryObjectiveIsALoggedTerm) {
  const fs::path dir = fresh_dir("terms");
  const Json config = student_config(2);
  Trainer trainer(config, dir.string(), data_for(config));
  std::vector<std::string> lines;
  trainer.set_log([&](const std::string& l) { lines.push_back(l); });
  trainer.run();
  std::string step_line;
  for (const std::string& l : lines) {
    if (l.rfind("step 2/2", 0) == 0) step_line = l;
  }
  ASSERT_FALSE(step_line.empty());
  for (const char* term : {"seg ", "kd ", "pkl ", "nfd ", "cwd ", "sekd_context ", "sekd_texture ",
                           "sekd_reconstruction ", "sekd_alignment "}) {
    EXPECT_NE(step_line.find(term), std::string::npos) << term << " missing in: " << step_line;
  }
  fs::remove_all(dir);
}

TEST(DistillTrain, AdaptersTrainButAreNotExported) {
  const fs::path dir = fresh_dir("adapters");
  const Json config = student_config(3);
  Trainer trainer(config, dir.string(), data_for(config));
  trainer.set_log([](const std::string&) {});
  const weights::TensorDict before = trainer.distiller()->adapter_state();
  ASSERT_EQ(before.size(), 4u) << "both pairs 4 -> 16 channels: weight and bias each";
  EXPECT_EQ(before.at("distill_adapters.0.weight").shape(), (Shape{16, 4, 1, 1}));
  const std::vector<double> w0 = before.at("distill_adapters.0.weight").clone().to_vector();
  trainer.run();
  EXPECT_NE(trainer.distiller()->adapter_state().at("distill_adapters.0.weight").to_vector(), w0)
      << "the optimizer updates the adapters";
  const weights::Checkpoint last = weights::load_checkpoint((dir / "last").string());
  for (const auto& [name, t] : last.tensors) EXPECT_EQ(name.find("distill"), std::string::npos) << name;
  ASSERT_TRUE(last.train_state.has_value());
  EXPECT_TRUE(last.train_state->optimizer.contains("adapter/distill_adapters.0.weight"));
  // The exported weights load into a plain student.
  const nn::SegNetPtr plain = nn::create_net(trainer.config()["model"]);
  plain->load_state_dict(std::map<std::string, Tensor>(last.tensors.begin(), last.tensors.end()), true);
  fs::remove_all(dir);
}

TEST(DistillTrain, TeacherIsFrozenInEvalWithFoldedBatchNorm) {
  const fs::path dir = fresh_dir("frozen");
  const Json config = student_config(2);
  Trainer trainer(config, dir.string(), data_for(config));
  trainer.set_log([](const std::string&) {});
  trainer.run();
  const nn::Module& teacher = trainer.distiller()->teacher();
  EXPECT_FALSE(teacher.is_training());
  for (const auto& [name, p] : teacher.named_parameters()) {
    EXPECT_FALSE(p.requires_grad()) << name;
    EXPECT_FALSE(p.grad().defined()) << name;
  }
  // The inference path folds the BatchNorm into the conv before it.
  const nn::Module* bn = nullptr;
  for (const auto& [name, child] : teacher.named_children()) {
    if (name == "bn") bn = child.get();
  }
  ASSERT_NE(bn, nullptr);
  EXPECT_TRUE(bn->bypassed());
  fs::remove_all(dir);
}

TEST(DistillTrain, MultiResolutionTeacherSeesTheLargeCrop) {
  const fs::path dir = fresh_dir("multires");
  Json config = student_config(1);
  config["augment"]["multi_resolution"] = {{"student", {12, 12}}, {"teacher", {20, 20}}};
  Trainer trainer(config, dir.string(), data_for(config));
  trainer.set_log([](const std::string&) {});
  trainer.run();
  EXPECT_EQ(trainer.distiller()->last_teacher_input(), (Shape{4, 3, 20, 20}));
  fs::remove_all(dir);
}

// N steps in one go, or N/2, resume, N/2: the same weights and adapters, bit for bit.
TEST(DistillTrain, ResumeIsExact) {
  const Json config = student_config(6);
  const fs::path whole = fresh_dir("resume_whole"), split = fresh_dir("resume_split");
  Trainer a(config, whole.string(), data_for(config));
  a.set_log([](const std::string&) {});
  a.run();
  {
    Trainer b(config, split.string(), data_for(config));
    b.set_log([](const std::string&) {});
    b.run(3);
  }
  Trainer c(config, split.string(), data_for(config));
  c.set_log([](const std::string&) {});
  c.resume(split.string());
  c.run();
  const auto sa = a.net().state_dict(), sc = c.net().state_dict();
  ASSERT_EQ(sa.size(), sc.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_EQ(sa[i].second.to_vector(), sc[i].second.to_vector()) << sa[i].first;
  const weights::TensorDict aa = a.distiller()->adapter_state(), ac = c.distiller()->adapter_state();
  for (const auto& [name, t] : aa) EXPECT_EQ(t.to_vector(), ac.at(name).to_vector()) << name;
  fs::remove_all(whole);
  fs::remove_all(split);
}

TEST(DistillTrain, CheckpointOfAnotherModelStopsBeforeTheFirstStep) {
  Json config = student_config(2);
  config["distill"]["teacher"]["model"]["width"] = 8;  // the checkpoint holds width 16
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { Trainer t(config, fresh_dir("wrong_teacher").string(), data_for(config)); },
      {"distill.teacher.checkpoint", teacher_checkpoint(), "\"width\":16", "\"width\":8"}));
}

TEST(DistillTrain, MismatchedTeacherTensorsNameTheCheckpoint) {
  // A checkpoint whose manifest claims the teacher's model but whose tensors are a width-8 net's.
  const fs::path dir = fresh_dir("forged");
  weights::Checkpoint ck = weights::load_checkpoint(teacher_checkpoint());
  const nn::SegNetPtr other = nn::create_net(resolve_config(base_config(8, 1))["model"]);
  ck.tensors = weights::TensorDict();
  for (const auto& [name, t] : other->state_dict()) ck.tensors.insert(name, t);
  ck.train_state.reset();
  fs::create_directories(dir);
  weights::save_checkpoint((dir / "forged").string(), ck);
  Json config = student_config(2);
  config["distill"]["teacher"]["checkpoint"] = (dir / "forged").string();
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { Trainer t(config, fresh_dir("forged_run").string(), data_for(config)); },
      {"distill.teacher.checkpoint", "forged", "conv.weight"}));
  fs::remove_all(dir);
}

TEST(DistillTrain, UnknownModulePathStopsBeforeTheFirstStep) {
  Json config = student_config(2);
  config["distill"]["pairs"][1]["student"] = "dwon";
  const fs::path dir = fresh_dir("bad_path");
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { Trainer t(config, dir.string(), data_for(config)); },
                                                  {"distill.pairs[1].student", "'dwon'", "down"}));
  EXPECT_FALSE(fs::exists(dir / "last.json"));
  config["distill"]["pairs"][1]["student"] = "down";
  config["distill"]["pairs"][0]["teacher"] = "head.conv";
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { Trainer t(config, dir.string(), data_for(config)); },
                                                  {"distill.pairs[0].teacher", "'head.conv'"}));
}

// teacher.config names a run config file whose model is the teacher's.
TEST(DistillTrain, TeacherFromARunConfigFile) {
  const fs::path dir = fresh_dir("teacher_config");
  fs::create_directories(dir);
  save_config((dir / "teacher.json").string(), resolve_config(base_config(16, 30)));
  Json config = student_config(1);
  config["distill"]["teacher"].erase("model");
  config["distill"]["teacher"]["config"] = (dir / "teacher.json").string();
  Trainer trainer(config, (dir / "run").string(), data_for(config));
  trainer.set_log([](const std::string&) {});
  EXPECT_EQ(trainer.run().step, 1);
  config["distill"]["teacher"]["config"] = (dir / "missing.json").string();
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { resolve_config(config); },
                                                  {"distill.teacher.config", "missing.json"}));
  fs::remove_all(dir);
}

TEST(DistillTrain, AdapterNoneNeedsEqualChannels) {
  Json config = student_config(1);
  config["distill"]["pairs"][1]["adapter"] = "none";
  EXPECT_TRUE(cudaseg::testing::throws_mentioning(
      [&] { Trainer t(config, fresh_dir("adapter_none").string(), data_for(config)); },
      {"distill.pairs[1]", "4 channels", "16", "adapter auto"}));
}

TEST(DistillConfig, SectionErrorsNameTheKey) {
  Json config = student_config(2);
  config["distill"]["objectives"][0]["type"] = "kdd";
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { resolve_config(config); },
                                                  {"distill.objectives[0].type", "kdd", "did you mean 'kd'"}));
  config = student_config(2);
  config["distill"]["objectives"][2]["pairs"] = {5};
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { resolve_config(config); },
                                                  {"distill.objectives[2].pairs", "5"}));
  config = student_config(2);
  config["distill"]["objectives"][1]["params"] = {{"temp", 2}};
  EXPECT_TRUE(cudaseg::testing::throws_mentioning([&] { resolve_config(config); },
                                                  {"distill.objectives[1].params", "temp", "temperature"}));
  EXPECT_NE(config_help().find("sekd_texture"), std::string::npos);
}
