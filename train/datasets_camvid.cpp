// CamVid in the SegNet layout (11 classes, 11 = void).
#include <filesystem>

#include "train/datasets.h"

namespace cudaseg::train {

namespace fs = std::filesystem;

namespace {

const char* const kNames[] = {"sky",  "building", "pole", "road",       "pavement", "tree",
                                "sign", "fence",    "car",  "pedestrian", "bicyclist"};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == 11, "one name per class");

const uint8_t kPalette[11][3] = {{128, 128, 128}, {128, 0, 0},    {192, 192, 128}, {128, 64, 128},
                                 {60, 40, 222},   {128, 128, 0},  {192, 128, 128}, {64, 64, 128},
                                 {64, 0, 128},    {64, 64, 0},    {0, 128, 192}};

}  // namespace

DatasetPtr open_camvid(const std::string& root, const std::string& split) {
  const std::string name = "camvid";
  require_dir(name, root, "dataset root");
  const fs::path images = fs::path(root) / split, labels = fs::path(root) / (split + "annot");
  require_dir(name, images.string(), "images (" + split + ")");
  require_dir(name, labels.string(), "labels (" + split + "annot)");
  std::vector<FileEntry> entries;
  for (const std::string& file : list_files(images.string(), {".png"})) {
    FileEntry e{(images / file).string(), (labels / file).string(), fs::path(file).stem().string()};
    require_file(name, e.label, "label of '" + file + "'");
    entries.push_back(std::move(e));
  }
  CUDASEG_CHECK(!entries.empty(), name, ": no .png images in '", images.string(), "'");

  std::vector<int64_t> table(256, -1);
  for (int64_t c = 0; c < 11; ++c) table[c] = c;
  table[11] = 255;
  table[255] = 255;
  FileDatasetInfo info;
  info.name = name;
  info.num_classes = 11;
  for (int c = 0; c < 11; ++c) {
    info.class_names.push_back(kNames[c]);
    info.palette.push_back({kPalette[c][0], kPalette[c][1], kPalette[c][2]});
  }
  info.decode = [table](const Tensor& mask, const std::string& path) {
    return map_ids(mask_ids(mask, path), table, path, "camvid labels are 0..10, 11 (void) or 255");
  };
  return std::make_shared<FileDataset>(std::move(info), std::move(entries));
}

}  // namespace cudaseg::train
