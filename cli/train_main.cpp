#include "cli/train_main.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/args.h"
#include "runtime/error.h"
#include "train/config.h"
#include "train/data_config.h"
#include "train/dist.h"
#include "train/trainer.h"

namespace cudaseg::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: rtseg_train CONFIG.json [--set KEY=VALUE ...] [--resume DIR|CKPT] [--out DIR]\n"
    "\n"
    "Trains a segmentation net as CONFIG.json describes (nets/*.json hold one per net).\n"
    "\n"
    "options:\n"
    "  --set KEY=VALUE   override a config value; VALUE is JSON (0.1, true, [64,64]) or\n"
    "                    else a string: --set optimizer.type=adamw --set train.iters=500\n"
    "  --resume PATH     continue exactly from a run folder (its last.json) or a\n"
    "                    training checkpoint; the config must describe the same model\n"
    "  --out DIR         output folder; the first that applies: --out, the folder\n"
    "                    --resume names (or holds its checkpoint), train.out,\n"
    "                    runs/<config name>\n"
    "  -h, --help        this text\n"
    "\n"
    "The folder receives config.json (the effective config), last.json/.bin (the\n"
    "training checkpoint), best.json/.bin (the best validated weights),\n"
    "metrics.jsonl (one JSON line per logged step, with loss_scale in fp16 runs, and\n"
    "per validation), loss.png and miou.png (the curves), iou.png (IoU per class),\n"
    "val_predictions.png (image | label | prediction), report.html (all of them on\n"
    "one page, with the per-class table and the config) and tb/ (TensorBoard event\n"
    "files: tensorboard --logdir DIR).\n"
    "Ctrl-C stops after the current step with a checkpoint.\n"
    "Data parallel: mpirun -np N rtseg_train CONFIG.json, or torchrun-style RANK,\n"
    "WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT for GPUs (docs/training.md);\n"
    "train.batch_size is then the batch over all ranks.\n"
    "\n"
    "config sections and keys:\n";

struct Args {
  std::string config;
  std::vector<std::string> sets;
  std::string resume;
  std::string out;
};

Args parse(int argc, const char* const* argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) {
      if (i + 1 >= argc) throw UsageError{std::string(name) + " needs a value"};
      return std::string(argv[++i]);
    };
    if (arg == "--set") {
      a.sets.push_back(value("--set"));
    } else if (arg == "--resume") {
      a.resume = value("--resume");
    } else if (arg == "--out") {
      a.out = value("--out");
    } else if (!arg.empty() && arg[0] == '-') {
      throw UsageError{"unknown option '" + arg + "'"};
    } else if (a.config.empty()) {
      a.config = arg;
    } else {
      throw UsageError{"unexpected argument '" + arg + "' (one CONFIG.json)"};
    }
  }
  if (a.config.empty()) throw UsageError{"missing CONFIG.json"};
  return a;
}

std::string out_dir(const Args& a, const train::Json& config) {
  if (!a.out.empty()) return a.out;
  if (!a.resume.empty()) {
    return fs::is_directory(a.resume) ? a.resume : fs::path(a.resume).parent_path().string();
  }
  const std::string configured = train::train_config(config).out;
  if (!configured.empty()) return configured;
  return (fs::path("runs") / fs::path(a.config).stem()).string();
}

// One process's run: the whole run, or one rank's part of a data-parallel one.
int train_process(const Args& args, const train::Json& config, std::ostream& out, std::ostream& err,
                  const std::atomic<bool>* stop) {
  const train::dist::Communicator& comm = train::dist::world();
  const int64_t batch = config["train"]["batch_size"].get<int64_t>();
  CUDASEG_CHECK(batch % comm.world() == 0, "train.batch_size ", batch, " does not split over ", comm.world(),
                " ranks; make it a multiple of the rank count");
  const train::DataSetup data =
      train::build_data(config["data"], config["augment"], batch / comm.world(), 1, {comm.rank(), comm.world()});
  const std::string dir = out_dir(args, config);
  train::Trainer trainer(config, dir, {data.train_loader, data.val_loader});
  trainer.set_log([&](const std::string& line) { err << line << "\n" << std::flush; });
  trainer.set_stop_flag(stop);
  if (!args.resume.empty()) trainer.resume(args.resume);
  const train::TrainConfig tc = train::train_config(trainer.config());
  if (comm.rank() != 0) {
    trainer.run();
    return 0;
  }
  err << "training " << config["model"].dump() << " on " << data.train_set->name() << " ("
      << data.train_set->size() << " images) for " << tc.iters << " steps";
  const int64_t epochs = config["train"]["epochs"].get<int64_t>();
  if (epochs > 0) err << " (" << epochs << " epochs)";
  err << " on " << tc.device;
  if (comm.world() > 1) err << " x " << comm.world() << " ranks (" << comm.backend() << ")";
  err << " in " << tc.precision << "; output " << dir << "\n";
  const train::TrainResult r = trainer.run();
  char line[256];
  if (r.best_step >= 0) {
    std::snprintf(line, sizeof line, "step %lld: best mIoU %.2f%% at step %lld", static_cast<long long>(r.step),
                  100.0 * r.best_miou, static_cast<long long>(r.best_step));
  } else {
    std::snprintf(line, sizeof line, "step %lld (no validation ran)", static_cast<long long>(r.step));
  }
  // A resumed run may keep its best step from a folder that has no best.json.
  const fs::path best = fs::path(dir) / "best.json";
  out << line << "; weights " << (r.best_step >= 0 && fs::exists(best) ? best : fs::path(dir) / "last.json").string()
      << "\n";
  return 0;
}

}  // namespace

int train_main(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
               const std::atomic<bool>* stop) {
  return run_tool("rtseg_train", std::string(kUsage) + train::config_help(), argc, argv, out, err, parse,
                  [&](const Args& args) {
    train::Json config = train::load_config(args.config, args.sets);
    const std::string device = config["train"]["device"].get<std::string>();
    train::dist::Communicator& comm = train::dist::init_from_environment(device);
    if (comm.world() == 1) return train_process(args, config, out, err, stop);
    // A rank's error must end its peers too, or they wait in a collective for ever.
    try {
      config["train"]["device"] = train::dist::rank_device(device);
      const int code = train_process(args, config, out, err, stop);
      train::dist::shutdown();
      return code;
    } catch (const std::exception& e) {
      comm.abort(std::string("rtseg_train: ") + e.what());
    }
                  });
}

}  // namespace cudaseg::cli
