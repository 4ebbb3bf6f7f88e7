// The run config: one JSON object with the sections model, data, augment,
// optimizer, schedule, loss, ema, val and train. Loading validates every key
// against the schema (runtime/json_schema.h: an unknown section or key, or a
// value of the wrong type or out of range, is an error naming the key, what
// is accepted and the nearest accepted key), fills the defaults, and resolves
// `model` through the net registry. `--set a.b=value`
// overrides take JSON-typed values ("0.1" a number, "[1,2]" an array, true a
// bool); a value that is not JSON is taken as a string (`--set
// optimizer.type=adamw`). The effective config is written into every run's
// output folder.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/json_schema.h"
#include "train/ema.h"
#include "train/losses.h"
#include "train/optim.h"
#include "train/schedule.h"

namespace cudaseg::train {

using Json = nlohmann::json;

// The config's schema: one object key per section, in order, with its keys
// and defaults. `model`, `data` and `augment` are of type any here: the net
// registry and train/data_config.h validate them.
const std::vector<schema::Key>& config_sections();
// The sections and keys with types, defaults and help, for `--help`.
std::string config_help();

// Applies one "a.b=value" assignment to `config`.
void apply_override(Json& config, const std::string& assignment);
// Validates and returns the config with every default filled in.
Json resolve_config(const Json& config);
// Reads the JSON file, applies the overrides in order, resolves.
Json load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// Writes the config as indented JSON, atomically.
void save_config(const std::string& path, const Json& config);

// Typed views of a resolved config.
OptimizerConfig optimizer_config(const Json& config);
ScheduleConfig schedule_config(const Json& config);  // total_iters = train.iters (resolve_run_length first)
LossConfig loss_config(const Json& config);
EmaConfig ema_config(const Json& config);

struct ValConfig {
  std::string mode = "whole";       // whole | slide
  std::vector<int64_t> crop_size;   // slide: [h, w]
  std::vector<int64_t> stride;      // slide: [h, w]
};
ValConfig val_config(const Json& config);

struct TrainConfig {
  std::string device = "cpu";
  int64_t iters = 200;  // 0 while epochs > 0, until resolve_run_length
  int64_t epochs = 0;  // > 0: resolve_run_length turns it into iters
  int64_t batch_size = 4;  // per step over all ranks; each of N data-parallel ranks takes batch_size / N
  std::string precision = "fp32";  // fp32 | fp16 | bf16
  bool tf32 = false;               // CUDA: TF32 maths in float32 products and convolutions
  bool sync_bn = false;            // data-parallel: BatchNorm statistics over all ranks
  int64_t ddp_bucket_mb = 25;      // data-parallel: gradient bucket size
  uint64_t seed = 1;
  std::string backbone_weights;  // weights/backbone_weights.h; empty: random init
  int64_t log_interval = 10;
  int64_t val_interval = 100;   // 0: only at the end
  int64_t ckpt_interval = 100;  // 0: only at the end
  std::string out;              // empty: the caller's default folder
};
TrainConfig train_config(const Json& config);

// The run length in steps is train.iters, or with train.epochs > 0 epochs *
// batches_per_epoch (the train loader's, which counts a final partial batch
// only without drop_last). Returns the config with that length as
// train.iters and train.epochs 0, so everything that reads iters (schedule,
// EMA ramp, progress, intervals) sees it and the saved config shows it and
// reloads as the same run.
Json resolve_run_length(const Json& config, int64_t batches_per_epoch);

}  // namespace cudaseg::train
