// Data-parallel training (train/dist.h, train/ddp.h, nn/sync_batch_norm.h):
// the loader's shards, SyncBatchNorm against one process's BatchNorm (two
// ranks as two threads), the gradient buckets, and the built rtseg_train
// under mpirun -np 2 on the CPU: the same weights as one process with the
// whole batch, resumption on another rank count, and a failed or killed rank
// ending the whole run. NCCL's test needs two GPUs.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "autograd/arith.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "common/testing.h"
#include "cudaseg_config.h"
#include "nn/layers.h"
#include "nn/sync_batch_norm.h"
#include "ops/ops.h"
#include "runtime/gpu.h"
#include "train/ddp.h"
#include "train/grad_scaler.h"
#include "train/synthetic.h"
#include "trainer_toy.h"
#include "weights/checkpoint.h"

using namespace cudaseg;
using namespace cudaseg::testing;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- loader shards

// The ranks' batches of a step together are one process's batch of that step, in order.
TEST(Distributed, LoaderShardsUnionIsTheSingleProcessBatch) {
  train::SyntheticOptions so;
  so.num_classes = 3;
  so.size = 22;
  so.height = 8;
  so.width = 8;
  auto data = std::make_shared<train::SyntheticDataset>(so);
  auto transform = std::make_shared<train::ValTransform>(std::array<float, 3>{0, 0, 0}, std::array<float, 3>{1, 1, 1});
  train::LoaderOptions one;
  one.batch_size = 6;
  one.workers = 0;
  one.seed = 5;
  train::Loader single(data, transform, one);
  std::vector<std::unique_ptr<train::Loader>> ranks;
  for (int r = 0; r < 3; ++r) {
    train::LoaderOptions o = one;
    o.batch_size = 2;
    o.rank = r;
    o.world = 3;
    ranks.push_back(std::make_unique<train::Loader>(data, transform, o));
    EXPECT_EQ(ranks.back()->batches_per_epoch(), single.batches_per_epoch());
  }
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    for (int64_t b = 0; b < single.batches_per_epoch(); ++b) {
      std::vector<int64_t> joined;
      for (auto& l : ranks) {
        const std::vector<int64_t> part = l->batch_indices(epoch, b);
        joined.insert(joined.end(), part.begin(), part.end());
      }
      EXPECT_EQ(joined, single.batch_indices(epoch, b)) << "epoch " << epoch << " batch " << b;
      const train::Batch whole = single.make_batch(epoch, b);
      const train::Batch second = ranks[1]->make_batch(epoch, b);
      EXPECT_EQ(max_abs_diff(second.images, whole.images.narrow(0, 2, 2)), 0.0);
    }
  }
}

TEST(Distributed, LoaderRefusesAnUnevenLastBatch) {
  train::SyntheticOptions so;
  so.num_classes = 3;
  so.size = 7;
  so.height = 8;
  so.width = 8;
  auto data = std::make_shared<train::SyntheticDataset>(so);
  auto transform = std::make_shared<train::ValTransform>(std::array<float, 3>{0, 0, 0}, std::array<float, 3>{1, 1, 1});
  train::LoaderOptions o;
  o.batch_size = 2;
  o.world = 2;
  o.drop_last = false;
  o.workers = 0;
  try {
    train::Loader loader(data, transform, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("set data.drop_last true"), std::string::npos) << e.what();
  }
  o.drop_last = true;
  EXPECT_EQ(train::Loader(data, transform, o).batches_per_epoch(), 1);
}

// ---------------------------------------------------------------- SyncBatchNorm

// Two ranks as two threads: all_reduce_sum adds both threads' tensors.
class ThreadReducer {
 public:
  explicit ThreadReducer(int world) : world_(world), slots_(static_cast<size_t>(world)) {}
  void all_reduce_sum(int rank, Tensor& t) {
    slots_[static_cast<size_t>(rank)] = t.clone();
    arrive_and_wait();
    Tensor sum = slots_[0].clone();
    for (int r = 1; r < world_; ++r) sum = ops::add(sum, slots_[static_cast<size_t>(r)]);
    arrive_and_wait();
    t.copy_(sum);
  }

 private:
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t generation = generation_;
    if (++arrived_ == world_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != generation; });
  }
  int world_;
  std::vector<Tensor> slots_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
};

