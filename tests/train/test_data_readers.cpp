// The dataset readers on the fixture trees of tests/data/datasets (written by
// tools/make_dataset_fixtures.py): layouts, label mappings, and errors that
// name what is missing.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <vector>

#include "common/testing.h"
#include "runtime/image_io.h"
#include "train/datasets.h"

namespace cudaseg::train {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) { return std::string(CUDASEG_TEST_DATA) + "/datasets/" + name; }

// The fixture script writes raw value ids[(x + 2y + k) % n] into image k of a
// tree; `mapped` is what the reader must turn each raw id into.
void expect_labels(const Dataset& d, int64_t index, int64_t k, const std::vector<int64_t>& ids,
                   const std::vector<int64_t>& mapped) {
  const Sample s = d.get(index);
  ASSERT_EQ(s.image.shape(), (Shape{8, 12, 3})) << s.id;
  ASSERT_EQ(s.label.shape(), (Shape{8, 12})) << s.id;
  const int64_t* p = s.label.data<int64_t>();
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 12; ++x) {
      const size_t j = static_cast<size_t>((x + 2 * y + k) % static_cast<int64_t>(ids.size()));
      ASSERT_EQ(p[y * 12 + x], mapped[j]) << s.id << " (" << y << ", " << x << ") raw " << ids[j];
    }
}

TEST(DataReaders, CityscapesMapsLabelIdsToTrainIds) {
  const DatasetPtr train = open_cityscapes(fixture("cityscapes"), "train");
  ASSERT_EQ(train->size(), 3);
  EXPECT_EQ(train->name(), "cityscapes");
  EXPECT_EQ(train->num_classes(), 19);
  ASSERT_EQ(train->class_names().size(), 19u);
  EXPECT_EQ(train->class_names()[13], "car");
  EXPECT_EQ(train->palette()[0], (std::array<uint8_t, 3>{128, 64, 128}));
  EXPECT_EQ(train->get(2).id, "bochum_000000_000313");  // cities, then files, sorted
  // labelIds 0 7 8 11 24 26 33 10 34 -> 255 0 1 2 11 13 18 255 255
  const std::vector<int64_t> ids{0, 7, 8, 11, 24, 26, 33, 10, 34}, train_ids{255, 0, 1, 2, 11, 13, 18, 255, 255};
  for (int64_t k = 0; k < 3; ++k) expect_labels(*train, k, k, ids, train_ids);
  const DatasetPtr val = open_cityscapes(fixture("cityscapes"), "val");
  ASSERT_EQ(val->size(), 1);
  expect_labels(*val, 0, 3, ids, train_ids);
  EXPECT_EQ(cityscapes_train_id(28), 15);
  EXPECT_EQ(cityscapes_train_id(-1), 255);
}

TEST(DataReaders, CamVidIgnoresVoid) {
  const DatasetPtr train = open_camvid(fixture("camvid"), "train");
  ASSERT_EQ(train->size(), 2);
  EXPECT_EQ(train->num_classes(), 11);
  EXPECT_EQ(train->class_names()[3], "road");
  const std::vector<int64_t> ids{0, 3, 5, 10, 11}, mapped{0, 3, 5, 10, 255};
  for (int64_t k = 0; k < 2; ++k) expect_labels(*train, k, k, ids, mapped);
  expect_labels(*open_camvid(fixture("camvid"), "val"), 0, 2, ids, mapped);
}

TEST(DataReaders, VocRecoversPaletteIndices) {
  const std::vector<int64_t> ids{0, 1, 15, 20, 255};
  // Both the VOC2012 folder and the folder holding VOCdevkit are accepted.
  for (const std::string& root : {fixture("voc"), fixture("voc/VOCdevkit/VOC2012")}) {
    const DatasetPtr train = open_voc(root, "train");
    ASSERT_EQ(train->size(), 2);
    EXPECT_EQ(train->num_classes(), 21);
    EXPECT_EQ(train->class_names()[15], "person");
    EXPECT_EQ(train->get(1).id, "2007_000039");  // the order of train.txt
    for (int64_t k = 0; k < 2; ++k) expect_labels(*train, k, k, ids, ids);
  }
  expect_labels(*open_voc(fixture("voc"), "val"), 0, 2, ids, ids);
  EXPECT_EQ(voc_colour(1), (std::array<uint8_t, 3>{128, 0, 0}));
  EXPECT_EQ(voc_colour(15), (std::array<uint8_t, 3>{192, 128, 128}));
  EXPECT_EQ(voc_colour(255), (std::array<uint8_t, 3>{224, 224, 192}));
}

