#include "train/data_config.h"

#include <map>
#include <string>
#include <vector>

#include "train/datasets.h"
#include "train/synthetic.h"

namespace cudaseg::train {
namespace {

using schema::Type;

const std::map<std::string, int64_t> kFixedClasses = {{"cityscapes", 19}, {"camvid", 11}, {"voc", 21}, {"ade20k", 150}};

Json resolve_data(const Json& data) {
  std::string dataset = "synthetic";
  if (data.is_object() && data.contains("dataset")) {
    dataset = schema::resolve({data_schema(dataset).front()}, {{"dataset", data["dataset"]}}, "data")["dataset"];
  }
  const bool synthetic = dataset == "synthetic";
  const std::string only_files = "only for file datasets (this config uses synthetic)";
  const std::map<std::string, std::string> misplaced =
      synthetic ? std::map<std::string, std::string>{{"train_split", only_files}, {"val_split", only_files}}
                : std::map<std::string, std::string>{
                      {"image_size", "only for the synthetic dataset (" + dataset +
                                         " images keep their size; use augment.scale and crop)"}};
  for (const auto& [key, why] : misplaced) CUDASEG_CHECK(!data.is_object() || !data.contains(key), "data.", key, ": ", why);
  const Json out = schema::resolve(data_schema(dataset), data, "data");
  CUDASEG_CHECK(synthetic || !out["root"].get<std::string>().empty(), "data.root: the ", dataset,
                " dataset needs its folder");
  const auto fixed = kFixedClasses.find(dataset);
  CUDASEG_CHECK(fixed == kFixedClasses.end() || out["num_classes"] == fixed->second, "data.num_classes: ", dataset,
                " has ", fixed == kFixedClasses.end() ? 0 : fixed->second, " classes, got ", out["num_classes"].dump());
  return out;
}

Json resolve_augment(const Json& augment) {
  const Json out = schema::resolve(augment_schema(), augment, "augment");
  const Json& scale = out["scale"];
  CUDASEG_CHECK(scale[0].get<double>() > 0.0 && scale[0].get<double>() <= scale[1].get<double>(),
                "augment.scale: expected [min, max] with 0 < min <= max, got ", scale.dump());
  for (const auto& s : out["std"]) {
    CUDASEG_CHECK(s.get<double>() > 0.0, "augment.std: expected positive values, got ", out["std"].dump());
  }
  return out;
}

Size2 to_size(const Json& v) { return v.is_null() ? Size2{} : Size2{v[0].get<int64_t>(), v[1].get<int64_t>()}; }

std::array<float, 3> to_rgb(const Json& v) {
  return {v[0].get<float>(), v[1].get<float>(), v[2].get<float>()};
}

DatasetPtr open_split(const Json& d, bool validation) {
  const std::string dataset = d["dataset"].get<std::string>();
  const int64_t count = d[validation ? "val_size" : "train_size"].get<int64_t>();
  if (dataset == "synthetic") {
    SyntheticOptions o;
    o.num_classes = d["num_classes"].get<int64_t>();
    o.size = count;
    o.height = d["image_size"][0].get<int64_t>();
    o.width = d["image_size"][1].get<int64_t>();
    o.seed = d["seed"].get<uint64_t>();
    o.validation = validation;
    return std::make_shared<SyntheticDataset>(o);
  }
  DatasetPtr set = open_dataset(dataset, d["root"].get<std::string>(),
                                d[validation ? "val_split" : "train_split"].get<std::string>(),
                                d["num_classes"].get<int64_t>());
  if (count == 0) return set;
  CUDASEG_CHECK(count <= set->size(), "data.", validation ? "val_size" : "train_size", ": ", count,
                " samples asked, but the ", dataset, " split has ", set->size());
  return take_first(set, count);
}

}  // namespace

std::vector<schema::Key> data_schema(const std::string& dataset) {
  std::vector<Json> names{"synthetic"};
  for (const std::string& n : file_dataset_names()) names.push_back(n);
  const bool synthetic = dataset == "synthetic";
  std::vector<schema::Key> keys = {
      {"dataset", Type::string, "synthetic", "the built-in synthetic scenes or a dataset read from its folder", names},
      {"root", Type::string, "", "the dataset's folder (required except for synthetic)"}};
  if (synthetic) {
    keys.push_back({"num_classes", Type::integer, 19, "classes of the synthetic scenes", {}, 2, 255});
    keys.push_back({"train_size", Type::integer, 512, "training samples", {}, 1});
    keys.push_back({"val_size", Type::integer, 64, "validation samples", {}, 1});
    keys.push_back({"image_size", Type::size, Json::array({256, 512}), "scene size"});
  } else {
    const auto fixed = kFixedClasses.find(dataset);
    schema::Key classes{"num_classes", Type::integer, nullptr, "the class count (masks hold u8 ids)", {}, 1, 255};
    if (fixed != kFixedClasses.end()) {
      classes.default_value = fixed->second;
      classes.help = "the dataset's own class count";
    } else {
      classes.required = true;
      classes.help = "the class count (masks hold u8 ids; cityscapes, camvid, voc and ade20k have their own)";
    }
    keys.push_back(classes);
    keys.push_back({"train_size", Type::integer, 0, "the first n training files (0: every file)", {}, 0});
    keys.push_back({"val_size", Type::integer, 0, "the first n validation files (0: every file)", {}, 0});
    keys.push_back({"train_split", Type::string, "train", "training split"});
    keys.push_back({"val_split", Type::string, "val", "validation split"});
  }
  keys.push_back({"seed", Type::integer, 0, "synthetic scenes, shuffling and augmentation", {}, 0});
  keys.push_back({"workers", Type::integer, 2, "loader threads (0: the calling thread)", {}, 0, 64});
  keys.push_back({"drop_last", Type::boolean, true, "the train loader drops a final partial batch"});
  return keys;
}

std::vector<schema::Key> augment_schema() {
  const schema::Key size{"size", Type::size, nullptr, "", {}, std::nullopt, std::nullopt, -1, false, true};
  schema::Key student = size, teacher = size;
  student.name = "student";
  student.help = "the student's crop size";
  teacher.name = "teacher";
  teacher.help = "the teacher's crop size";
  return {
      {"scale", Type::numbers, Json::array({1.0, 1.0}), "random scale range [min, max]", {}, std::nullopt,
       std::nullopt, 2},
      {"crop", Type::size, nullptr,
       "random crop; needed when the scale varies and a batch has more than one image", {}, std::nullopt,
       std::nullopt, -1, true},
      {"flip", Type::boolean, true, "horizontal flip with probability 0.5"},
      schema::object_key("jitter", "colour jitter",
                         {{"brightness", Type::number, 0.0, "brightness factor range 1 +- x", {}, 0.0},
                          {"contrast", Type::number, 0.0, "contrast factor range 1 +- x", {}, 0.0},
                          {"saturation", Type::number, 0.0, "saturation factor range 1 +- x", {}, 0.0},
                          {"hue", Type::number, 0.0, "hue shift range +- x", {}, 0.0, 0.5},
                          {"p", Type::number, 1.0, "probability of jittering an image", {}, 0.0, 1.0}}),
      {"mean", Type::numbers, Json::array({0.485, 0.456, 0.406}), "normalisation mean (of x / 255)", {},
       std::nullopt, std::nullopt, 3},
      {"std", Type::numbers, Json::array({0.229, 0.224, 0.225}), "normalisation std (of x / 255), positive", {},
       std::nullopt, std::nullopt, 3},
      {"pad", Type::string, "mean", "the image fill where a crop exceeds the image", {"mean", "zero"}},
      schema::object_key("multi_resolution", "each crop also at both sizes, for distillation (train/augment.h)",
                         {student, teacher}, true),
      {"val_resize", Type::size, nullptr, "resize validation samples", {}, std::nullopt, std::nullopt, -1, true},
  };
}

Json resolve_data_config(const Json& data, const Json& augment) {
  return Json{{"data", resolve_data(data)}, {"augment", resolve_augment(augment)}};
}

namespace {

// Samples rank, rank + world, ... of a dataset.
class ShardDataset : public Dataset {
 public:
  ShardDataset(DatasetPtr base, int rank, int world) : base_(std::move(base)), rank_(rank), world_(world) {
    CUDASEG_CHECK(base_->size() >= world_, "data: the val set's ", base_->size(), " samples are fewer than the ",
                  world_, " ranks; every rank validates at least one");
  }
  int64_t size() const override { return (base_->size() - rank_ + world_ - 1) / world_; }
  Sample get(int64_t index) const override { return base_->get(index * world_ + rank_); }
  int64_t num_classes() const override { return base_->num_classes(); }
  int64_t ignore_index() const override { return base_->ignore_index(); }
  std::vector<std::string> class_names() const override { return base_->class_names(); }
  std::vector<std::array<uint8_t, 3>> palette() const override { return base_->palette(); }
  std::string name() const override { return base_->name(); }