// Forward, running statistics and the three gradients of BatchNorm over a
// batch of 6 split 2 + 4 over two ranks equal one process's over the batch
// (float64, so only the reduction order differs).
TEST(Distributed, SyncBatchNormEqualsBatchNormOverTheJointBatch) {
  const Tensor x = randn({6, 3, 5, 4}, 1);
  const Tensor dy = randn({6, 3, 5, 4}, 2);
  const Tensor weight0 = uniform({3}, 0.5, 1.5, 3), bias0 = randn({3}, 4);

  Tensor w = weight0.clone(), b = bias0.clone();
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor xin = x.clone();
  xin.set_requires_grad(true);
  Tensor rm = Tensor::zeros({3}, DType::f64), rv = Tensor::ones({3}, DType::f64);
  const Tensor y = fn::batch_norm(xin, rm, rv, w, b, true, 0.1, 1e-5);
  autograd::backward(y, dy);

  ThreadReducer reducer(2);
  const int64_t starts[2] = {0, 2}, sizes[2] = {2, 4};
  Tensor ys[2], dxs[2], dws[2], dbs[2], rms[2], rvs[2];
  auto rank = [&](int r) {
    Tensor wr = weight0.clone(), br = bias0.clone();
    wr.set_requires_grad(true);
    br.set_requires_grad(true);
    Tensor xr = x.narrow(0, starts[r], sizes[r]).clone();
    xr.set_requires_grad(true);
    rms[r] = Tensor::zeros({3}, DType::f64);
    rvs[r] = Tensor::ones({3}, DType::f64);
    nn::AllReduceSum sum = [&reducer, r](Tensor& t) { reducer.all_reduce_sum(r, t); };
    ys[r] = nn::sync_batch_norm(xr, rms[r], rvs[r], wr, br, 0.1, 1e-5, sum);
    autograd::backward(ys[r], dy.narrow(0, starts[r], sizes[r]).contiguous());
    dxs[r] = xr.grad();
    dws[r] = wr.grad();
    dbs[r] = br.grad();
  };
  std::thread other(rank, 1);
  rank(0);
  other.join();
  EXPECT_LT(max_abs_diff(ops::cat({ys[0], ys[1]}, 0), y), 1e-12);
  EXPECT_LT(max_abs_diff(ops::cat({dxs[0], dxs[1]}, 0), xin.grad()), 1e-12);
  // Weight and bias gradients stay local; the data-parallel average (here the sum of two ranks) makes them whole.
  EXPECT_LT(max_abs_diff(ops::add(dws[0], dws[1]), w.grad()), 1e-11);
  EXPECT_LT(max_abs_diff(ops::add(dbs[0], dbs[1]), b.grad()), 1e-11);
  EXPECT_GT(max_abs_diff(dws[0], w.grad()), 1e-3);
  for (int r = 0; r < 2; ++r) {
    EXPECT_LT(max_abs_diff(rms[r], rm), 1e-13);
    EXPECT_LT(max_abs_diff(rvs[r], rv), 1e-13);
  }
}

// BatchNorm2d in training mode takes the synchronised path inside a guard only.
TEST(Distributed, BatchNormUsesTheGuardsReducer) {
  nn::BatchNorm2d bn(2);
  bn.train();
  int calls = 0;
  const Tensor x = randn({2, 2, 3, 3}, 7, DType::f32);
  {
    nn::SyncBatchNormGuard guard([&](Tensor&) { ++calls; });
    bn.forward(x);
    EXPECT_EQ(calls, 2);  // the mean, then the variance
    bn.eval();
    bn.forward(x);
    EXPECT_EQ(calls, 2);
  }
  bn.train();
  bn.forward(x);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(nn::batch_norm_sync(), nullptr);
}

// ---------------------------------------------------------------- gradient buckets

