// ADE20K (SceneParsing ADEChallengeData2016: 150 classes, reduce_zero_label).
#include <filesystem>

#include "train/datasets.h"

namespace cudaseg::train {

namespace fs = std::filesystem;

namespace {

const char* const kNames[] = {
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase",
    "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane",
    "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool",
    "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture",
    "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag"};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == 150, "one name per class");

}  // namespace

DatasetPtr open_ade20k(const std::string& root, const std::string& split) {
  const std::string name = "ade20k";
  require_dir(name, root, "dataset root");
  std::error_code ec;
  fs::path base = root;
  if (fs::is_directory(base / "ADEChallengeData2016", ec)) base = base / "ADEChallengeData2016";
  const std::string folder = split == "train" ? "training" : split == "val" ? "validation" : split;
  CUDASEG_CHECK(folder == "training" || folder == "validation", name, ": unknown split '", split,
                "'; use train (training) or val (validation)");
  const fs::path images = base / "images" / folder, labels = base / "annotations" / folder;
  require_dir(name, images.string(), "images (images/" + folder + ")");
  require_dir(name, labels.string(), "labels (annotations/" + folder + ")");
  std::vector<FileEntry> entries;
  for (const std::string& file : list_files(images.string(), {".jpg"})) {
    const std::string stem = fs::path(file).stem().string();
    FileEntry e{(images / file).string(), (labels / (stem + ".png")).string(), stem};
    require_file(name, e.label, "label of '" + file + "'");
    entries.push_back(std::move(e));
  }
  CUDASEG_CHECK(!entries.empty(), name, ": no .jpg images in '", images.string(), "'");

  // reduce_zero_label: 0 ("other") is ignored, class k is stored as k + 1.
  std::vector<int64_t> table(256, -1);
  table[0] = 255;
  for (int64_t k = 1; k <= 150; ++k) table[k] = k - 1;
  table[255] = 255;
  FileDatasetInfo info;
  info.name = name;
  info.num_classes = 150;
  info.class_names.assign(kNames, kNames + 150);
  info.decode = [table](const Tensor& mask, const std::string& path) {
    return map_ids(mask_ids(mask, path), table, path, "ade20k labels are 0..150 (0 = other, ignored)");
  };
  return std::make_shared<FileDataset>(std::move(info), std::move(entries));
}

}  // namespace cudaseg::train
