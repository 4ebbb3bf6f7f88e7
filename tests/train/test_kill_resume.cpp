// The built rtseg_train binary killed with SIGKILL after it wrote a
// checkpoint, then resumed with --resume, ends with the same tensors as an
// uninterrupted run, bit for bit: weights, optimizer state, step (FastSCNN on tiny
// synthetic images, the quickest registered net).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "weights/checkpoint.h"

using namespace cudaseg;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kIters = 16;

fs::path binary() { return fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "rtseg_train"; }

// Starts the binary with `args`, its output to `log`.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> all{binary().string()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

std::string read_all(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Names of the tensors whose bytes differ (or that only one dict has).
std::vector<std::string> differing(const weights::TensorDict& a, const weights::TensorDict& b) {
  std::vector<std::string> out;
  for (const auto& [name, t] : a) {
    const Tensor* u = b.find(name);
    const Tensor x = t.contiguous(), y = u ? u->contiguous() : Tensor();
    if (!u || x.dtype() != y.dtype() || x.shape() != y.shape() ||
        std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) != 0) {
      out.push_back(name);
    }
  }
  if (b.size() != a.size()) out.push_back("(tensor counts differ)");
  return out;
}

int run_to_end(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = spawn(args, log);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(KillResume, SigkillThenResumeMatchesAnUninterruptedRun) {
  if (!fs::exists(binary())) GTEST_SKIP() << "skipped: " << binary() << " not built (cmake --build build --target rtseg_train)";
  const fs::path dir = fs::temp_directory_path() / "cudaseg_test_kill_resume";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const nlohmann::json config = {
      {"model", {{"name", "fastscnn"}, {"num_classes", 4}}},
      {"data", {{"dataset", "synthetic"}, {"num_classes", 4}, {"train_size", 6}, {"val_size", 1},
                {"image_size", {64, 64}}, {"seed", 2}, {"workers", 1}}},
      {"augment", {{"scale", {1.0, 1.5}}, {"crop", {64, 64}}, {"flip", true}}},
      {"optimizer", {{"type", "sgd"}, {"lr", 0.01}, {"momentum", 0.9}, {"weight_decay", 1e-4}}},
      {"schedule", {{"policy", "poly"}, {"warmup_iters", 2}}},
      {"loss", {{"type", "ohem"}}},
      {"train", {{"device", "cpu"}, {"iters", kIters}, {"batch_size", 2}, {"seed", 4}, {"log_interval", 1},
                 {"val_interval", 6}, {"ckpt_interval", 2}}}};
  const fs::path config_path = dir / "kill.json";
  std::ofstream(config_path) << config.dump(2);

  const fs::path whole = dir / "whole", killed = dir / "killed";
  ASSERT_EQ(run_to_end({config_path.string(), "--out", whole.string()}, dir / "whole.log"), 0)
      << read_all(dir / "whole.log");

  const pid_t pid = spawn({config_path.string(), "--out", killed.string()}, dir / "killed.log");
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(killed / "last.json") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it was killed: " << read_all(dir / "killed.log");
  const int64_t at = weights::load_checkpoint((killed / "last").string()).train_state->step;
  EXPECT_LT(at, kIters);

  ASSERT_EQ(run_to_end({config_path.string(), "--resume", killed.string()}, dir / "resumed.log"), 0)
      << read_all(dir / "resumed.log");
  EXPECT_NE(read_all(dir / "resumed.log").find("resumed"), std::string::npos);
  const weights::Checkpoint a = weights::load_checkpoint((whole / "last").string());
  const weights::Checkpoint b = weights::load_checkpoint((killed / "last").string());
  EXPECT_EQ(b.train_state->step, kIters);
  EXPECT_EQ(differing(a.tensors, b.tensors), std::vector<std::string>{});
  EXPECT_EQ(differing(a.train_state->optimizer, b.train_state->optimizer), std::vector<std::string>{});
  EXPECT_EQ(a.train_state->loader_json, b.train_state->loader_json);
  EXPECT_EQ(a.train_state->rng_offset, b.train_state->rng_offset);
  EXPECT_EQ(differing(weights::load_checkpoint((whole / "best").string()).tensors,
                      weights::load_checkpoint((killed / "best").string()).tensors),
            std::vector<std::string>{});
  // The metrics log holds each logged step once, as if never interrupted.
  std::ifstream log(killed / "metrics.jsonl");
  int64_t train_lines = 0, last_step = 0;
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] != "train") continue;
    ++train_lines;
    EXPECT_EQ(j["step"].get<int64_t>(), last_step + 1);
    last_step = j["step"].get<int64_t>();
  }
  EXPECT_EQ(train_lines, kIters);
  fs::remove_all(dir);
}
