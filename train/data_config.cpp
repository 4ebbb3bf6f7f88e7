#include "train/data_config.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "train/datasets.h"
#include "train/synthetic.h"

namespace cudaseg::train {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Reads the keys of one config object, each at most once, with errors that
// name the key ("data.workers") and what it accepts.
class Keys {
 public:
  Keys(const Json& object, std::string name) : name_(std::move(name)) {
    if (object.is_null()) return;
    CUDASEG_CHECK(object.is_object(), name_, ": expected a JSON object, got ", object.dump());
    object_ = object;
  }

  std::string where(const std::string& key) const { return name_ + "." + key; }
  bool has(const std::string& key) const { return object_.contains(key); }

  const Json* get(const std::string& key) {
    used_.insert(key);
    const auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  std::string string(const std::string& key, const std::string& fallback, const std::vector<std::string>& choices = {}) {
    const Json* v = get(key);
    if (!v) return fallback;
    const bool ok = v->is_string() && (choices.empty() || std::count(choices.begin(), choices.end(), v->get<std::string>()));
    CUDASEG_CHECK(ok, where(key), ": expected ", choices.empty() ? "a string" : "one of " + join(choices), ", got ",
                  v->dump());
    return v->get<std::string>();
  }

  int64_t integer(const std::string& key, int64_t fallback, int64_t min) {
    const Json* v = get(key);
    if (!v) return fallback;
    CUDASEG_CHECK(v->is_number_integer() && v->get<int64_t>() >= min, where(key), ": expected an integer >= ", min,
                  ", got ", v->dump());
    return v->get<int64_t>();
  }

  bool boolean(const std::string& key, bool fallback) {
    const Json* v = get(key);
    if (!v) return fallback;
    CUDASEG_CHECK(v->is_boolean(), where(key), ": expected true or false, got ", v->dump());
    return v->get<bool>();
  }

  double number(const std::string& key, double fallback, double min, double max) {
    const Json* v = get(key);
    if (!v) return fallback;
    CUDASEG_CHECK(v->is_number() && v->get<double>() >= min && v->get<double>() <= max, where(key),
                  ": expected a number in [", min, ", ", max, "], got ", v->dump());
    return v->get<double>();
  }

  // A list of `n` numbers, or of positive integers when `integers`.
  std::vector<double> numbers(const std::string& key, std::vector<double> fallback, size_t n, bool integers) {
    const Json* v = get(key);
    if (!v) return fallback;
    bool ok = v->is_array() && v->size() == n;
    for (size_t i = 0; ok && i < n; ++i)
      ok = integers ? (*v)[i].is_number_integer() && (*v)[i].get<int64_t>() > 0 : (*v)[i].is_number();
    CUDASEG_CHECK(ok, where(key), ": expected ", integers ? "[height, width] (positive integers)"
                                                          : "a list of " + std::to_string(n) + " numbers",
                  ", got ", v->dump());
    return v->get<std::vector<double>>();
  }

  // Rejects keys never read; `accepted` lists the keys valid here.
  void finish(const std::vector<std::string>& accepted, const std::map<std::string, std::string>& misplaced = {}) {
    for (const auto& item : object_.items()) {
      if (used_.count(item.key())) continue;
      const auto m = misplaced.find(item.key());
      if (m != misplaced.end()) CUDASEG_FAIL(where(item.key()), ": ", m->second);
      CUDASEG_FAIL(name_, ": unknown key '", item.key(), "'; accepted: ", join(accepted));
    }
  }

 private:
  Json object_ = Json::object();
  std::string name_;
  std::set<std::string> used_;
};

const std::map<std::string, int64_t> kFixedClasses = {{"cityscapes", 19}, {"camvid", 11}, {"voc", 21}, {"ade20k", 150}};

Json resolve_data(const Json& data) {
  Keys keys(data, "data");
  std::vector<std::string> names{"synthetic"};
  for (const std::string& n : file_dataset_names()) names.push_back(n);
  const std::string dataset = keys.string("dataset", "synthetic", names);
  const bool synthetic = dataset == "synthetic";
  Json out;
  out["dataset"] = dataset;
  out["root"] = keys.string("root", "");
  CUDASEG_CHECK(synthetic || !out["root"].get<std::string>().empty(), keys.where("root"),
                ": the ", dataset, " dataset needs its folder");
  if (synthetic) {
    out["num_classes"] = keys.integer("num_classes", 19, 2);
    CUDASEG_CHECK(out["num_classes"].get<int64_t>() <= 255, keys.where("num_classes"),
                  ": the synthetic dataset has at most 255 classes");
    out["train_size"] = keys.integer("train_size", 512, 1);
    out["val_size"] = keys.integer("val_size", 64, 1);
    const std::vector<double> size = keys.numbers("image_size", {256, 512}, 2, true);
    out["image_size"] = {static_cast<int64_t>(size[0]), static_cast<int64_t>(size[1])};
  } else {
    const auto fixed = kFixedClasses.find(dataset);
    if (fixed != kFixedClasses.end()) {
      const int64_t n = keys.integer("num_classes", fixed->second, 1);
      CUDASEG_CHECK(n == fixed->second, keys.where("num_classes"), ": ", dataset, " has ", fixed->second,
                    " classes, got ", n);
      out["num_classes"] = n;
    } else {
      CUDASEG_CHECK(keys.has("num_classes"), keys.where("num_classes"), ": required for the folder dataset");
      out["num_classes"] = keys.integer("num_classes", 0, 1);
      CUDASEG_CHECK(out["num_classes"].get<int64_t>() <= 255, keys.where("num_classes"),
                    ": masks hold u8 ids, so at most 255 classes");
    }
    out["train_size"] = keys.integer("train_size", 0, 0);
    out["val_size"] = keys.integer("val_size", 0, 0);
    out["train_split"] = keys.string("train_split", "train");
    out["val_split"] = keys.string("val_split", "val");
  }
  out["seed"] = keys.integer("seed", 0, 0);
  out["workers"] = keys.integer("workers", 2, 0);
  CUDASEG_CHECK(out["workers"].get<int64_t>() <= 64, keys.where("workers"), ": expected at most 64 threads");
  out["drop_last"] = keys.boolean("drop_last", true);
  std::vector<std::string> accepted{"dataset", "root", "num_classes", "train_size", "val_size"};
  if (synthetic) accepted.push_back("image_size");
  else accepted.insert(accepted.end(), {"train_split", "val_split"});
  accepted.insert(accepted.end(), {"seed", "workers", "drop_last"});
  const std::string only_files = "only for file datasets (this config uses synthetic)";
  keys.finish(accepted, synthetic ? std::map<std::string, std::string>{{"train_split", only_files},
                                                                       {"val_split", only_files}}
                                  : std::map<std::string, std::string>{
                                        {"image_size", "only for the synthetic dataset (" + dataset +
                                                           " images keep their size; use augment.scale and crop)"}});
  return out;
}

Json size_or_null(Keys& keys, const std::string& key) {
  const Json* v = keys.get(key);
  if (!v || v->is_null()) return nullptr;
  const std::vector<double> size = keys.numbers(key, {}, 2, true);
  return Json{static_cast<int64_t>(size[0]), static_cast<int64_t>(size[1])};
}

Json resolve_augment(const Json& augment) {
  Keys keys(augment, "augment");
  Json out;
  const std::vector<double> scale = keys.numbers("scale", {1.0, 1.0}, 2, false);
  CUDASEG_CHECK(scale[0] > 0.0 && scale[0] <= scale[1], keys.where("scale"),
                ": expected [min, max] with 0 < min <= max, got ", Json(scale).dump());
  out["scale"] = scale;
  out["crop"] = size_or_null(keys, "crop");
  out["flip"] = keys.boolean("flip", true);

  Keys jitter(keys.get("jitter") ? *keys.get("jitter") : Json(), "augment.jitter");
  out["jitter"] = {{"brightness", jitter.number("brightness", 0.0, 0.0, 1e9)},
                   {"contrast", jitter.number("contrast", 0.0, 0.0, 1e9)},
                   {"saturation", jitter.number("saturation", 0.0, 0.0, 1e9)},
                   {"hue", jitter.number("hue", 0.0, 0.0, 0.5)},
                   {"p", jitter.number("p", 1.0, 0.0, 1.0)}};
  jitter.finish({"brightness", "contrast", "saturation", "hue", "p"});

  out["mean"] = keys.numbers("mean", {0.485, 0.456, 0.406}, 3, false);
  const std::vector<double> std = keys.numbers("std", {0.229, 0.224, 0.225}, 3, false);
  for (double s : std) CUDASEG_CHECK(s > 0.0, keys.where("std"), ": expected positive values, got ", Json(std).dump());
  out["std"] = std;
  out["pad"] = keys.string("pad", "mean", {"mean", "zero"});

  const Json* multi = keys.get("multi_resolution");
  if (!multi || multi->is_null()) {
    out["multi_resolution"] = nullptr;
  } else {
    Keys pair(*multi, "augment.multi_resolution");
    const Json student = size_or_null(pair, "student"), teacher = size_or_null(pair, "teacher");
    CUDASEG_CHECK(!student.is_null() && !teacher.is_null(), "augment.multi_resolution: expected ",
                  "{\"student\": [h, w], \"teacher\": [h, w]}, got ", multi->dump());
    pair.finish({"student", "teacher"});
    out["multi_resolution"] = {{"student", student}, {"teacher", teacher}};
  }
  out["val_resize"] = size_or_null(keys, "val_resize");
  keys.finish({"scale", "crop", "flip", "jitter", "mean", "std", "pad", "multi_resolution", "val_resize"});
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

Json resolve_data_config(const Json& data, const Json& augment) {
  return Json{{"data", resolve_data(data)}, {"augment", resolve_augment(augment)}};
}

DataSetup build_data(const Json& data, const Json& augment, int64_t train_batch_size, int64_t val_batch_size) {
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
  setup.train_loader = std::make_shared<Loader>(setup.train_set, setup.train_transform, lo);
  lo.batch_size = val_batch_size;
  lo.shuffle = false;
  lo.drop_last = false;
  setup.val_loader = std::make_shared<Loader>(setup.val_set, setup.val_transform, lo);
  return setup;
}

}  // namespace cudaseg::train
