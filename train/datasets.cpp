#include "train/datasets.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "runtime/image_io.h"

namespace cudaseg::train {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

class Subset : public Dataset {
 public:
  Subset(DatasetPtr base, int64_t count) : base_(std::move(base)), count_(count) {}
  int64_t size() const override { return count_; }
  Sample get(int64_t index) const override {
    CUDASEG_CHECK(index >= 0 && index < count_, name(), ": index ", index, " out of range [0, ", count_, ")");
    return base_->get(index);
  }
  int64_t num_classes() const override { return base_->num_classes(); }
  int64_t ignore_index() const override { return base_->ignore_index(); }
  std::vector<std::string> class_names() const override { return base_->class_names(); }
  std::vector<std::array<uint8_t, 3>> palette() const override { return base_->palette(); }
  std::string name() const override { return base_->name(); }

 private:
  DatasetPtr base_;
  int64_t count_;
};

}  // namespace

void require_dir(const std::string& dataset, const std::string& path, const std::string& what) {
  std::error_code ec;
  CUDASEG_CHECK(fs::is_directory(path, ec), dataset, ": missing ", what, " folder '", path, "'");
}

void require_file(const std::string& dataset, const std::string& path, const std::string& what) {
  std::error_code ec;
  CUDASEG_CHECK(fs::is_regular_file(path, ec), dataset, ": missing ", what, " '", path, "'");
}

std::vector<std::string> list_files(const std::string& dir, const std::vector<std::string>& suffixes) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string name = it->path().filename().string();
    const std::string low = lower(name);
    for (const std::string& suffix : suffixes)
      if (ends_with(low, lower(suffix))) {
        names.push_back(name);
        break;
      }
  }
  CUDASEG_CHECK(!ec, "cannot list '", dir, "': ", ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

Tensor mask_ids(const Tensor& mask, const std::string& path) {
  const int64_t H = mask.size(0), W = mask.size(1), C = mask.size(2);
  const uint8_t* src = mask.data<uint8_t>();
  if (C > 1) {
    const int64_t colour = std::min<int64_t>(C, 3);
    for (int64_t i = 0; i < H * W; ++i)
      for (int64_t c = 1; c < colour; ++c)
        CUDASEG_CHECK(src[i * C + c] == src[i * C], "label '", path, "' is a colour image (pixel (", i / W, ", ",
                      i % W, ") is ", int(src[i * C]), ",", int(src[i * C + 1]), ",", int(src[i * C + 2]),
                      "); expected single-channel class ids");
  }
  Tensor ids = Tensor::empty({H, W}, DType::i64);
  int64_t* dst = ids.data<int64_t>();
  for (int64_t i = 0; i < H * W; ++i) dst[i] = src[i * C];
  return ids;
}

Tensor map_ids(const Tensor& ids, const std::vector<int64_t>& table, const std::string& path,
               const std::string& what) {
  const int64_t W = ids.size(1), n = ids.numel();
  int64_t* p = ids.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = p[i];
    const int64_t mapped = v >= 0 && v < static_cast<int64_t>(table.size()) ? table[v] : -1;
    CUDASEG_CHECK(mapped >= 0, "label '", path, "' has value ", v, " at (", i / W, ", ", i % W, "); ", what);
    p[i] = mapped;
  }
  return ids;
}

FileDataset::FileDataset(FileDatasetInfo info, std::vector<FileEntry> entries)
    : info_(std::move(info)), entries_(std::move(entries)) {
  CUDASEG_CHECK(!entries_.empty(), info_.name, ": no samples");
  CUDASEG_CHECK(info_.decode != nullptr, info_.name, ": no label decoder");
}

Sample FileDataset::get(int64_t index) const {
  CUDASEG_CHECK(index >= 0 && index < size(), info_.name, ": index ", index, " out of range [0, ", size(), ")");
  const FileEntry& e = entries_[static_cast<size_t>(index)];
  Sample s;
  s.id = e.id;
  s.image = read_image(e.image, 3);
  s.label = info_.decode(read_image(e.label, 0), e.label);
  CUDASEG_CHECK(s.image.size(0) == s.label.size(0) && s.image.size(1) == s.label.size(1), info_.name, ": image '",
                e.image, "' is ", s.image.size(0), "x", s.image.size(1), " but its label '", e.label, "' is ",
                s.label.size(0), "x", s.label.size(1));
  return s;
}

DatasetPtr take_first(DatasetPtr dataset, int64_t count) {
  CUDASEG_CHECK(dataset != nullptr, "take_first: no dataset");
  CUDASEG_CHECK(count >= 1 && count <= dataset->size(), dataset->name(), ": cannot take ", count, " samples of ",
                dataset->size());
  if (count == dataset->size()) return dataset;
  return std::make_shared<Subset>(std::move(dataset), count);
}

DatasetPtr open_folder(const std::string& root, const std::string& split, int64_t num_classes) {
  const std::string name = "folder";
  CUDASEG_CHECK(num_classes >= 1 && num_classes <= 255, name, ": num_classes must be in [1, 255], got ", num_classes);
  require_dir(name, root, "dataset root");
  std::error_code ec;
  const std::string base = fs::is_directory(fs::path(root) / split, ec) ? (fs::path(root) / split).string() : root;
  const std::string images = (fs::path(base) / "images").string(), masks = (fs::path(base) / "masks").string();
  require_dir(name, images, "images");
  require_dir(name, masks, "masks");
  std::vector<FileEntry> entries;
  for (const std::string& file : list_files(images, {".png", ".jpg", ".jpeg", ".bmp"})) {
    const std::string stem = fs::path(file).stem().string();
    FileEntry e{(fs::path(images) / file).string(), (fs::path(masks) / (stem + ".png")).string(), stem};
    require_file(name, e.label, "mask of '" + file + "'");
    entries.push_back(std::move(e));
  }
  CUDASEG_CHECK(!entries.empty(), name, ": no images (.png, .jpg, .jpeg, .bmp) in '", images, "'");
  std::vector<int64_t> table(256, -1);
  for (int64_t c = 0; c < num_classes; ++c) table[c] = c;
  table[255] = 255;
  FileDatasetInfo info;
  info.name = name;
  info.num_classes = num_classes;
  const std::string what = "expected class ids below " + std::to_string(num_classes) + " or 255 (ignore)";
  info.decode = [table, what](const Tensor& mask, const std::string& path) {
    return map_ids(mask_ids(mask, path), table, path, what);
  };
  return std::make_shared<FileDataset>(std::move(info), std::move(entries));
}

std::vector<std::string> file_dataset_names() { return {"cityscapes", "camvid", "voc", "ade20k", "folder"}; }

DatasetPtr open_dataset(const std::string& name, const std::string& root, const std::string& split,
                        int64_t num_classes) {
  if (name == "cityscapes") return open_cityscapes(root, split);
  if (name == "camvid") return open_camvid(root, split);
  if (name == "voc") return open_voc(root, split);
  if (name == "ade20k") return open_ade20k(root, split);
  if (name == "folder") return open_folder(root, split, num_classes);
  CUDASEG_FAIL("unknown dataset '", name, "'; known: ", join(file_dataset_names()));
}

}  // namespace cudaseg::train
