// The training loop (fp32, CPU or CUDA). One resolved run config
// (train/config.h) describes the run; the trainer builds the net from the
// registry, the optimizer with its parameter groups, the schedule, the loss
// and the EMA, then steps:
//   lr/momentum from the schedule -> batch -> forward_train -> loss (every
//   term reported) -> backward -> (clip) -> update -> EMA
// with progress lines (loss terms, lr, images/s, ETA), validation every
// val_interval steps on the EMA weights (mIoU, best model kept as
// OUT/best.*), and a training checkpoint OUT/last.* every ckpt_interval steps
// holding the weights and TrainState (step, optimizer tensors, RNG state,
// loader position, EMA), so a run interrupted at step k and resumed reaches
// bit-identical weights at step n. A non-finite loss stops the run with an
// error naming the step and terms; a sample the loader cannot build (a
// malformed dataset) stops it with that error and the step; either way the
// last checkpoint is left intact and the message says so. Each logged step
// and validation is also appended to OUT/metrics.jsonl, and each validation
// redraws OUT/loss.png, OUT/miou.png and OUT/val_predictions.png
// (train/run_report.h).
// Every run() writes the effective config to OUT/config.json first.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "nets/module.h"
#include "train/config.h"
#include "train/ema.h"
#include "train/losses.h"
#include "train/optim.h"
#include "train/run_report.h"
#include "train/schedule.h"
#include "train/trainer_data.h"
#include "weights/checkpoint.h"

namespace cudaseg::train {

// The loaders of a run (train/data_config.h's build_data makes them from the
// config's data and augment sections). `val` may be null: no validation.
struct TrainData {
  std::shared_ptr<Loader> train;
  std::shared_ptr<Loader> val;
};

struct TrainResult {
  int64_t step = 0;          // steps completed
  double last_miou = -1;     // of the latest validation; -1 when none ran
  double best_miou = -1;
  int64_t best_step = -1;
};

class Trainer {
 public:
  // `config` is resolved by the constructor. The datasets' class count must
  // equal model.num_classes and the train loader's batch size train.batch_size.
  Trainer(const Json& config, std::string out_dir, TrainData data);
  ~Trainer();

  // Draws training batches from `source` instead of the train loader.
  void set_batch_source(std::unique_ptr<BatchSource> source);
  // Receives each progress and validation line (default: the log at info level).
  void set_log(std::function<void(const std::string&)> log);
  // When `*flag` turns true (e.g. from a SIGINT handler), run() finishes the
  // current step, writes OUT/last and returns.
  void set_stop_flag(const std::atomic<bool>* flag) { stop_flag_ = flag; }
  // Restores a training checkpoint: a path to NAME(.json|.bin) or a folder holding last.json.
  void resume(const std::string& path);

  // Trains until train.iters steps, or stops after step `stop_at` (> 0) or
  // when the stop flag is raised, with a checkpoint; returns where it stopped.
  TrainResult run(int64_t stop_at = -1);

  nn::Module& net() { return *net_; }
  SegLoss& loss() { return *loss_; }
  const Json& config() const { return config_; }
  int64_t step() const { return step_; }
  weights::Preprocess preprocess() const;

 private:
  void save_last() const;
  void save_best(double miou) const;
  double validate();
  void write_predictions(nn::Module& net) const;
  void log_progress(const LossResult& loss, double lr, double seconds, int64_t done_this_run);

  Json config_;
  std::string out_dir_;
  TrainData data_;
  TrainConfig tc_;
  Device device_;
  nn::ModulePtr net_, eval_net_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<LrSchedule> schedule_;
  std::unique_ptr<SegLoss> loss_;
  std::unique_ptr<ModelEma> ema_;
  std::unique_ptr<BatchSource> batches_;
  std::unique_ptr<RunReport> report_;
  std::function<void(const std::string&)> log_;
  const std::atomic<bool>* stop_flag_ = nullptr;
  int64_t step_ = 0;
  TrainResult result_;
};

}  // namespace cudaseg::train
