// The `data` and `augment` objects of a run config, turned into datasets,
// transforms and loaders. Either object may be null or {} (all defaults). An
// unknown key, a wrong type or a value out of range is a cudaseg::Error naming
// the key and what it accepts; the keys, their defaults and help are
// data_schema and augment_schema below. The effective config (every default
// filled in) is returned so it can be logged and stored with checkpoints.
#pragma once

#include <cstdint>
#include <memory>

#include <nlohmann/json.hpp>

#include "runtime/json_schema.h"
#include "train/augment.h"
#include "train/dataset.h"
#include "train/loader.h"

namespace cudaseg::train {

using Json = nlohmann::json;

struct DataSetup {
  DatasetPtr train_set;
  DatasetPtr val_set;
  std::shared_ptr<const TrainTransform> train_transform;
  std::shared_ptr<const ValTransform> val_transform;
  std::shared_ptr<Loader> train_loader;  // shuffled, drop_last as configured
  std::shared_ptr<Loader> val_loader;    // in order, every sample
  Json effective;                        // {"data": {...}, "augment": {...}}
};

// The keys of `data` for a dataset ("synthetic" or a file dataset's name),
// and of `augment` (runtime/json_schema.h; rtseg_train --help prints them).
std::vector<schema::Key> data_schema(const std::string& dataset);
std::vector<schema::Key> augment_schema();

// Validates both objects without touching the filesystem and returns
// {"data": ..., "augment": ...} with every default filled in.
Json resolve_data_config(const Json& data, const Json& augment);

// This process's part of a data-parallel run (train/dist.h).
struct Shard {
  int rank = 0;
  int world = 1;
};

// Resolves, opens the datasets and builds both loaders. With world > 1 the
// train loader serves rank's share of every batch (train_batch_size is per
// rank; train/loader.h), and the val loader samples rank, rank + world, ...
// of the val set, so the ranks' confusion matrices sum to one process's.
DataSetup build_data(const Json& data, const Json& augment, int64_t train_batch_size, int64_t val_batch_size = 1,
                     Shard shard = {});

}  // namespace cudaseg::train