// A world of two whose other rank holds the same gradients: the average is
// this rank's gradient, and every collective is recorded in order.
class MirrorComm : public train::dist::Communicator {
 public:
  int rank() const override { return 0; }
  int world() const override { return 2; }
  std::string backend() const override { return "mirror"; }
  void all_reduce_sum(Tensor& t) override { t.copy_(ops::mul(t, 2.0)); }
  std::unique_ptr<train::dist::Pending> all_reduce_sum_async(Tensor& t) override {
    started.push_back(t.numel());
    struct Later : train::dist::Pending {
      Tensor t;
      void wait() override { t.copy_(ops::mul(t, 2.0)); }
    };
    auto p = std::make_unique<Later>();
    p->t = t;
    return p;
  }
  void broadcast(Tensor&, int) override {}
  void barrier() override {}
  std::vector<int64_t> started;

 protected:
  void end_ranks(const std::string& message) override { CUDASEG_FAIL(message); }
};

// Buckets fill in reverse parameter order and start while the backward
// runs, as soon as their gradients are complete; the averaged gradients
// equal the local ones; an unused parameter keeps no gradient (and holds
// back its bucket until finish()).
TEST(Distributed, GradReducerStartsBucketsDuringBackwardAndAverages) {
  std::vector<train::OptimParam> params;
  for (int i = 0; i < 4; ++i) {
    Tensor p = randn({64, 64}, 10 + static_cast<uint64_t>(i), DType::f32);  // 16 KiB each
    p.set_requires_grad(true);
    params.push_back({"p" + std::to_string(i), p});
  }
  MirrorComm comm;
  train::GradReducer reducer(params, comm, 40 << 10);  // buckets {p3, p2} and {p1, p0}
  EXPECT_EQ(reducer.bucket_count(), 2u);
  const Tensor loss = fn::sum(fn::mul(fn::mul(params[1].tensor, params[2].tensor), params[3].tensor));
  size_t started_during_backward = 0;
  reducer.backward([&] {
    autograd::backward(loss);
    started_during_backward = comm.started.size();
  });
  EXPECT_EQ(started_during_backward, 1u);
  EXPECT_EQ(comm.started, (std::vector<int64_t>{2 * 4096, 2 * 4096}));
  std::vector<Tensor> leaves;
  for (int i = 1; i < 4; ++i) {
    Tensor l = params[static_cast<size_t>(i)].tensor.detach();
    l.set_requires_grad(true);
    leaves.push_back(l);
  }
  autograd::backward(fn::sum(fn::mul(fn::mul(leaves[0], leaves[1]), leaves[2])));
  for (int i = 1; i < 4; ++i)
    EXPECT_LT(max_abs_diff(params[static_cast<size_t>(i)].tensor.grad(), leaves[static_cast<size_t>(i - 1)].grad()),
              1e-6)
        << i;
  EXPECT_FALSE(params[0].tensor.grad().defined());
}

// fp16 under data parallel: a rank whose own gradients are finite skips the
// update and backs off its scale when the ranks' agreed flag says another
// rank overflowed, so every rank's weights and scale stay equal.
TEST(Distributed, GradScalerFollowsTheRanksAgreedOverflowFlag) {
  Tensor p = Tensor::ones({3});
  p.set_requires_grad(true);
  train::Optimizer optimizer({{"p", p}}, train::OptimizerConfig{});
  train::GradScaler scaler;
  p.set_grad(Tensor::ones({3}));
  bool local = true;
  EXPECT_FALSE(scaler.step(optimizer, [&](bool found_inf) {
    local = found_inf;
    return true;
  }));
  EXPECT_FALSE(local);
  EXPECT_EQ(max_abs_diff(p, Tensor::ones({3})), 0.0);
  EXPECT_EQ(scaler.scale_value(), 32768.0);
  p.set_grad(Tensor::ones({3}));
  EXPECT_TRUE(scaler.step(optimizer, [](bool found_inf) { return found_inf; }));
  EXPECT_GT(max_abs_diff(p, Tensor::ones({3})), 0.0);
}

// ---------------------------------------------------------------- mpirun -np 2

fs::path rtseg_train() { return fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "rtseg_train"; }

std::string mpirun() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin"}) {
    const fs::path p = fs::path(dir) / "mpirun";
    if (fs::exists(p)) return p.string();
  }
  return "";
}

// Why the mpirun tests cannot run here, or empty.
std::string mpi_missing() {
  if (!CUDASEG_WITH_MPI) return "this build has no MPI (install libopenmpi-dev and reconfigure)";
  if (mpirun().empty()) return "mpirun not found (install openmpi-bin)";
  if (!fs::exists(rtseg_train())) return rtseg_train().string() + " not built";
  return "";
}