TEST(DataReaders, Ade20kReducesTheZeroLabel) {
  const std::vector<int64_t> ids{0, 1, 2, 75, 150}, mapped{255, 0, 1, 74, 149};
  for (const std::string& root : {fixture("ade20k"), fixture("ade20k/ADEChallengeData2016")}) {
    const DatasetPtr train = open_ade20k(root, "train");
    ASSERT_EQ(train->size(), 2);
    EXPECT_EQ(train->num_classes(), 150);
    ASSERT_EQ(train->class_names().size(), 150u);
    EXPECT_EQ(train->class_names()[149], "flag");
    for (int64_t k = 0; k < 2; ++k) expect_labels(*train, k, k, ids, mapped);
  }
  expect_labels(*open_ade20k(fixture("ade20k"), "validation"), 0, 2, ids, mapped);
}

TEST(DataReaders, FolderReadsIdsByStem) {
  const DatasetPtr d = open_folder(fixture("folder"), "train", 3);
  ASSERT_EQ(d->size(), 2);
  EXPECT_EQ(d->num_classes(), 3);
  EXPECT_EQ(d->get(1).id, "b");  // b.jpg with masks/b.png
  const std::vector<int64_t> ids{0, 1, 2, 255};
  for (int64_t k = 0; k < 2; ++k) expect_labels(*d, k, k, ids, ids);
  EXPECT_TRUE(testing::throws_mentioning([&] { open_folder(fixture("folder"), "train", 2)->get(0); },
                                         {"masks/a.png", "value 2", "below 2"}));
}

TEST(DataReaders, OpenByNameAndTakeFirst) {
  const DatasetPtr d = open_dataset("cityscapes", fixture("cityscapes"), "train");
  const DatasetPtr two = take_first(d, 2);
  EXPECT_EQ(two->size(), 2);
  EXPECT_EQ(two->get(1).id, d->get(1).id);
  EXPECT_EQ(two->num_classes(), 19);
  EXPECT_TRUE(testing::throws_mentioning([&] { two->get(2); }, {"index 2"}));
  EXPECT_TRUE(testing::throws_mentioning([&] { take_first(d, 4); }, {"cannot take 4", "3"}));
  EXPECT_TRUE(testing::throws_mentioning([] { open_dataset("kitti", "/x", "train"); }, {"'kitti'", "cityscapes, camvid"}));
}

// A scratch copy of a fixture tree, to break it.
class BrokenTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("cudaseg_readers_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string copy(const std::string& name) {
    fs::copy(fixture(name), root_ / name, fs::copy_options::recursive);
    return (root_ / name).string();
  }
  fs::path root_;
};

TEST_F(BrokenTree, MissingFoldersAreNamed) {
  EXPECT_TRUE(testing::throws_mentioning([] { open_cityscapes("/no/such/root", "train"); },
                                         {"cityscapes", "dataset root", "/no/such/root"}));
  const std::string city = copy("cityscapes");
  EXPECT_TRUE(testing::throws_mentioning([&] { open_cityscapes(city, "test"); }, {"leftImg8bit/test"}));
  fs::remove_all(fs::path(city) / "gtFine" / "val");
  EXPECT_TRUE(testing::throws_mentioning([&] { open_cityscapes(city, "val"); }, {"gtFine/val"}));
  const std::string camvid = copy("camvid");
  fs::remove_all(fs::path(camvid) / "valannot");
  EXPECT_TRUE(testing::throws_mentioning([&] { open_camvid(camvid, "val"); }, {"valannot"}));
  EXPECT_TRUE(testing::throws_mentioning([&] { open_ade20k(copy("ade20k"), "test"); }, {"split 'test'", "train"}));
  EXPECT_TRUE(testing::throws_mentioning([&] { open_voc(copy("voc"), "trainval"); }, {"split list", "trainval.txt"}));
  EXPECT_TRUE(testing::throws_mentioning([&] { open_folder(root_.string(), "train", 3); }, {"images", "folder"}));
}

