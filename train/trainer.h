// The training loop (CPU or CUDA; fp32, or mixed fp16/bf16 on CUDA). One
// resolved run config (train/config.h) describes the run; its length is
// train.iters or train.epochs of the train loader (resolve_run_length). The
// trainer builds the net from the registry, the optimizer with its parameter
// groups, the schedule, the loss and the EMA, then steps:
//   lr/momentum from the schedule -> batch -> forward_train -> loss (every
//   term reported) -> backward -> (clip) -> update -> EMA
// Mixed precision: the net's float32 parameters stay the optimizer's master
// weights; the image is cast to the 16-bit dtype and the forward runs under
// nn::MixedPrecisionGuard (layers cast their parameters per use, norm layers
// and their running statistics stay float32); the outputs are cast back to
// float32 before the losses. fp16 scales the loss (train/grad_scaler.h): an
// overflowing step is skipped and logged, not fatal, and the scale is saved
// in the checkpoint. Validation runs in float32.
// with progress lines (loss terms, lr, images/s, ETA), validation every
// val_interval steps on the EMA weights (mIoU, best model kept as
// OUT/best.*), and a training checkpoint OUT/last.* every ckpt_interval steps
// holding the weights and TrainState (step, optimizer tensors, RNG state,
// loader position, EMA), so a run interrupted at step k and resumed reaches
// bit-identical weights at step n. A non-finite loss stops the run with an
// error naming the step and terms; a sample the loader cannot build (a
// malformed dataset) stops it with that error and the step. Any failure
// after steps were trained since the last checkpoint (a bad sample, a
// validation error, a full disk for the plots) first saves them as OUT/last
// and says how to resume; only a diverged loss or an update half applied
// leaves the last checkpoint as it was, and the message says so. Each logged step
// and validation is also appended to OUT/metrics.jsonl and logged for
// TensorBoard under OUT/tb/, and each validation redraws OUT/loss.png,
// OUT/miou.png, OUT/iou.png, OUT/val_predictions.png and OUT/report.html
// (train/run_report.h).
// Every run() writes the effective config to OUT/config.json first.
// Data parallel (train/dist.h's world() with several ranks): each rank
// draws its share of every batch (train.batch_size is the batch over all
// ranks), the gradients are averaged over the ranks in buckets during the
// backward (train/ddp.h), so every rank makes the same update; with
// train.sync_bn BatchNorm normalises over all ranks' batches
// (nn/sync_batch_norm.h). The ranks agree on a non-finite loss and on fp16
// overflows; validation is sharded and its confusion matrices summed; rank 0
// alone writes files and logs. Checkpoints hold the position in whole
// batches, so a run resumes on any number of ranks that divides the batch.
// With a `distill` section (train/distill.h) the teacher is loaded and checked
// and the pairs resolved in the constructor, before any step; each step then
// adds the objectives' terms, the adapters train with the net and are saved
// in OUT/last's training state (not in the exported weights).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"
#include "train/config.h"
#include "train/dist.h"
#include "train/distill.h"
#include "train/ema.h"
#include "train/grad_scaler.h"
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

class GradReducer;

struct TrainResult {
  int64_t step = 0;          // steps completed
  double last_miou = -1;     // of the latest validation; -1 when none ran
  double best_miou = -1;
  int64_t best_step = -1;
};

// What a progress callback learns after each step (Trainer::set_progress).
struct StepProgress {
  int64_t step = 0;   // steps completed
  int64_t iters = 0;  // the run length
  double loss = 0;
  std::vector<std::pair<std::string, double>> terms;  // every loss term, as metrics.jsonl names them
  double lr = 0;
  double seconds = 0;           // since run() started
  std::optional<double> miou;   // when this step validated
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
  // Called after every step, its validation included, and before the stop
  // flag is read, so a callback that raises the flag stops the run after this
  // step with a checkpoint. An exception it throws fails the run as any error
  // does (the steps trained are saved to OUT/last first).
  void set_progress(std::function<void(const StepProgress&)> progress) { progress_ = std::move(progress); }
  // Restores a training checkpoint: a path to NAME(.json|.bin) or a folder holding last.json.
  void resume(const std::string& path);

  // Trains until train.iters steps (the resolved run length), or stops after step `stop_at` (> 0) or
  // when the stop flag is raised, with a checkpoint; returns where it stopped.
  TrainResult run(int64_t stop_at = -1);

  nn::SegNet& net() { return *net_; }
  // The distillation state (train/distill.h); null without a distill section.
  Distiller* distiller() { return distill_.get(); }
  SegLoss& loss() { return *loss_; }
  // The resolved config (train.iters is the run length in steps).
  const Json& config() const { return config_; }
  int64_t step() const { return step_; }
  // The fp16 loss scaler; null for fp32 and bf16.
  const GradScaler* scaler() const { return scaler_.get(); }
  weights::Preprocess preprocess() const;

 private:
  void save_last() const;
  // resume()'s work once the checkpoint is loaded and checked.
  void restore(const weights::Checkpoint& ck, const std::string& where);
  // The steps of run(); `saved` follows the step `last` holds, `keepable`
  // whether the state is whole (no update half applied, no diverged loss).
  void train_loop(int64_t end, int64_t first, std::chrono::steady_clock::time_point start, int64_t& saved,
                  bool& keepable);
  void save_best(double miou) const;
  double validate();
  void write_predictions(nn::Module& net) const;
  void log_progress(const LossResult& loss, double lr, double seconds, int64_t done_this_run);
  // forward_train on the batch, in the run's precision; float32 outputs.
  std::vector<Tensor> forward(const Tensor& images);
  // backward and the optimizer update (through the scaler for fp16); false
  // when an fp16 overflow skipped the update.
  bool backward_and_update(const Tensor& loss);
  // Rank 0 writes the run's files; every rank computes.
  bool writes_files() const { return comm_->rank() == 0; }

  Json config_;
  std::string out_dir_;
  TrainData data_;
  TrainConfig tc_;
  Device device_;
  DType compute_dtype_;
  nn::SegNetPtr net_, eval_net_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<LrSchedule> schedule_;
  std::unique_ptr<SegLoss> loss_;
  std::unique_ptr<Distiller> distill_;
  std::unique_ptr<ModelEma> ema_;
  std::unique_ptr<GradScaler> scaler_;
  std::unique_ptr<BatchSource> batches_;
  dist::Communicator* comm_;
  std::unique_ptr<GradReducer> reducer_;  // data-parallel runs only
  std::unique_ptr<RunReport> report_;
  std::function<void(const std::string&)> log_;
  const std::atomic<bool>* stop_flag_ = nullptr;
  std::function<void(const StepProgress&)> progress_;
  int64_t step_ = 0;
  TrainResult result_;
};

}  // namespace cudaseg::train
