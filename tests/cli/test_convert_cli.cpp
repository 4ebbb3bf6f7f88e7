// rtseg_convert (cli/convert_main.cpp over weights/convert.h): conversions,
// listing, exports, --fp16, --config against the registered net, detection by
// content, and the exit status and one-line message of each failure.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "autograd/engine.h"
#include "nn/layers.h"
#include "runtime/atomic_file.h"
#include "nn/registry.h"
#include "tests/common/sequential_net.h"
#include "tests/weights/helpers.h"
#include "cli/cli.h"
#include "weights/convert.h"
#include "weights/npy.h"
#include "weights/pth.h"
#include "weights/safetensors.h"

namespace cudaseg::weights {
namespace {

using cli::convert_main;

struct Result {
  int status;
  std::string out, err;
};

Result convert(std::vector<std::string> args) {
  args.insert(args.begin(), "rtseg_convert");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int status = convert_main(static_cast<int>(argv.size()), argv.data(), out, err);
  return {status, out.str(), err.str()};
}

// The net of the module_prefix.pth fixture (Conv2d, BatchNorm2d, Conv2d),
// registered as "tiny" so --config validates against the registry.
void register_tiny() {
  static const bool done = [] {
    nn::NetSpec spec;
    spec.name = "tiny";
    spec.summary = "conv-bn-conv, the net of tests/data/pth/module_prefix.pth";
    spec.build = [](const nn::Json& a) -> nn::SegNetPtr {
      return std::make_shared<cudaseg::testing::SequentialNet>(std::vector<nn::ModulePtr>{
          std::make_shared<nn::Conv2d>(3, 4, 3), std::make_shared<nn::BatchNorm2d>(4),
          std::make_shared<nn::Conv2d>(4, a["num_classes"].get<int64_t>(), 1)});
    };
    nn::register_net(spec);
    return true;
  }();
  (void)done;
}

bool one_line(const std::string& text) { return !text.empty() && text.find('\n') == text.size() - 1; }

TEST(ConvertCli, HelpAndUsageErrors) {
  const Result help = convert({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("usage: rtseg_convert"), std::string::npos);
  const std::vector<std::vector<std::string>> bad = {
      {}, {"a.pth"}, {"a.pth", "--bogus"}, {"a.pth", "-o"}, {"a.pth", "--to", "onnx", "-o", "x"},
      {"a.pth", "--list", "-o", "x"}, {"a.pth", "b.pth", "-o", "x"}};
  for (const auto& args : bad) {
    const Result r = convert(args);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_EQ(r.err.rfind("rtseg_convert: ", 0), 0u) << r.err;
  }
}

TEST(ConvertCli, RuntimeErrorsAreOneLineWithStatusOne) {
  testing::TempDir dir;
  for (const std::string& input : {testing::pth_fixture("malicious_system.pth"), testing::pth_fixture("truncated.pth"),
                                   dir.file("missing.pth"), testing::pth_fixture("expected.json")}) {
    const Result r = convert({input, "-o", dir.file("out.bin")});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_EQ(r.err.rfind("rtseg_convert: ", 0), 0u) << r.err;
  }
  EXPECT_FALSE(testing::file_exists(dir.file("out.json")));
}

TEST(ConvertCli, PthToCheckpointIsExact) {
  testing::TempDir dir;
  const Result r = convert({testing::pth_fixture("wrap_state_dict.pth"), "-o", dir.file("m.bin")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("state dict under 'state_dict'"), std::string::npos) << r.out;
  const Checkpoint ck = load_checkpoint(dir.file("m.json"));
  testing::expect_same_tensors(load_pth(testing::pth_fixture("wrap_state_dict.pth")).tensors, ck.tensors);
  EXPECT_NE(ck.metadata_json.find("wrap_state_dict.pth"), std::string::npos);
}

TEST(ConvertCli, Fp16ConvertsOnlyFloatingTensors) {
  testing::TempDir dir;
  ASSERT_EQ(convert({testing::pth_fixture("dtypes.pth"), "-o", dir.file("h.bin"), "--fp16"}).status, 0);
  const TensorDict original = load_pth(testing::pth_fixture("dtypes.pth")).tensors;
  CheckpointLoadOptions special;  // the fixture holds NaN and Inf on purpose
  special.allow_nonfinite = true;
  const Checkpoint ck = load_checkpoint(dir.file("h"), special);
  for (const auto& [name, t] : original) {
    const Tensor& h = ck.tensors.at(name);
    if (is_floating(t.dtype())) {
      EXPECT_EQ(h.dtype(), DType::f16) << name;
      EXPECT_EQ(testing::hex_of(h), testing::hex_of(t.to(DType::f16))) << name;
    } else {
      EXPECT_EQ(testing::hex_of(h), testing::hex_of(t)) << name;
      EXPECT_EQ(h.dtype(), t.dtype()) << name;
    }
  }
}

TEST(ConvertCli, ListsEveryFormatDetectedByContent) {
  testing::TempDir dir;
  const std::string weird = dir.file("weights.data");  // no telling extension
  testing::write_bytes(weird, testing::read_bytes(testing::pth_fixture("module_prefix.pth")));
  const Result pth = convert({weird, "--list"});
  ASSERT_EQ(pth.status, 0) << pth.err;
  EXPECT_NE(pth.out.find("1.num_batches_tracked int64 []\n"), std::string::npos) << pth.out;
  EXPECT_NE(pth.out.find("0.weight float32 [4, 3, 3, 3]\n"), std::string::npos) << pth.out;

  ASSERT_EQ(convert({weird, "--to", "safetensors", "-o", dir.file("w.st")}).status, 0);
  ASSERT_EQ(convert({weird, "-o", dir.file("w")}).status, 0);
  EXPECT_EQ(convert({dir.file("w.st"), "--list"}).out, pth.out);
  EXPECT_EQ(convert({dir.file("w.json"), "--list"}).out, pth.out);
  EXPECT_EQ(convert({dir.file("w.bin"), "--list"}).out, pth.out);
}

TEST(ConvertCli, ExportsToPthAndSafetensors) {
  testing::TempDir dir;
  const TensorDict original = load_pth(testing::pth_fixture("dtypes.pth")).tensors;
  ASSERT_EQ(convert({testing::pth_fixture("dtypes.pth"), "-o", dir.file("c.bin")}).status, 0);
  ASSERT_EQ(convert({dir.file("c.json"), "--to", "pth", "-o", dir.file("c.pth")}).status, 0);
  testing::expect_same_tensors(original, load_pth(dir.file("c.pth")).tensors);
  ASSERT_EQ(convert({dir.file("c.pth"), "--to", "safetensors", "-o", dir.file("c.safetensors")}).status, 0);
  const SafetensorsContents st = load_safetensors(dir.file("c.safetensors"));
  testing::expect_same_tensors(original, st.tensors);
  EXPECT_EQ(st.metadata.at("converter"), "rtseg_convert");
}

TEST(ConvertCli, ConfigCopiesTheModelObject) {
  register_tiny();
  testing::TempDir dir;
  write_file_atomic(dir.file("cfg.json"),
                    R"({"model": {"name": "tiny", "num_classes": 2}, "classes": ["bg", "fg"],
                        "palette": [[0, 0, 0], [255, 10, 20]], "preprocess": {"channel_order": "BGR"}})");
  ASSERT_EQ(convert({testing::pth_fixture("module_prefix.pth"), "--config", dir.file("cfg.json"), "-o",
                     dir.file("m.bin")}).status, 0);
  const Checkpoint ck = load_checkpoint(dir.file("m"));
  EXPECT_EQ(nlohmann::json::parse(ck.model_json), nlohmann::json::parse(R"({"name": "tiny", "num_classes": 2})"));
  EXPECT_EQ(ck.class_names, (std::vector<std::string>{"bg", "fg"}));
  EXPECT_EQ(ck.palette[1], (std::array<uint8_t, 3>{{255, 10, 20}}));
  EXPECT_EQ(ck.preprocess.channel_order, "BGR");

  write_file_atomic(dir.file("bad.json"), R"({"net": "tiny"})");
  const Result r = convert({testing::pth_fixture("module_prefix.pth"), "--config", dir.file("bad.json"), "-o",
                            dir.file("n.bin")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("\"model\" object"), std::string::npos) << r.err;
}

// A training run config gives the checkpoint the preprocessing the trainer's
// own checkpoints record: augment mean, std and val_resize (N or [H, W]);
// a "preprocess" object overrides them.
TEST(ConvertCli, RunConfigAugmentGivesThePreprocessing) {
  register_tiny();
  testing::TempDir dir;
  const std::string pth = testing::pth_fixture("module_prefix.pth");
  write_file_atomic(dir.file("run.json"), R"({"model": {"name": "tiny", "num_classes": 2},
      "augment": {"mean": [0, 0, 0], "std": [1, 1, 1], "val_resize": [224, 320]}})");
  ASSERT_EQ(convert({pth, "--config", dir.file("run.json"), "-o", dir.file("a.bin")}).status, 0);
  Checkpoint ck = load_checkpoint(dir.file("a"));
  EXPECT_EQ(ck.preprocess.mean, (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(ck.preprocess.std, (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(ck.preprocess.input_size, (std::vector<int64_t>{224, 320}));

  write_file_atomic(dir.file("square.json"), R"({"model": {"name": "tiny", "num_classes": 2},
      "augment": {"val_resize": 96}, "preprocess": {"mean": [0.5, 0.5, 0.5]}})");
  ASSERT_EQ(convert({pth, "--config", dir.file("square.json"), "-o", dir.file("b.bin")}).status, 0);
  ck = load_checkpoint(dir.file("b"));
  EXPECT_EQ(ck.preprocess.input_size, (std::vector<int64_t>{96, 96}));
  EXPECT_EQ(ck.preprocess.mean, (std::vector<double>{0.5, 0.5, 0.5}));

  write_file_atomic(dir.file("bad.json"), R"({"model": {"name": "tiny", "num_classes": 2},
      "augment": {"std": "one"}})");
  const Result r = convert({pth, "--config", dir.file("bad.json"), "-o", dir.file("c.bin")});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("bad \"augment\""), std::string::npos) << r.err;
}

TEST(ConvertCli, ConfigValidatesAgainstTheRegistry) {
  register_tiny();
  testing::TempDir dir;
  const std::string pth = testing::pth_fixture("module_prefix.pth");
  write_file_atomic(dir.file("ok.json"), R"({"model": {"name": "tiny", "num_classes": 2}})");
  EXPECT_EQ(convert({pth, "--config", dir.file("ok.json"), "-o", dir.file("ok.bin")}).status, 0);
  // The wrong class count: the head's two tensors are mis-shaped, and the error names the net.
  write_file_atomic(dir.file("three.json"), R"({"model": {"name": "tiny", "num_classes": 3}})");
  const Result r = convert({pth, "--config", dir.file("three.json"), "-o", dir.file("x.bin")});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("\"name\":\"tiny\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0 missing, 0 unexpected, 2 mis-shaped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2.weight: expected float32[3, 4, 1, 1], found float32[2, 4, 1, 1]"), std::string::npos)
      << r.err;
  // An unknown net lists the registered ones.
  write_file_atomic(dir.file("unknown.json"), R"({"model": {"name": "no_such_net", "num_classes": 2}})");
  const Result u = convert({pth, "--config", dir.file("unknown.json"), "-o", dir.file("y.bin")});
  EXPECT_EQ(u.status, 1);
  EXPECT_NE(u.err.find("unknown net 'no_such_net'"), std::string::npos) << u.err;
  EXPECT_NE(u.err.find("tiny"), std::string::npos) << u.err;
}

TEST(ConvertCli, ConfigValidatesAgainstTheRegisteredParameterList) {
  register_tiny();
  testing::TempDir dir;
  write_file_atomic(dir.file("cfg.json"), R"({"model": {"name": "tiny", "num_classes": 2}})");
  const TensorDict good = load_pth(testing::pth_fixture("module_prefix.pth")).tensors;
  ASSERT_EQ(convert({testing::pth_fixture("module_prefix.pth"), "--config", dir.file("cfg.json"), "-o",
                     dir.file("m.bin")}).status, 0);
  // One tensor dropped, one foreign tensor added, one of the wrong shape.
  TensorDict bad;
  for (const auto& [name, t] : good) {
    if (name == "0.weight") continue;
    bad.insert(name, name == "0.bias" ? Tensor::zeros({5}) : t);
  }
  bad.insert("head.cls.weight", Tensor::zeros({2, 4, 1, 1}));
  save_pth(dir.file("bad.pth"), bad);
  const Result r = convert({dir.file("bad.pth"), "--config", dir.file("cfg.json"), "-o", dir.file("b.bin")});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("1 missing, 1 unexpected, 1 mis-shaped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("head.cls.weight float32[2, 4, 1, 1]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0.weight float32[4, 3, 3, 3]"), std::string::npos) << r.err;
}

// --strip-prefix: a checkpoint saved from a wrapper ("model.conv...") converts
// to the net's own names and validates; a prefix no name has is an error.
TEST(ConvertCli, StripPrefixRenamesAndValidates) {
  register_tiny();
  testing::TempDir dir;
  TensorDict wrapped;
  for (const auto& [name, t] : load_pth(testing::pth_fixture("module_prefix.pth")).tensors) wrapped.insert("model." + name, t);
  save_pth(dir.file("wrapped.pth"), wrapped);
  write_file_atomic(dir.file("cfg.json"), R"({"model": {"name": "tiny", "num_classes": 2}})");
  const Result listed = convert({dir.file("wrapped.pth"), "--list", "--strip-prefix", "model."});
  ASSERT_EQ(listed.status, 0) << listed.err;
  EXPECT_EQ(listed.out.rfind("0.weight float32", 0), 0u) << listed.out;
  const Result r = convert({dir.file("wrapped.pth"), "--config", dir.file("cfg.json"), "--strip-prefix", "model.", "-o",
                            dir.file("m.bin")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(load_checkpoint(dir.file("m.json")).tensors.contains("1.running_mean"));
  const Result wrong = convert({dir.file("wrapped.pth"), "--strip-prefix", "net.", "-o", dir.file("w.bin")});
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.err.find("no tensor name starts with 'net.'"), std::string::npos) << wrong.err;
}

// zh320's last.pth (OneCycleLR state with a bound method): converts, and a
// warning on stderr names what was skipped; a payload in the optimizer branch
// is skipped the same way and never runs.
TEST(ConvertCli, TrainingCheckpointWithSchedulerObjectsConverts) {
  register_tiny();
  testing::TempDir dir;
  const std::string marker = "/tmp/cudaseg_pth_fixture_was_executed";
  ::unlink(marker.c_str());
  write_file_atomic(dir.file("cfg.json"), R"({"model": {"name": "tiny", "num_classes": 2}})");
  const Result r = convert({testing::pth_fixture("zh320_last.pth"), "--config", dir.file("cfg.json"), "-o",
                            dir.file("m.bin")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("rtseg_convert: warning: skipped 'scheduler'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("getattr"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("state dict under 'state_dict'"), std::string::npos) << r.out;
  EXPECT_EQ(load_checkpoint(dir.file("m.json")).tensors.size(), 9u);

  const Result evil = convert({testing::pth_fixture("malicious_optimizer.pth"), "-o", dir.file("e.bin")});
  ASSERT_EQ(evil.status, 0) << evil.err;
  EXPECT_NE(evil.err.find("skipped 'optimizer': it refers to 'posix.system'"), std::string::npos) << evil.err;
  const Result refused = convert({testing::pth_fixture("malicious_state_dict.pth"), "-o", dir.file("s.bin")});
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("refusing to load global 'posix.system'"), std::string::npos) << refused.err;
  EXPECT_FALSE(testing::file_exists(marker)) << "a pickled payload ran";
}

// --from: auto detects a Hugging Face SegFormer and maps its names; torch
// keeps them; a value outside the list is a usage error.
TEST(ConvertCli, FromPicksOrDetectsTheLayout) {
  const std::string hf = std::string(CUDASEG_TEST_DATA) + "/layouts/hf_segformer_tiny.safetensors";
  const Result detected = convert({hf, "--list"});
  ASSERT_EQ(detected.status, 0) << detected.err;
  EXPECT_NE(detected.out.find("backbone.block1.0.attn.kv.weight float32 [8, 4]"), std::string::npos) << detected.out;
  EXPECT_NE(detected.err.find("key/value pairs concatenated"), std::string::npos) << detected.err;
  const Result kept = convert({hf, "--list", "--from", "torch"});
  ASSERT_EQ(kept.status, 0) << kept.err;
  EXPECT_NE(kept.out.find("segformer.encoder.block.0.0.attention.self.key.weight"), std::string::npos) << kept.out;
  const Result wrong = convert({testing::pth_fixture("module_prefix.pth"), "--list", "--from", "hf"});
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.err.find("--from hf expects Hugging Face SegFormer names"), std::string::npos) << wrong.err;
  const Result usage = convert({hf, "--list", "--from", "onnx"});
  EXPECT_EQ(usage.status, 2);
  EXPECT_NE(usage.err.find("--from takes hf, mmseg, paddle, torch or auto"), std::string::npos) << usage.err;
  const Result paddle = convert({std::string(CUDASEG_TEST_DATA) + "/layouts/ppliteseg_tiny_p4.pdparams", "--list"});
  ASSERT_EQ(paddle.status, 0) << paddle.err;
  EXPECT_NE(paddle.out.find("backbone.features.0.bn.running_var float32 [4]"), std::string::npos) << paddle.out;
}

// A PaddleSeg PP-LiteSeg checkpoint (tools/make_paddle_fixture.py: PaddleSeg's
// names, BatchNorm _mean/_variance, a pickle of NumPy arrays) converts with
// --from paddle and by detection against its ppliteseg_paddle config, loads
// strictly, and gives the logits of PaddleSeg's PP-LiteSeg (restated in
// PyTorch, float64) within float32 parity: relative L2 at most three times
// PyTorch's own float32 run's, or 1e-5.
TEST(ConvertCli, PaddleSegPPLiteSegLoadsAndGivesItsLogits) {
  const std::string data = std::string(CUDASEG_TEST_DATA) + "/paddle/";
  std::ifstream expected_in(data + "expected.json");
  const nlohmann::json expected = nlohmann::json::parse(expected_in);
  const double bound = std::max(3 * expected.at("torch_fp32_rel_l2").get<double>(), 1e-5);
  const Tensor x = read_npy(data + "input.npy");
  const std::vector<double> want = read_npy(data + "logits_f64.npy").to_vector();
  testing::TempDir dir;
  for (const char* from : {"paddle", "auto"}) {
    const std::string out = dir.file(std::string(from) + ".bin");
    const Result r = convert({data + "pp_liteseg_tiny.pdparams", "--from", from, "--config", data + "config.json",
                              "-o", out});
    ASSERT_EQ(r.status, 0) << from << ": " << r.err;
    const Checkpoint ck = load_checkpoint(out);
    EXPECT_EQ(ck.tensors.entries().size(), expected.at("tensors").get<size_t>()) << from;
    nn::ModulePtr net = nn::create_net(nlohmann::json::parse(ck.model_json));
    std::map<std::string, Tensor> state;
    for (const auto& [name, t] : ck.tensors.entries()) state[name] = t;
    net->load_state_dict(state);
    net->eval();
    Tensor logits;
    {
      autograd::NoGradGuard no_grad;
      logits = net->forward(x);
    }
    ASSERT_EQ(logits.shape(), (Shape{1, 3, 44, 76})) << from;
    const std::vector<double> got = logits.to_vector();
    double diff = 0, norm = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      diff += (got[i] - want[i]) * (got[i] - want[i]);
      norm += want[i] * want[i];
    }
    const double rel = std::sqrt(diff / norm);
    std::cout << "[ paddle   ] --from " << from << ": relative L2 to float64 " << rel << " (bound " << bound << ")\n";
    EXPECT_LE(rel, bound) << from;
  }
}

}  // namespace
}  // namespace cudaseg::weights