TEST_F(BrokenTree, MissingFilesAreNamed) {
  const std::string city = copy("cityscapes");
  fs::remove(fs::path(city) / "gtFine/train/aachen/aachen_000001_000019_gtFine_labelIds.png");
  EXPECT_TRUE(testing::throws_mentioning([&] { open_cityscapes(city, "train"); },
                                         {"aachen_000001_000019_gtFine_labelIds.png", "label of"}));
  const std::string voc = copy("voc");
  fs::remove(fs::path(voc) / "VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg");
  EXPECT_TRUE(testing::throws_mentioning([&] { open_voc(voc, "val"); }, {"2007_000033.jpg", "image of"}));
  const std::string folder = copy("folder");
  fs::remove(fs::path(folder) / "masks/b.png");
  EXPECT_TRUE(testing::throws_mentioning([&] { open_folder(folder, "train", 3); }, {"masks/b.png", "mask of 'b.jpg'"}));
}

TEST_F(BrokenTree, BadLabelValuesAreNamed) {
  const std::string camvid = copy("camvid");
  // A mask with value 12, which CamVid does not have.
  Tensor bad = Tensor::full({8, 12}, 12.0, DType::u8);
  write_png((fs::path(camvid) / "valannot/0016E5_07959.png").string(), bad);
  EXPECT_TRUE(testing::throws_mentioning([&] { open_camvid(camvid, "val")->get(0); },
                                         {"0016E5_07959.png", "value 12", "camvid labels"}));
  // A colour that is not in the VOC palette.
  const std::string voc = copy("voc");
  Tensor colour = Tensor::full({8, 12, 3}, 77.0, DType::u8);
  write_png((fs::path(voc) / "VOCdevkit/VOC2012/SegmentationClass/2007_000033.png").string(), colour);
  EXPECT_TRUE(testing::throws_mentioning([&] { open_voc(voc, "val")->get(0); }, {"(77, 77, 77)", "not a VOC"}));
  // A colour mask where ids are expected.
  const std::string folder = copy("folder");
  Tensor rgb = Tensor::zeros({8, 12, 3}, DType::u8);
  rgb.data<uint8_t>()[1] = 9;
  write_png((fs::path(folder) / "masks/a.png").string(), rgb);
  EXPECT_TRUE(testing::throws_mentioning([&] { open_folder(folder, "train", 3)->get(0); }, {"colour image", "a.png"}));
  // Image and label of different sizes.
  write_png((fs::path(folder) / "masks/a.png").string(), Tensor::zeros({8, 11}, DType::u8));
  EXPECT_TRUE(testing::throws_mentioning([&] { open_folder(folder, "train", 3)->get(0); }, {"8x12", "8x11"}));
}

TEST_F(BrokenTree, FolderPrefersASplitSubfolder) {
  const std::string folder = copy("folder");
  fs::create_directories(fs::path(folder) / "val");
  fs::copy(fs::path(folder) / "images", fs::path(folder) / "val" / "images", fs::copy_options::recursive);
  fs::copy(fs::path(folder) / "masks", fs::path(folder) / "val" / "masks", fs::copy_options::recursive);
  fs::remove(fs::path(folder) / "val/images/a.png");
  EXPECT_EQ(open_folder(folder, "val", 3)->size(), 1);
  EXPECT_EQ(open_folder(folder, "train", 3)->size(), 2);
}

}  // namespace
}  // namespace cudaseg::train