struct Outcome {
  int status;
  std::string err;
};

Outcome shell(const std::string& command, const fs::path& log) {
  const int raw = std::system((command + " >" + log.string() + " 2>&1").c_str());
  std::ifstream f(log);
  std::stringstream s;
  s << f.rdbuf();
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), s.str()};
}

std::string mpi_prefix(int ranks) {
  // One thread per rank's pool: two ranks share the CPU of a test machine.
  return "env CUDASEG_NUM_THREADS=1 " + mpirun() + " --allow-run-as-root --oversubscribe -x CUDASEG_NUM_THREADS -np " +
         std::to_string(ranks) + " ";
}

// cgnet on 64x64 synthetic scenes: BatchNorm everywhere, no dropout, and
// well conditioned, so float32 rounding differences stay at rounding size
// over a few steps (nets whose deepest maps are 2x2 at this size amplify
// them, in one process already when only the thread count changes).
fs::path write_config(const fs::path& dir, int iters, bool sync_bn) {
  fs::create_directories(dir);
  nlohmann::json c = {
      {"model", {{"name", "cgnet"}, {"num_classes", 4}}},
      {"data",
       {{"dataset", "synthetic"}, {"num_classes", 4}, {"train_size", 8}, {"val_size", 3}, {"image_size", {64, 64}},
        {"seed", 3}, {"workers", 0}}},
      {"augment", {{"scale", {1.0, 1.0}}, {"flip", true}}},
      {"optimizer", {{"type", "sgd"}, {"lr", 0.01}, {"momentum", 0.9}, {"weight_decay", 1e-4}}},
      {"schedule", {{"policy", "step"}}},
      {"loss", {{"type", "ce"}}},
      {"ema", {{"enabled", false}}},
      {"train",
       {{"iters", iters}, {"batch_size", 4}, {"sync_bn", sync_bn}, {"ddp_bucket_mb", 1}, {"log_interval", 1},
        {"val_interval", 0}, {"ckpt_interval", 0}}}};
  const fs::path path = dir / (sync_bn ? "sync.json" : "plain.json");
  std::ofstream(path) << c.dump(1);
  return path;
}

std::map<std::string, Tensor> weights_of(const fs::path& run) {
  const weights::Checkpoint ck = weights::load_checkpoint((run / "last").string());
  return std::map<std::string, Tensor>(ck.tensors.begin(), ck.tensors.end());
}

// The largest difference between two runs' tensors, relative to each tensor's largest magnitude.
std::pair<double, std::string> worst(const fs::path& a, const fs::path& b, bool running_stats_only = false) {
  const auto wa = weights_of(a), wb = weights_of(b);
  double most = 0;
  std::string name;
  for (const auto& [k, t] : wa) {
    if (running_stats_only && k.find("running_") == std::string::npos) continue;
    const Tensor x = t.to(DType::f64), y = wb.at(k).to(DType::f64);
    const double scale = std::max(ops::max(ops::abs(x)).item(), 1e-2);
    const double d = max_abs_diff(x, y) / scale;
    if (d > most) std::tie(most, name) = std::make_pair(d, k);
  }
  return {most, name};
}

size_t lines_in(const fs::path& file) {
  std::ifstream f(file);
  size_t n = 0;
  for (std::string line; std::getline(f, line);) ++n;
  return n;
}

