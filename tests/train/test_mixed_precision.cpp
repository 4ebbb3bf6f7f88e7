// Mixed precision: layers under nn::MixedPrecisionGuard run in their input's
// dtype while parameters, their gradients and BatchNorm's running statistics
// stay float32. The CPU has no float16 kernels, so the CPU tests drive the
// same casts with float64 as the compute dtype; the CUDA test trains in fp16
// and bf16.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/unary.h"
#include "common/cuda_skip.h"
#include "common/testing.h"
#include "nn/layers.h"
#include "nn/registry.h"
#include "nn/segnet.h"
#include "train/config.h"
#include "train/trainer.h"
#include "trainer_toy.h"
#include "weights/checkpoint.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace ct = cudaseg::testing;
namespace fs = std::filesystem;

namespace {

nn::ModulePtr seeded_net(const Json& model) {
  nn::manual_seed(3);
  nn::ModulePtr net = nn::create_net(nn::resolve_model_config(model));
  net->train();
  return net;
}

std::vector<Tensor> outputs(nn::Module& net, const Tensor& x) {
  return dynamic_cast<nn::SegNet&>(net).forward_train(x);
}

Tensor squares(const std::vector<Tensor>& outs) {
  Tensor total;
  for (const Tensor& o : outs) {
    const Tensor s = fn::sum(fn::mul(o, o));
    total = total.defined() ? fn::add(total, s) : s;
  }
  return total;
}

// Every logged training loss of a run folder's metrics.jsonl, and whether each record carries a loss scale.
std::vector<double> logged_losses(const fs::path& dir, bool* all_scaled = nullptr) {
  std::ifstream f(dir / "metrics.jsonl");
  std::vector<double> losses;
  bool scaled = true;
  for (std::string line; std::getline(f, line);) {
    const Json r = Json::parse(line);
    if (r["type"] != "train") continue;
    losses.push_back(r["loss"].get<double>());
    scaled = scaled && r.contains("loss_scale");
  }
  if (all_scaled) *all_scaled = scaled;
  return losses;
}

}  // namespace

TEST(MixedPrecision, LayersFollowTheInputDtypeAndKeepFloat32State) {
  train_testing::register_toy_net();
  const Json model = {{"name", "train_toy"}, {"num_classes", 3}, {"use_aux", true}};
  nn::ModulePtr reference = seeded_net(model), mixed = seeded_net(model);
  nn::manual_seed(11);
  const Tensor x = nn::init_generator().uniform({2, 3, 12, 12}, -1, 1);

  autograd::backward(squares(outputs(*reference, x)));
  std::vector<Tensor> outs;
  {
    nn::MixedPrecisionGuard guard;
    outs = outputs(*mixed, x.to(DType::f64));
  }
  ASSERT_EQ(outs.size(), 2u);
  for (Tensor& o : outs) {
    EXPECT_EQ(o.dtype(), DType::f64);
    o = fn::to_dtype(o, DType::f32);
  }
  autograd::backward(squares(outs));

  const auto params_ref = reference->named_parameters(), params_mixed = mixed->named_parameters();
  ASSERT_EQ(params_ref.size(), params_mixed.size());
  for (size_t i = 0; i < params_ref.size(); ++i) {
    const Tensor g = params_mixed[i].second.grad();
    ASSERT_TRUE(g.defined()) << params_mixed[i].first;
    EXPECT_EQ(params_mixed[i].second.dtype(), DType::f32) << params_mixed[i].first;
    EXPECT_EQ(g.dtype(), DType::f32) << params_mixed[i].first;
    EXPECT_TRUE(ct::all_close(g, params_ref[i].second.grad(), 1e-4, 1e-4)) << params_mixed[i].first;
  }
  const auto state_ref = reference->state_dict(), state_mixed = mixed->state_dict();
  for (size_t i = 0; i < state_ref.size(); ++i) {
    EXPECT_EQ(state_mixed[i].second.dtype(), state_ref[i].second.dtype()) << state_mixed[i].first;
    EXPECT_TRUE(ct::all_close(state_mixed[i].second, state_ref[i].second, 1e-5, 1e-5)) << state_mixed[i].first;
  }
  // Outside the guard a dtype mismatch is still the op's error.
  EXPECT_TRUE(ct::throws_mentioning([&] { outputs(*mixed, x.to(DType::f64)); }, {"float32", "float64"}));
  EXPECT_FALSE(nn::mixed_precision());
}

