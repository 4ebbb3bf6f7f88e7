// Training keeps what it trained: a run killed at random instants while it
// writes checkpoints resumes bit-exactly; a failure after trained steps saves
// them first; a damaged or mismatched resume is refused naming the file.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/testing.h"
#include "runtime/atomic_file.h"
#include "runtime/thread_pool.h"
#include "train/trainer.h"
#include "trainer_toy.h"
#include "weights/checkpoint.h"

using namespace cudaseg;
using namespace cudaseg::train;
namespace ct = cudaseg::testing;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kIters = 5;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_reliability_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

Json short_run() {
  Json c = train_testing::toy_config();
  c["train"]["iters"] = kIters;
  c["train"]["ckpt_interval"] = 1;
  c["train"]["log_interval"] = 0;
  c["schedule"]["warmup_iters"] = 1;
  return c;
}

// Trains `config` in `dir`, resuming from its last checkpoint when there is one.
void train_in(const Json& config, const fs::path& dir) {
  Trainer trainer(config, dir.string(), train_testing::toy_data(8, 0, 5));
  trainer.set_log([](const std::string&) {});
  if (fs::exists(dir / "last.json")) trainer.resume(dir.string());
  trainer.run();
}

std::string bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw_data()), c.nbytes());
}

void expect_same_dict(const weights::TensorDict& a, const weights::TensorDict& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, t] : a) {
    const Tensor* u = b.find(name);
    ASSERT_NE(u, nullptr) << what << " " << name;
    ASSERT_EQ(bytes_of(t), bytes_of(*u)) << what << " " << name;
  }
}

// A source that fails on draw `fail_at` as a bad sample would.
class FailingBatches : public BatchSource {
 public:
  FailingBatches(std::shared_ptr<Loader> loader, int64_t fail_at) : inner_(loader), fail_at_(fail_at) {}
  Batch next() override {
    if (++drawn_ == fail_at_) CUDASEG_FAIL("sample img7.png: cannot decode");
    return inner_.next();
  }
  nlohmann::json state() const override { return inner_.state(); }
  void set_state(const nlohmann::json& s) override { inner_.set_state(s); }
  int64_t epoch() const override { return inner_.epoch(); }

 private:
  LoaderBatches inner_;
  int64_t fail_at_;
  int64_t drawn_ = 0;
};

}  // namespace

// 200 processes, each killed (_exit: no unwinding, no destructors, as kill -9)
// at a random instant among every step of every checkpoint write of a run,
// each then resumed to the end: all end bit-identical to an uninterrupted run.
TEST(Reliability, KilledAt200RandomInstantsDuringCheckpointWritesResumesBitExactly) {
  const Json config = short_run();
  const int threads_before = num_threads();
  set_num_threads(1);  // no pool workers to lose across fork()
  const fs::path whole = fresh_dir("whole");
  int64_t points = 0;
  weights::test_hooks::set_save_fault_hook([&](const char*) { ++points; });
  train_in(config, whole);
  weights::test_hooks::set_save_fault_hook(nullptr);
  ASSERT_GT(points, 5 * kIters);
  const weights::Checkpoint want = weights::load_checkpoint((whole / "last").string());

  std::mt19937_64 rng(20);
  std::uniform_int_distribution<int64_t> instant(0, points - 1);
  const fs::path dir = fresh_dir("killed");
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t kill_at = instant(rng);
    SCOPED_TRACE("trial " + std::to_string(trial) + ", killed at save step " + std::to_string(kill_at));
    fs::remove_all(dir);
    const pid_t child = ::fork();
    if (child == 0) {
      int64_t seen = 0;
      weights::test_hooks::set_save_fault_hook([&](const char*) {
        if (seen++ == kill_at) ::_exit(0);
      });
      try {
        train_in(config, dir);
      } catch (...) {
      }
      ::_exit(1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child was not killed where asked";
    train_in(config, dir);
    const weights::Checkpoint got = weights::load_checkpoint((dir / "last").string());
    ASSERT_EQ(got.train_state->step, kIters);
    expect_same_dict(want.tensors, got.tensors, "weights");
    expect_same_dict(want.train_state->optimizer, got.train_state->optimizer, "optimizer");
    ASSERT_EQ(want.train_state->loader_json, got.train_state->loader_json);
    ASSERT_EQ(want.train_state->rng_offset, got.train_state->rng_offset);
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      ASSERT_EQ(name.find(".tmp-"), std::string::npos) << name;
      ASSERT_EQ(name.find(".pending-"), std::string::npos) << name;
    }
  }
  fs::remove_all(dir);
  fs::remove_all(whole);
  set_num_threads(threads_before);
}

