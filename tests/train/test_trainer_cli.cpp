// rtseg_train (cli/train_main.h): usage, a run, resume, stop, and the
// exit status and one-line message of each failure; then the built binary.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/train_main.h"
#include "trainer_toy.h"
#include "weights/checkpoint.h"

using namespace cudaseg;
namespace fs = std::filesystem;

namespace {

struct Result {
  int status;
  std::string out, err;
};

Result run_cli(std::vector<std::string> args, const std::atomic<bool>* stop = nullptr) {
  args.insert(args.begin(), "rtseg_train");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int status = cli::train_main(static_cast<int>(argv.size()), argv.data(), out, err, stop);
  return {status, out.str(), err.str()};
}

bool one_line(const std::string& s) { return s.rfind("rtseg_train: ", 0) == 0 && s.find('\n') == s.size() - 1; }

// A run config for the test's toy net on a tiny synthetic set.
fs::path write_config(const fs::path& dir, int64_t iters) {
  train_testing::register_toy_net();
  fs::create_directories(dir);
  nlohmann::json c = train_testing::toy_config();
  c["data"] = {{"dataset", "synthetic"}, {"num_classes", 3}, {"train_size", 8}, {"val_size", 2},
               {"image_size", {16, 16}}, {"workers", 0}};
  c["train"]["iters"] = iters;
  c["train"]["batch_size"] = 2;
  c["train"]["val_interval"] = 2;
  c["train"]["log_interval"] = 1;
  c["schedule"]["warmup_iters"] = 0;
  const fs::path path = dir / "toy_run.json";
  std::ofstream(path) << c.dump(2);
  return path;
}

}  // namespace

TEST(TrainCli, HelpAndUsageErrors) {
  const Result help = run_cli({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("usage: rtseg_train CONFIG.json"), std::string::npos);
  for (const char* section : {"model:", "data:", "augment:", "optimizer:", "schedule:", "loss:", "ema:", "val:",
                              "train:"}) {
    EXPECT_NE(help.out.find(section), std::string::npos) << section;
  }
  EXPECT_NE(help.out.find("image_size"), std::string::npos);  // the data section's keys
  EXPECT_NE(help.out.find("metrics.jsonl"), std::string::npos);  // what the run folder receives
  EXPECT_NE(help.out.find("report.html"), std::string::npos);
  EXPECT_NE(help.out.find("tensorboard --logdir"), std::string::npos);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {}, {"a.json", "--bogus"}, {"a.json", "--set"}, {"a.json", "b.json"}}) {
    const Result r = run_cli(args);
    EXPECT_EQ(r.status, 2);
    EXPECT_TRUE(one_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("(see rtseg_train --help)"), std::string::npos);
  }
}

TEST(TrainCli, RuntimeErrorsAreOneLine) {
  const fs::path dir = fs::temp_directory_path() / "cudaseg_test_cli_errors";
  fs::remove_all(dir);
  const fs::path config = write_config(dir, 2);
  Result r = run_cli({(dir / "missing.json").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("missing.json"), std::string::npos);
  r = run_cli({config.string(), "--set", "optimizer.lr=fast", "--out", (dir / "out").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("optimizer.lr"), std::string::npos);
  r = run_cli({config.string(), "--resume", (dir / "nowhere").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("nowhere"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "config.json"));  // nothing written before the run starts
  fs::remove_all(dir);
}

TEST(TrainCli, TrainsResumesAndStops) {
  const fs::path dir = fs::temp_directory_path() / "cudaseg_test_cli_run";
  fs::remove_all(dir);
  const fs::path config = write_config(dir, 4);
  const fs::path out = dir / "out";
  Result r = run_cli({config.string(), "--out", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("step 4: best mIoU"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("step 3/4"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(out / "config.json"));
  EXPECT_TRUE(fs::exists(out / "best.json"));

  // Resume into the same folder (the default out) with more steps.
  r = run_cli({config.string(), "--resume", out.string(), "--set", "train.iters=6"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("resumed"), std::string::npos);
  EXPECT_EQ(r.err.find("step 4/6"), std::string::npos);  // step 4 is not redone
  EXPECT_NE(r.err.find("step 5/6"), std::string::npos);
  EXPECT_EQ(weights::load_checkpoint((out / "last").string()).train_state->step, 6);

  // A raised stop flag ends the run after the current step with a checkpoint.
  std::atomic<bool> stop{true};
  r = run_cli({config.string(), "--out", (dir / "stopped").string()}, &stop);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("stopped at step 1"), std::string::npos) << r.err;
  EXPECT_EQ(weights::load_checkpoint((dir / "stopped" / "last").string()).train_state->step, 1);
  fs::remove_all(dir);
}

// The built binary: exit statuses and the one-line error of an unknown net
// (the test's toy net is not registered there).
TEST(TrainCli, BinaryEndToEnd) {
  const fs::path exe = fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "rtseg_train";
  if (!fs::exists(exe)) GTEST_SKIP() << "skipped: " << exe << " not built (cmake --build build --target rtseg_train)";
  const fs::path dir = fs::temp_directory_path() / "cudaseg_test_cli_binary";
  fs::remove_all(dir);
  const fs::path config = write_config(dir, 2);
  auto run = [&](const std::string& args) {
    const int raw = std::system((exe.string() + " " + args + " >" + (dir / "out.txt").string() + " 2>" +
                                 (dir / "err.txt").string()).c_str());
    std::ifstream f(dir / "err.txt");
    std::stringstream err;
    err << f.rdbuf();
    return std::make_pair(WEXITSTATUS(raw), err.str());
  };
  EXPECT_EQ(run("--help").first, 0);
  auto [usage_status, usage_err] = run("");
  EXPECT_EQ(usage_status, 2);
  EXPECT_TRUE(one_line(usage_err)) << usage_err;
  auto [status, err] = run(config.string() + " --out " + (dir / "o").string());
  EXPECT_EQ(status, 1);
  EXPECT_TRUE(one_line(err)) << err;
  EXPECT_NE(err.find("unknown net 'train_toy'"), std::string::npos) << err;
  fs::remove_all(dir);
}

// train.out names the run folder, --out wins over it; config errors of the
// train section are one line.
TEST(TrainCli, TrainOutPlacesTheRunAndOutOverridesIt) {
  const fs::path dir = fs::temp_directory_path() / "cudaseg_test_cli_train_out";
  fs::remove_all(dir);
  const fs::path config = write_config(dir, 2);
  Result r = run_cli({config.string(), "--set", "train.out=" + (dir / "configured").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "configured" / "last.json"));
  EXPECT_NE(r.err.find("output " + (dir / "configured").string()), std::string::npos) << r.err;

  r = run_cli({config.string(), "--set", "train.out=" + (dir / "ignored").string(), "--out", (dir / "flag").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "flag" / "last.json"));
  EXPECT_FALSE(fs::exists(dir / "ignored"));

  r = run_cli({config.string(), "--set", "train.precision=fp16", "--out", (dir / "fp16").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("train.precision 'fp16' needs a CUDA device (train.device is 'cpu'); use fp32 on the CPU"),
            std::string::npos)
      << r.err;
  r = run_cli({config.string(), "--set", "train.epochs=3", "--out", (dir / "both").string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("'train.iters' (2) or 'train.epochs' (3), not both"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "fp16"));
  EXPECT_FALSE(fs::exists(dir / "both"));
  fs::remove_all(dir);
}