std::vector<nlohmann::json> metrics(const fs::path& run) {
  std::vector<nlohmann::json> out;
  std::ifstream f(run / "metrics.jsonl");
  for (std::string line; std::getline(f, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// The acceptance test of issue 19: two ranks with batch 2 each and sync_bn
// reach one process's weights with batch 4 (every tensor, BatchNorm running
// statistics included) after 3 steps with momentum, to float32 rounding of
// a different reduction order (measured: 2.4e-7 of each tensor's scale;
// one process with 1 thread against the default count: 1.1e-7). The
// sharded validation sees all 3 images once. Without sync_bn the running
// statistics are each rank's own and differ by far more, which is what
// sync_bn is for.
TEST(Distributed, MpirunTwoRanksMatchOneProcessWithTheWholeBatch) {
  if (const std::string why = mpi_missing(); !why.empty()) GTEST_SKIP() << "skipped: " << why;
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_distributed_match_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path sync = write_config(dir, 3, true), plain = write_config(dir, 3, false);
  const Outcome one = shell(rtseg_train().string() + " " + sync.string() + " --out " + (dir / "one").string(),
                        dir / "one.log");
  ASSERT_EQ(one.status, 0) << one.err;
  const Outcome two = shell(mpi_prefix(2) + rtseg_train().string() + " " + sync.string() + " --out " +
                            (dir / "two").string(),
                        dir / "two.log");
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_NE(two.err.find("x 2 ranks (mpi)"), std::string::npos) << two.err;
  const auto [diff, where] = worst(dir / "one", dir / "two");
  EXPECT_LT(diff, 1e-5) << where;
  // Rank 0 alone logs and writes: one line per step, one validation over every image.
  const std::vector<nlohmann::json> lines = metrics(dir / "two");
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines.back()["type"], "val");
  EXPECT_NEAR(lines.back()["miou"].get<double>(), metrics(dir / "one").back()["miou"].get<double>(), 1e-6);
  EXPECT_NE(two.err.find("over 3 images"), std::string::npos) << two.err;
  size_t steps = 0;
  for (size_t at = two.err.find("step 1/3"); at != std::string::npos; at = two.err.find("step 1/3", at + 1)) ++steps;
  EXPECT_EQ(steps, 1u) << two.err;

  const Outcome unsynced = shell(mpi_prefix(2) + rtseg_train().string() + " " + plain.string() + " --out " +
                                 (dir / "plain").string(),
                             dir / "plain.log");
  ASSERT_EQ(unsynced.status, 0) << unsynced.err;
  EXPECT_GT(worst(dir / "one", dir / "plain", true).first, 1e-3);
  fs::remove_all(dir);
}

// A checkpoint holds the position in whole batches: 2 steps on two ranks,
// resumed in one process for 2 more, equal 4 steps in one process.
TEST(Distributed, MpirunRunResumesOnAnotherRankCount) {
  if (const std::string why = mpi_missing(); !why.empty()) GTEST_SKIP() << "skipped: " << why;
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_distributed_resume_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path config = write_config(dir, 4, true);
  const Outcome straight = shell(rtseg_train().string() + " " + config.string() + " --out " + (dir / "one").string(),
                             dir / "one.log");
  ASSERT_EQ(straight.status, 0) << straight.err;
  const Outcome first = shell(mpi_prefix(2) + rtseg_train().string() + " " + config.string() +
                              " --set train.iters=2 --out " + (dir / "two").string(),
                          dir / "two.log");
  ASSERT_EQ(first.status, 0) << first.err;
  const Outcome rest = shell(rtseg_train().string() + " " + config.string() + " --resume " + (dir / "two").string(),
                         dir / "rest.log");
  ASSERT_EQ(rest.status, 0) << rest.err;
  EXPECT_NE(rest.err.find("at step 2"), std::string::npos) << rest.err;
  const auto [diff, where] = worst(dir / "one", dir / "two");
  EXPECT_LT(diff, 1e-5) << where;
  fs::remove_all(dir);
}

// A rank whose C++ code throws (here rank 0, which alone writes, cannot
// create its output folder while rank 1 waits for it in a broadcast) ends
// every rank through MPI_Abort, with the rank's message.
TEST(Distributed, MpirunRankErrorAbortsTheRunWithItsMessage) {
  if (const std::string why = mpi_missing(); !why.empty()) GTEST_SKIP() << "skipped: " << why;
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_distributed_error_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path config = write_config(dir, 3, true);
  std::ofstream(dir / "a_file") << "not a folder";
  const auto start = std::chrono::steady_clock::now();
  const Outcome r = shell("timeout 120 " + mpi_prefix(2) + rtseg_train().string() + " " + config.string() + " --out " +
                          (dir / "a_file" / "run").string(),
                      dir / "log");
  EXPECT_NE(r.status, 0) << r.err;
  EXPECT_NE(r.status, 124) << "the run hung: " << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(100));
  EXPECT_NE(r.err.find("rank 0 of 2: rtseg_train: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("a_file"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

// The processes whose command line holds `marker`, other than mpirun.
std::vector<pid_t> ranks_with(const std::string& marker) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(entry.path() / "cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmd.find(marker) == std::string::npos) continue;
    const std::string argv0 = cmd.substr(0, cmd.find('\0'));
    if (fs::path(argv0).filename() == "rtseg_train") out.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return out;
}

// kill -9 of one rank mid-run ends the whole run with mpirun's message,
// rather than leaving the other rank waiting in a collective.
TEST(Distributed, MpirunKilledRankEndsTheRun) {
  if (const std::string why = mpi_missing(); !why.empty()) GTEST_SKIP() << "skipped: " << why;
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_distributed_kill_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path config = write_config(dir, 100000, true);
  const fs::path out = dir / "run_being_killed";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string command = "exec timeout 120 " + mpi_prefix(2) + rtseg_train().string() + " " +
                                config.string() + " --out " + out.string() + " >" + (dir / "log").string() + " 2>&1";
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for training to be under way (rank 0 has logged steps), then kill one rank.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (lines_in(out / "metrics.jsonl") < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_GE(lines_in(out / "metrics.jsonl"), 2u) << "training did not start";
  const std::vector<pid_t> ranks = ranks_with(out.string());
  ASSERT_EQ(ranks.size(), 2u);
  ASSERT_EQ(kill(ranks.back(), SIGKILL), 0);
  int raw = 0;
  ASSERT_EQ(waitpid(child, &raw, 0), child);
  ASSERT_TRUE(WIFEXITED(raw));
  EXPECT_NE(WEXITSTATUS(raw), 0);
  EXPECT_NE(WEXITSTATUS(raw), 124) << "the run hung until the timeout";
  std::ifstream f(dir / "log");
  std::stringstream log;
  log << f.rdbuf();
  EXPECT_NE(log.str().find("signal 9"), std::string::npos) << log.str();
  EXPECT_TRUE(ranks_with(out.string()).empty());
  fs::remove_all(dir);
}

// NCCL: two ranks on two GPUs match one GPU with the whole batch.
TEST(Distributed, NcclTwoGpusMatchOneGpu) {
  if (!CUDASEG_WITH_NCCL) GTEST_SKIP() << "skipped: this build has no NCCL (CUDASEG_CUDA=ON with nccl.h)";
  if (gpu::device_count() < 2)
    GTEST_SKIP() << "skipped: needs 2 CUDA devices, found " << gpu::device_count();
  if (const std::string why = mpi_missing(); !why.empty()) GTEST_SKIP() << "skipped: " << why;
  const fs::path dir = fs::temp_directory_path() / ("cudaseg_test_distributed_nccl_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path config = write_config(dir, 3, true);
  const Outcome one = shell(rtseg_train().string() + " " + config.string() + " --set train.device=cuda:0 --out " +
                            (dir / "one").string(),
                        dir / "one.log");
  ASSERT_EQ(one.status, 0) << one.err;
  const Outcome two = shell(mpi_prefix(2) + rtseg_train().string() + " " + config.string() +
                            " --set train.device=cuda --out " + (dir / "two").string(),
                        dir / "two.log");
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_NE(two.err.find("(mpi+nccl)"), std::string::npos) << two.err;
  EXPECT_LT(worst(dir / "one", dir / "two").first, 1e-5);
  // torchrun-style variables: NCCL bootstrapped over TCP, no MPI launcher.
  const std::string env = "MASTER_ADDR=127.0.0.1 MASTER_PORT=29531 WORLD_SIZE=2 ";
  const std::string cmd = rtseg_train().string() + " " + config.string() + " --set train.device=cuda --out " +
                          (dir / "torchrun").string();
  const Outcome torchrun = shell("(" + env + "RANK=1 LOCAL_RANK=1 " + cmd + " & " + env + "RANK=0 LOCAL_RANK=0 " + cmd +
                                 "; wait)",
                             dir / "torchrun.log");
  ASSERT_EQ(torchrun.status, 0) << torchrun.err;
  EXPECT_NE(torchrun.err.find("(nccl)"), std::string::npos) << torchrun.err;
  EXPECT_LT(worst(dir / "one", dir / "torchrun").first, 1e-5);
  fs::remove_all(dir);
}

}  // namespace