// With ckpt_interval 0 a failure at step 4 lost the 3 steps trained.
TEST(Reliability, FailureAfterTrainedStepsSavesThemAndSaysHowToResume) {
  const fs::path dir = fresh_dir("fail");
  Json config = short_run();
  config["train"]["ckpt_interval"] = 0;
  const TrainData data = train_testing::toy_data(8, 0, 5);
  Trainer trainer(config, dir.string(), data);
  trainer.set_log([](const std::string&) {});
  trainer.set_batch_source(std::make_unique<FailingBatches>(data.train, 4));
  EXPECT_TRUE(ct::throws_mentioning([&] { trainer.run(); },
                                    {"img7.png: cannot decode", "at step 4", "the 3 steps trained are saved in",
                                     (dir / "last").string(), "continue with --resume " + dir.string()}));
  EXPECT_EQ(weights::load_checkpoint((dir / "last").string()).train_state->step, 3);
  // Failing again before another step is trained leaves that checkpoint as it is.
  Trainer again(config, dir.string(), data);
  again.set_log([](const std::string&) {});
  again.resume(dir.string());
  again.set_batch_source(std::make_unique<FailingBatches>(data.train, 1));
  EXPECT_TRUE(ct::throws_mentioning([&] { again.run(); },
                                    {"at step 4", "the last good checkpoint " + (dir / "last").string() + " is intact"}));
  fs::remove_all(dir);
}

TEST(Reliability, DamagedOrMismatchedResumeIsRefusedNamingTheFile) {
  const fs::path dir = fresh_dir("resume");
  const Json config = short_run();
  train_in(config, dir);
  const std::string manifest = (dir / "last.json").string();
  const std::string original = weights::read_text_file(manifest);
  auto resume_error = [&](const Json& run_config) {
    Trainer t(run_config, dir.string(), train_testing::toy_data(8, 0, 5));
    t.set_log([](const std::string&) {});
    try {
      t.resume(dir.string());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // A missing optimizer tensor used to restart its moments silently.
  Json m = Json::parse(original);
  Json& opt = m["train_state"]["tensors"];
  std::string dropped;
  for (size_t i = 0; i < opt.size(); ++i) {
    if (opt[i]["name"].get<std::string>().rfind("exp_avg/", 0) == 0) {
      dropped = opt[i]["name"].get<std::string>();
      opt.erase(i);
      break;
    }
  }
  ASSERT_FALSE(dropped.empty());
  write_file_atomic(manifest, m.dump());
  std::string e = resume_error(config);
  EXPECT_NE(e.find(manifest + ": optimizer state: '" + dropped + "' is missing"), std::string::npos) << e;
  // A raw [json.exception.type_error.302] used to name no file.
  m = Json::parse(original);
  m["train_state"]["optimizer"]["optimizer"]["lr"] = "fast";
  write_file_atomic(manifest, m.dump());
  e = resume_error(config);
  EXPECT_NE(e.find(manifest + ": damaged training state: [json.exception.type_error.302]"), std::string::npos) << e;
  // A checkpoint past the run's end used to exit 0 naming a best.json that did not exist.
  write_file_atomic(manifest, original);
  Json shorter = config;
  shorter["train"]["iters"] = 3;
  e = resume_error(shorter);
  EXPECT_NE(e.find("last: the checkpoint is at step 5, beyond this run's 3 steps; to train further raise train.iters"),
            std::string::npos)
      << e;
  EXPECT_EQ(resume_error(config), "no error");
  fs::remove_all(dir);
}

// An image too small for the net is reported as that, not as a divergence:
// the failing layer, the step and the batch's size are named.
TEST(Reliability, ImageTooSmallForTheNetNamesTheSize) {
  const fs::path dir = fresh_dir("tiny");
  Json config = short_run();
  config["train"]["batch_size"] = 1;
  TrainData data;
  data.train = train_testing::toy_loader(std::make_shared<train_testing::BlobsDataset>(4, 1, 1, 3), true, 1);
  Trainer trainer(config, dir.string(), data);
  trainer.set_log([](const std::string&) {});
  EXPECT_TRUE(ct::throws_mentioning([&] { trainer.run(); },
                                    {"step 1, training batch [1, 3, 1, 1]", "more than 1 value per channel",
                                     "the feature map is too small", "no checkpoint was written yet"}));
  fs::remove_all(dir);
}
