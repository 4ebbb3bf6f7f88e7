// The `data` and `augment` objects of a run config, turned into datasets,
// transforms and loaders. Either object may be null or {} (all defaults). An
// unknown key, a wrong type or a value out of range is a cudaseg::Error naming
// the key and what it accepts; the effective config (every default filled in)
// is returned so it can be logged and stored with checkpoints.
//
// "data" keys (defaults):
//   dataset      "synthetic" | "cityscapes" | "camvid" | "voc" | "ade20k" | "folder"
//   root         "" (the dataset folder; required except for synthetic)
//   num_classes  19 for synthetic; the dataset's own count otherwise (required for folder)
//   train_size   512 for synthetic, else 0 = every file (n > 0 takes the first n)
//   val_size     64 for synthetic, else 0 = every file
//   image_size   [256, 512] (synthetic only: [height, width])
//   train_split  "train", val_split "val" (file datasets only)
//   seed         0 (synthetic scenes, shuffling and augmentation)
//   workers      2 (loader threads; 0 loads in the calling thread)
//   drop_last    true (train loader; the val loader keeps every sample)
// "augment" keys (defaults):
//   scale        [1.0, 1.0] random scale range
//   crop         null or [height, width]; needed when the scale varies and a
//                batch has more than one image
//   flip         true (horizontal, probability 0.5)
//   jitter       {"brightness": 0, "contrast": 0, "saturation": 0, "hue": 0, "p": 1}
//   mean, std    [0.485, 0.456, 0.406], [0.229, 0.224, 0.225] (of x / 255)
//   pad          "mean" | "zero": the image fill where a crop exceeds the image
//   multi_resolution  null or {"student": [h, w], "teacher": [h, w]}: each
//                crop also at both sizes, for distillation (train/augment.h)
//   val_resize   null or [height, width]: resize validation samples
#pragma once

#include <cstdint>
#include <memory>

#include <nlohmann/json.hpp>

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

// Validates both objects without touching the filesystem and returns
// {"data": ..., "augment": ...} with every default filled in.
Json resolve_data_config(const Json& data, const Json& augment);

// Resolves, opens the datasets and builds both loaders.
DataSetup build_data(const Json& data, const Json& augment, int64_t train_batch_size, int64_t val_batch_size = 1);

}  // namespace cudaseg::train
