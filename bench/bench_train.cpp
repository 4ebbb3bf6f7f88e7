// bench_train: images/s of one training step (forward_train, CE loss on the
// main and aux outputs with labels resized to each, backward, SGD momentum
// update) of a registered net on random data, float32. The default is
// STDC1 (zh320's STDC, 19 classes, aux heads) at 4x3x256x512 on the CPU.
// tools/bench_train_torch.py times the same step with the upstream PyTorch
// model, tools/bench_train_peers.py runs both in interleaved rounds, and
// docs/benchmarks.md records them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/engine.h"
#include "nn/registry.h"
#include "nn/segnet.h"
#include "runtime/rng.h"
#include "runtime/thread_pool.h"
#include "train/config.h"
#include "train/losses.h"
#include "train/optim.h"

using namespace cudaseg;

namespace {

void usage(FILE* f) {
  std::fprintf(f,
               "usage: bench_train [--model JSON] [--batch N] [--size HxW] [--iters N] [--warmup N]\n"
               "                   [--threads N]\n\n"
               "Times one SGD training step (CE on main + aux outputs) on the CPU.\n"
               "defaults: --model '{\"name\":\"stdc\",\"encoder_type\":\"stdc1\",\"num_classes\":19,\"use_aux\":true}'\n"
               "          --batch 4 --size 256x512 --iters 3 --warmup 1, --threads: CUDASEG_NUM_THREADS or the cores\n");
}

}  // namespace

int main(int argc, char** argv) {
  nlohmann::json model = {{"name", "stdc"}, {"encoder_type", "stdc1"}, {"num_classes", 19}, {"use_aux", true}};
  int64_t batch = 4, h = 256, w = 512;
  int iters = 3, warmup = 1, threads = 0;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "-h" || a == "--help") {
        usage(stdout);
        return 0;
      } else if (a == "--model") {
        model = nlohmann::json::parse(value());
      } else if (a == "--batch") {
        batch = std::stoll(value());
      } else if (a == "--size") {
        const std::string s = value();
        const size_t x = s.find('x');
        if (x == std::string::npos) throw std::invalid_argument("--size expects HxW");
        h = std::stoll(s.substr(0, x));
        w = std::stoll(s.substr(x + 1));
      } else if (a == "--iters") {
        iters = std::stoi(value());
      } else if (a == "--warmup") {
        warmup = std::stoi(value());
      } else if (a == "--threads") {
        threads = std::stoi(value());
        if (threads < 1) throw std::invalid_argument("--threads must be positive");
      } else {
        throw std::invalid_argument("unknown option '" + a + "'");
      }
    }
    if (batch < 1 || h < 1 || w < 1 || iters < 1 || warmup < 0) throw std::invalid_argument("sizes must be positive");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s (see --help)\n", e.what());
    return 2;
  }
  try {
    if (threads > 0) set_num_threads(threads);
    const int64_t classes = model.at("num_classes").get<int64_t>();
    const nn::SegNetPtr net = nn::create_net(model);
    net->train();
    train::Json run = {{"model", model},
                       {"optimizer", {{"type", "sgd"}, {"lr", 0.01}, {"momentum", 0.9}, {"weight_decay", 5e-4}}},
                       {"loss", {{"type", "ce"}}}};
    run = train::resolve_config(run);
    const train::OptimizerConfig oc = train::optimizer_config(run);
    train::Optimizer optimizer(train::make_param_groups(*net, oc), oc);
    const train::SegLoss loss(train::loss_config(run), classes);
    Generator gen(7);
    const Tensor images = gen.normal({batch, 3, h, w});
    const Tensor labels = gen.uniform({batch, h, w}, 0, static_cast<double>(classes), DType::f64).to(DType::i64);
    auto step = [&] {
      const std::vector<Tensor> out = net->forward_train(images);
      const train::LossResult l = loss(out, labels);
      optimizer.zero_grad();
      autograd::backward(l.total);
      optimizer.step();
      return l.total.item();
    };
    for (int i = 0; i < warmup; ++i) step();
    std::vector<double> seconds;
    double last = 0;
    for (int i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      last = step();
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(seconds.begin(), seconds.end());
    const double median = seconds[seconds.size() / 2];
    std::printf("{\"impl\": \"cudaseg\", \"model\": %s, \"batch\": %lld, \"size\": [%lld, %lld], "
                "\"threads\": %d, \"step_s\": %.4f, \"min_step_s\": %.4f, \"images_per_s\": %.3f, "
                "\"loss\": %.4f}\n",
                model.dump().c_str(), static_cast<long long>(batch), static_cast<long long>(h),
                static_cast<long long>(w), num_threads(), median, seconds.front(), static_cast<double>(batch) / median,
                last);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
}