 private:
  DatasetPtr base_;
  int64_t rank_, world_;
};

}  // namespace

DataSetup build_data(const Json& data, const Json& augment, int64_t train_batch_size, int64_t val_batch_size,
                     Shard shard) {
  CUDASEG_CHECK(train_batch_size >= 1 && val_batch_size >= 1, "build_data: batch sizes must be >= 1, got ",
                train_batch_size, " and ", val_batch_size);
  DataSetup setup;
  setup.effective = resolve_data_config(data, augment);
  const Json& d = setup.effective["data"];
  const Json& a = setup.effective["augment"];

  AugmentOptions o;
  o.scale_min = a["scale"][0].get<double>();
  o.scale_max = a["scale"][1].get<double>();
  o.crop = to_size(a["crop"]);
  CUDASEG_CHECK(!(o.scale_min < o.scale_max && o.crop.empty() && train_batch_size > 1),
                "augment.scale varies the image size; set augment.crop so that the ", train_batch_size,
                " images of a batch share one size");
  o.flip = a["flip"].get<bool>();
  const Json& j = a["jitter"];
  o.jitter = {j["brightness"].get<double>(), j["contrast"].get<double>(), j["saturation"].get<double>(),
              j["hue"].get<double>(), j["p"].get<double>()};
  o.mean = to_rgb(a["mean"]);
  o.std = to_rgb(a["std"]);
  o.pad_with_mean = a["pad"] == "mean";
  if (!a["multi_resolution"].is_null()) {
    o.student = to_size(a["multi_resolution"]["student"]);
    o.teacher = to_size(a["multi_resolution"]["teacher"]);
  }
  o.seed = d["seed"].get<uint64_t>();

  setup.train_set = open_split(d, false);
  setup.val_set = open_split(d, true);
  o.ignore_index = setup.train_set->ignore_index();
  setup.train_transform = std::make_shared<const TrainTransform>(o);
  setup.val_transform = std::make_shared<const ValTransform>(o.mean, o.std, to_size(a["val_resize"]));

  LoaderOptions lo;
  lo.batch_size = train_batch_size;
  lo.shuffle = true;
  lo.drop_last = d["drop_last"].get<bool>();
  lo.workers = static_cast<int>(d["workers"].get<int64_t>());
  lo.seed = o.seed;
  lo.rank = shard.rank;
  lo.world = shard.world;
  setup.train_loader = std::make_shared<Loader>(setup.train_set, setup.train_transform, lo);
  lo.batch_size = val_batch_size;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.rank = 0;
  lo.world = 1;
  const DatasetPtr val_part =
      shard.world > 1 ? std::make_shared<ShardDataset>(setup.val_set, shard.rank, shard.world) : setup.val_set;
  setup.val_loader = std::make_shared<Loader>(val_part, setup.val_transform, lo);
  return setup;
}

}  // namespace cudaseg::train
