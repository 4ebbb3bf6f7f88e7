// Cityscapes (gtFine labelIds -> the 19 train ids).
#include <algorithm>
#include <filesystem>

#include "train/datasets.h"

namespace cudaseg::train {

namespace fs = std::filesystem;

namespace {

// labelId -> trainId for ids 0..33 (cityscapesScripts' labels.py); -1 = 255.
constexpr int kTrainIds[34] = {-1, -1, -1, -1, -1, -1, -1, 0,  1,  -1, -1, 2,  3,  4,  -1, -1, -1,
                               5,  -1, 6,  7,  8,  9,  10, 11, 12, 13, 14, 15, -1, -1, 16, 17, 18};

const char* const kNames[] = {"road",  "sidewalk",   "building", "wall",   "fence", "pole",  "traffic light",
                                "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
                                "truck", "bus",   "train",  "motorcycle", "bicycle"};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == 19, "one name per class");

const uint8_t kPalette[19][3] = {{128, 64, 128}, {244, 35, 232}, {70, 70, 70},    {102, 102, 156}, {190, 153, 153},
                                 {153, 153, 153}, {250, 170, 30}, {220, 220, 0},   {107, 142, 35},  {152, 251, 152},
                                 {70, 130, 180},  {220, 20, 60},  {255, 0, 0},     {0, 0, 142},     {0, 0, 70},
                                 {0, 60, 100},    {0, 80, 100},   {0, 0, 230},     {119, 11, 32}};

const std::string kImageSuffix = "_leftImg8bit.png";
const std::string kLabelSuffix = "_gtFine_labelIds.png";

}  // namespace

int64_t cityscapes_train_id(int64_t label_id) {
  return label_id >= 0 && label_id < 34 && kTrainIds[label_id] >= 0 ? kTrainIds[label_id] : 255;
}

DatasetPtr open_cityscapes(const std::string& root, const std::string& split) {
  const std::string name = "cityscapes";
  require_dir(name, root, "dataset root");
  const fs::path images = fs::path(root) / "leftImg8bit" / split, labels = fs::path(root) / "gtFine" / split;
  require_dir(name, images.string(), "images (leftImg8bit/" + split + ")");
  require_dir(name, labels.string(), "labels (gtFine/" + split + ")");
  std::vector<std::string> cities;
  std::error_code ec;
  for (fs::directory_iterator it(images, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) cities.push_back(it->path().filename().string());
  CUDASEG_CHECK(!ec, name, ": cannot list '", images.string(), "': ", ec.message());
  std::sort(cities.begin(), cities.end());
  std::vector<FileEntry> entries;
  for (const std::string& city : cities) {
    for (const std::string& file : list_files((images / city).string(), {kImageSuffix})) {
      const std::string stem = file.substr(0, file.size() - kImageSuffix.size());
      FileEntry e{(images / city / file).string(), (labels / city / (stem + kLabelSuffix)).string(), stem};
      require_file(name, e.label, "label of '" + file + "'");
      entries.push_back(std::move(e));
    }
  }
  CUDASEG_CHECK(!entries.empty(), name, ": no <city>/*", kImageSuffix, " files under '", images.string(), "'");

  std::vector<int64_t> table(256);
  for (int64_t id = 0; id < 256; ++id) table[id] = cityscapes_train_id(id);
  FileDatasetInfo info;
  info.name = name;
  info.num_classes = 19;
  for (int c = 0; c < 19; ++c) {
    info.class_names.push_back(kNames[c]);
    info.palette.push_back({kPalette[c][0], kPalette[c][1], kPalette[c][2]});
  }
  info.decode = [table](const Tensor& mask, const std::string& path) {
    return map_ids(mask_ids(mask, path), table, path, "cityscapes labelIds are 0..255");
  };
  return std::make_shared<FileDataset>(std::move(info), std::move(entries));
}

}  // namespace cudaseg::train
