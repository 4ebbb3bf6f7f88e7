// Pascal VOC 2012 segmentation (21 classes, palette PNG masks).
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "train/datasets.h"

namespace cudaseg::train {

namespace fs = std::filesystem;

namespace {

const char* const kNames[] = {"background", "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",
                                "car",        "cat",       "chair",   "cow",   "diningtable", "dog",    "horse",
                                "motorbike",  "person",    "pottedplant", "sheep", "sofa",    "train",  "tvmonitor"};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == 21, "one name per class");

uint32_t pack(uint8_t r, uint8_t g, uint8_t b) { return uint32_t{r} << 16 | uint32_t{g} << 8 | b; }

// stb_image expands palette PNGs to RGB, so the palette index is recovered
// from the colour; single-channel masks (e.g. SegmentationClassAug) hold ids.
Tensor decode_voc(const Tensor& mask, const std::string& path) {
  if (mask.size(2) == 1) {
    std::vector<int64_t> table(256, -1);
    for (int64_t c = 0; c < 21; ++c) table[c] = c;
    table[255] = 255;
    return map_ids(mask_ids(mask, path), table, path, "voc ids are 0..20 or 255");
  }
  static const std::unordered_map<uint32_t, int64_t> index = [] {
    std::unordered_map<uint32_t, int64_t> m;
    for (int i = 0; i < 21; ++i) {
      const std::array<uint8_t, 3> c = voc_colour(i);
      m[pack(c[0], c[1], c[2])] = i;
    }
    const std::array<uint8_t, 3> border = voc_colour(255);
    m[pack(border[0], border[1], border[2])] = 255;
    return m;
  }();
  const int64_t H = mask.size(0), W = mask.size(1), C = mask.size(2);
  const uint8_t* src = mask.data<uint8_t>();
  Tensor ids = Tensor::empty({H, W}, DType::i64);
  int64_t* dst = ids.data<int64_t>();
  for (int64_t i = 0; i < H * W; ++i) {
    const uint8_t* p = src + i * C;
    const auto it = index.find(pack(p[0], p[1], p[2]));
    CUDASEG_CHECK(it != index.end(), "label '", path, "' has colour (", int(p[0]), ", ", int(p[1]), ", ", int(p[2]),
                  ") at (", i / W, ", ", i % W, "), which is not a VOC class colour");
    dst[i] = it->second;
  }
  return ids;
}

}  // namespace

std::array<uint8_t, 3> voc_colour(int index) {
  CUDASEG_CHECK(index >= 0 && index < 256, "voc_colour: index ", index, " outside 0..255");
  std::array<uint8_t, 3> c{0, 0, 0};
  int id = index;
  for (int shift = 7; shift >= 0; --shift, id >>= 3)
    for (int k = 0; k < 3; ++k) c[k] = static_cast<uint8_t>(c[k] | ((id >> k) & 1) << shift);
  return c;
}

DatasetPtr open_voc(const std::string& root, const std::string& split) {
  const std::string name = "voc";
  require_dir(name, root, "dataset root");
  std::error_code ec;
  fs::path base = root;
  if (fs::is_directory(base / "VOCdevkit" / "VOC2012", ec)) base = base / "VOCdevkit" / "VOC2012";
  const fs::path images = base / "JPEGImages", labels = base / "SegmentationClass";
  const fs::path list = base / "ImageSets" / "Segmentation" / (split + ".txt");
  require_dir(name, images.string(), "images (JPEGImages)");
  require_dir(name, labels.string(), "labels (SegmentationClass)");
  require_file(name, list.string(), "split list");
  std::ifstream in(list);
  CUDASEG_CHECK(in.good(), name, ": cannot read '", list.string(), "'");
  std::vector<FileEntry> entries;
  for (std::string line; std::getline(in, line);) {
    const size_t b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos) continue;
    const std::string id = line.substr(b, e - b + 1);
    FileEntry entry{(images / (id + ".jpg")).string(), (labels / (id + ".png")).string(), id};
    require_file(name, entry.image, "image of '" + id + "'");
    require_file(name, entry.label, "label of '" + id + "'");
    entries.push_back(std::move(entry));
  }
  CUDASEG_CHECK(!entries.empty(), name, ": split list '", list.string(), "' names no images");

  FileDatasetInfo info;
  info.name = name;
  info.num_classes = 21;
  for (int c = 0; c < 21; ++c) {
    info.class_names.push_back(kNames[c]);
    info.palette.push_back(voc_colour(c));
  }
  info.decode = decode_voc;
  return std::make_shared<FileDataset>(std::move(info), std::move(entries));
}

}  // namespace cudaseg::train