// Every shipped net runs under the guard: no layer or net mixes a float32
// parameter or constant into the compute dtype.
TEST(MixedPrecision, ShippedNetsRunUnderTheGuard) {
  const fs::path dir = fs::path(CUDASEG_SOURCE_DIR) / "nets";
  const std::vector<std::string> registered = nn::registered_nets();
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    const Json config = Json::parse(std::ifstream(entry.path()));
    Json model = config["model"];
    if (std::find(registered.begin(), registered.end(), model["name"].get<std::string>()) == registered.end()) {
      continue;
    }
    // 8 classes: ESPNet's decoder splits num_classes over 5 branches (upstream fails below 5).
    model["num_classes"] = 8;
    ++checked;
    nn::ModulePtr net = seeded_net(model);
    nn::manual_seed(5);
    // 64x64, or the validation size of a net with a fixed input (FastSegFormer-E's 224x224).
    const Json resize = config.contains("augment") ? config["augment"].value("val_resize", Json()) : Json();
    const int64_t h = resize.is_array() ? resize[0].get<int64_t>() : 64;
    const int64_t w = resize.is_array() ? resize[1].get<int64_t>() : 64;
    const Tensor x = nn::init_generator().uniform({2, 3, h, w}, -1, 1).to(DType::f64);
    std::vector<Tensor> outs;
    try {
      nn::MixedPrecisionGuard guard;
      outs = outputs(*net, x);
    } catch (const Error& e) {
      ADD_FAILURE() << entry.path().filename() << ": " << e.what();
      continue;
    }
    for (const Tensor& o : outs) EXPECT_EQ(o.dtype(), DType::f64) << entry.path().filename();
    for (const auto& [name, t] : net->state_dict()) {
      if (is_floating(t.dtype())) {
        EXPECT_EQ(t.dtype(), DType::f32) << entry.path().filename() << " " << name;
      }
    }
  }
  EXPECT_GE(checked, 1) << "no registered net in " << dir;
}

// fp16 and bf16 training on CUDA lowers the loss, and fp16 follows the fp32
// CUDA run (same init, same batches) with a loss scale in every log record.
TEST(MixedPrecision, CudaFp16AndBf16RunsLowerTheLossAndFp16FollowsFp32) {
  CUDASEG_REQUIRE_CUDA();
  Json config = train_testing::toy_config();
  config["train"]["iters"] = 24;
  config["train"]["log_interval"] = 1;
  config["train"]["device"] = "cuda";
  auto run = [&](const std::string& precision) {
    const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_amp_" + precision);
    fs::remove_all(dir);
    Json c = config;
    c["train"]["precision"] = precision;
    Trainer trainer(c, dir.string(), train_testing::toy_data(16, 0, 4));
    trainer.set_log([](const std::string&) {});
    EXPECT_EQ(trainer.run().step, 24) << precision;
    bool scaled = false;
    const std::vector<double> losses = logged_losses(dir, &scaled);
    EXPECT_EQ(scaled, precision == "fp16") << precision;
    EXPECT_EQ(trainer.scaler() != nullptr, precision == "fp16") << precision;
    for (const auto& [name, t] : trainer.net().state_dict()) {
      if (is_floating(t.dtype())) {
        EXPECT_EQ(t.dtype(), DType::f32) << precision << " " << name;
      }
    }
    fs::remove_all(dir);
    return losses;
  };
  const std::vector<double> fp32 = run("fp32"), fp16 = run("fp16"), bf16 = run("bf16");
  ASSERT_EQ(fp16.size(), 24u);
  ASSERT_EQ(bf16.size(), 24u);
  auto tail_mean = [](const std::vector<double>& l) { return (l[21] + l[22] + l[23]) / 3.0; };
  EXPECT_LT(tail_mean(fp16), 0.7 * fp16[0]);
  EXPECT_LT(tail_mean(bf16), 0.7 * bf16[0]);
  // fp16's 11-bit mantissa over 24 steps: each loss within 0.02 + 5% of fp32's.
  for (size_t i = 0; i < fp32.size(); ++i) EXPECT_NEAR(fp16[i], fp32[i], 0.02 + 0.05 * fp32[i]) << "step " << i + 1;
}

// The fp16 loss scale and its growth count travel in OUT/last, so a resumed
// run continues with the scale it stopped at.
TEST(MixedPrecision, CudaFp16ResumeRestoresTheLossScale) {
  CUDASEG_REQUIRE_CUDA();
  const fs::path dir = fs::temp_directory_path() / "cudaseg_test_amp_resume";
  fs::remove_all(dir);
  Json config = train_testing::toy_config();
  config["train"]["iters"] = 8;
  config["train"]["device"] = "cuda";
  config["train"]["precision"] = "fp16";
  {
    Trainer first(config, dir.string(), train_testing::toy_data(16, 0, 4));
    first.set_log([](const std::string&) {});
    first.run(5);
    const weights::Checkpoint last = weights::load_checkpoint((dir / "last").string());
    EXPECT_EQ(Json::parse(last.train_state->optimizer_json)["grad_scaler"], first.scaler()->state());
  }
  Trainer second(config, dir.string(), train_testing::toy_data(16, 0, 4));
  second.set_log([](const std::string&) {});
  second.resume(dir.string());
  const weights::Checkpoint last = weights::load_checkpoint((dir / "last").string());
  EXPECT_EQ(second.scaler()->state(), Json::parse(last.train_state->optimizer_json)["grad_scaler"]);
  // Five steps leave either a growth count or a backed-off scale: never the initial state.
  EXPECT_NE(second.scaler()->state(), GradScaler().state());
  EXPECT_EQ(second.run().step, 8);
  fs::remove_all(dir);
}
