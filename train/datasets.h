// Readers of the standard dataset layouts. A reader lists its files when it
// is opened, so a missing folder or file is reported at once by its path; a
// sample is decoded on get(): image u8 [H, W, 3] RGB, label i64 [H, W] in
// train ids with 255 ignored.
//
//   cityscapes  root/leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png
//               root/gtFine/<split>/<city>/<stem>_gtFine_labelIds.png
//               labelIds -> the 19 train ids, every other id -> 255
//   camvid      root/<split>/<name>.png, root/<split>annot/<name>.png (SegNet
//               layout; splits train, val, test); 11 classes, 11 (void) -> 255
//   voc         root/JPEGImages/<id>.jpg, root/SegmentationClass/<id>.png,
//               root/ImageSets/Segmentation/<split>.txt; root may also be the
//               folder holding VOCdevkit/VOC2012. Palette PNGs are mapped back
//               from RGB to their palette index (border (224, 224, 192) ->
//               255); single-channel masks are read as ids. 21 classes.
//   ade20k      root/images/<training|validation>/<stem>.jpg and
//               root/annotations/<...>/<stem>.png; root may also hold
//               ADEChallengeData2016; split "train"/"val" or the folder name.
//               150 classes, reduce_zero_label: 0 -> 255, k -> k - 1
//   folder      root/images/<stem>.{png,jpg,jpeg,bmp} + root/masks/<stem>.png
//               (single-channel ids < num_classes, or 255), or the same under
//               root/<split>/ when that folder exists
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "train/dataset.h"

namespace cudaseg::train {

DatasetPtr open_cityscapes(const std::string& root, const std::string& split);
DatasetPtr open_camvid(const std::string& root, const std::string& split);
DatasetPtr open_voc(const std::string& root, const std::string& split);
DatasetPtr open_ade20k(const std::string& root, const std::string& split);
DatasetPtr open_folder(const std::string& root, const std::string& split, int64_t num_classes);

// By name ("cityscapes", "camvid", "voc", "ade20k", "folder"); num_classes is
// used by "folder" only.
DatasetPtr open_dataset(const std::string& name, const std::string& root, const std::string& split,
                        int64_t num_classes = 0);
std::vector<std::string> file_dataset_names();

// The first `count` samples of `dataset` (1 <= count <= size).
DatasetPtr take_first(DatasetPtr dataset, int64_t count);

// Label tables, for tools and tests.
int64_t cityscapes_train_id(int64_t label_id);  // 255 for ids outside the 19 classes
std::array<uint8_t, 3> voc_colour(int index);    // the VOC palette, index 0..255

// ---- for writing readers of other layouts ----

struct FileEntry {
  std::string image;
  std::string label;
  std::string id;
};

// Turns a decoded mask (u8 [H, W, C] as stored, C in 1..4) into train ids;
// throws naming `path` on a value it does not know.
using LabelDecoder = std::function<Tensor(const Tensor& mask, const std::string& path)>;

struct FileDatasetInfo {
  std::string name;
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
  std::vector<std::array<uint8_t, 3>> palette;
  LabelDecoder decode;
};

class FileDataset : public Dataset {
 public:
  FileDataset(FileDatasetInfo info, std::vector<FileEntry> entries);  // entries must not be empty
  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  Sample get(int64_t index) const override;
  int64_t num_classes() const override { return info_.num_classes; }
  std::vector<std::string> class_names() const override { return info_.class_names; }
  std::vector<std::array<uint8_t, 3>> palette() const override { return info_.palette; }
  std::string name() const override { return info_.name; }
  const std::vector<FileEntry>& entries() const { return entries_; }

 private:
  FileDatasetInfo info_;
  std::vector<FileEntry> entries_;
};

// Filesystem helpers; errors name the dataset and the path.
void require_dir(const std::string& dataset, const std::string& path, const std::string& what);
void require_file(const std::string& dataset, const std::string& path, const std::string& what);
// The names of the regular files in `dir` ending with one of `suffixes`
// (case-insensitive), sorted.
std::vector<std::string> list_files(const std::string& dir, const std::vector<std::string>& suffixes);

// Decoder helpers: the single channel of a mask as i64 ids (a mask whose
// channels are all equal counts as single-channel), and a 256-entry lookup
// table applied to ids in place (-1 entries are errors that quote `what`).
Tensor mask_ids(const Tensor& mask, const std::string& path);
Tensor map_ids(const Tensor& ids, const std::vector<int64_t>& table, const std::string& path,
               const std::string& what);

}  // namespace cudaseg::train
