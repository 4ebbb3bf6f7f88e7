// data_config: the `data` and `augment` objects of a run config, their
// defaults, their errors, and the datasets and loaders built from them.
#include <gtest/gtest.h>

#include "common/testing.h"
#include "train/data_config.h"

namespace cudaseg::train {
namespace {

std::string fixture(const std::string& name) { return std::string(CUDASEG_TEST_DATA) + "/datasets/" + name; }

TEST(DataConfig, DefaultsAreFilledIn) {
  const Json eff = resolve_data_config(nullptr, Json::object());
  const Json& d = eff["data"];
  EXPECT_EQ(d["dataset"], "synthetic");
  EXPECT_EQ(d["num_classes"], 19);
  EXPECT_EQ(d["train_size"], 512);
  EXPECT_EQ(d["val_size"], 64);
  EXPECT_EQ(d["image_size"], Json({256, 512}));
  EXPECT_EQ(d["seed"], 0);
  EXPECT_EQ(d["workers"], 2);
  EXPECT_EQ(d["drop_last"], true);
  EXPECT_FALSE(d.contains("train_split"));
  const Json& a = eff["augment"];
  EXPECT_EQ(a["scale"], Json({1.0, 1.0}));
  EXPECT_TRUE(a["crop"].is_null());
  EXPECT_EQ(a["flip"], true);
  EXPECT_EQ(a["jitter"]["p"], 1.0);
  EXPECT_EQ(a["jitter"]["hue"], 0.0);
  EXPECT_EQ(a["mean"], Json({0.485, 0.456, 0.406}));
  EXPECT_EQ(a["std"], Json({0.229, 0.224, 0.225}));
  EXPECT_EQ(a["pad"], "mean");
  EXPECT_TRUE(a["multi_resolution"].is_null());
  EXPECT_TRUE(a["val_resize"].is_null());
  // The effective config resolves to itself.
  EXPECT_EQ(resolve_data_config(d, a), eff);
}

TEST(DataConfig, GivenValuesAreKept) {
  const Json data = {{"dataset", "synthetic"}, {"num_classes", 7}, {"train_size", 10}, {"val_size", 3},
                     {"image_size", {20, 30}}, {"seed", 4},       {"workers", 0}};
  const Json augment = {{"scale", {0.5, 2.0}},
                        {"crop", {16, 24}},
                        {"flip", false},
                        {"jitter", {{"brightness", 0.5}, {"hue", 0.1}}},
                        {"pad", "zero"},
                        {"multi_resolution", {{"student", {8, 12}}, {"teacher", {16, 24}}}}};
  const Json eff = resolve_data_config(data, augment);
  EXPECT_EQ(eff["data"]["num_classes"], 7);
  EXPECT_EQ(eff["data"]["image_size"], Json({20, 30}));
  EXPECT_EQ(eff["augment"]["crop"], Json({16, 24}));
  EXPECT_EQ(eff["augment"]["jitter"]["brightness"], 0.5);
  EXPECT_EQ(eff["augment"]["jitter"]["contrast"], 0.0);
  EXPECT_EQ(eff["augment"]["multi_resolution"]["teacher"], Json({16, 24}));
}

TEST(DataConfig, FileDatasetsTakeTheirOwnKeys) {
  const Json eff = resolve_data_config({{"dataset", "cityscapes"}, {"root", "/data/cs"}}, nullptr);
  EXPECT_EQ(eff["data"]["num_classes"], 19);
  EXPECT_EQ(eff["data"]["train_size"], 0);
  EXPECT_EQ(eff["data"]["train_split"], "train");
  EXPECT_EQ(eff["data"]["val_split"], "val");
  EXPECT_FALSE(eff["data"].contains("image_size"));
  EXPECT_EQ(resolve_data_config({{"dataset", "ade20k"}, {"root", "/a"}}, nullptr)["data"]["num_classes"], 150);
}

::testing::AssertionResult data_error(const Json& data, const std::vector<std::string>& fragments) {
  return testing::throws_mentioning([&] { resolve_data_config(data, nullptr); }, fragments);
}

::testing::AssertionResult augment_error(const Json& augment, const std::vector<std::string>& fragments) {
  return testing::throws_mentioning([&] { resolve_data_config(nullptr, augment); }, fragments);
}

TEST(DataConfig, ErrorsNameTheKeyAndWhatIsAccepted) {
  EXPECT_TRUE(data_error({{"datset", "synthetic"}}, {"unknown key 'datset' in data (did you mean 'dataset'?)", "accepted: dataset, root"}));
  EXPECT_TRUE(data_error({{"dataset", "kitti"}}, {"data.dataset", "one of \"synthetic\", \"cityscapes\"", "\"kitti\""}));
  EXPECT_TRUE(data_error({{"workers", "two"}}, {"data.workers", "integer in [0, 64]", "\"two\""}));
  EXPECT_TRUE(data_error({{"workers", -1}}, {"data.workers", "-1"}));
  EXPECT_TRUE(data_error({{"num_classes", 1}}, {"data.num_classes", "integer in [2, 255]"}));
  EXPECT_TRUE(data_error({{"image_size", {256}}}, {"data.image_size", "[height, width]"}));
  EXPECT_TRUE(data_error({{"image_size", {256, 0}}}, {"data.image_size", "positive integers"}));
  EXPECT_TRUE(data_error({{"drop_last", 1}}, {"data.drop_last", "true or false"}));
  EXPECT_TRUE(data_error({{"train_split", "train"}}, {"data.train_split", "only for file datasets"}));
  EXPECT_TRUE(data_error({{"dataset", "cityscapes"}}, {"data.root", "needs its folder"}));
  EXPECT_TRUE(data_error({{"dataset", "cityscapes"}, {"root", "/x"}, {"image_size", {1, 2}}},
                         {"data.image_size", "only for the synthetic dataset"}));
  EXPECT_TRUE(data_error({{"dataset", "cityscapes"}, {"root", "/x"}, {"num_classes", 20}},
                         {"data.num_classes", "cityscapes has 19 classes, got 20"}));
  EXPECT_TRUE(data_error({{"dataset", "folder"}, {"root", "/x"}}, {"data.num_classes", "required"}));
  EXPECT_TRUE(data_error(Json::array(), {"data", "expected a JSON object"}));

  EXPECT_TRUE(augment_error({{"scale", {2.0, 1.0}}}, {"augment.scale", "min <= max"}));
  EXPECT_TRUE(augment_error({{"scale", "big"}}, {"augment.scale", "list of 2 numbers"}));
  EXPECT_TRUE(augment_error({{"crop", {10.5, 3}}}, {"augment.crop", "[height, width]"}));
  EXPECT_TRUE(augment_error({{"jitter", {{"hue", 0.6}}}}, {"augment.jitter.hue", "[0, 0.5]"}));
  EXPECT_TRUE(augment_error({{"jitter", {{"gamma", 1}}}}, {"unknown key 'gamma' in augment.jitter", "brightness"}));
  EXPECT_TRUE(augment_error({{"std", {1, 0, 1}}}, {"augment.std", "positive"}));
  EXPECT_TRUE(augment_error({{"mean", {0.5, 0.5}}}, {"augment.mean", "3 numbers"}));
  EXPECT_TRUE(augment_error({{"pad", "edge"}}, {"augment.pad", "one of \"mean\", \"zero\""}));
  EXPECT_TRUE(augment_error({{"multi_resolution", {{"student", {8, 8}}}}}, {"augment.multi_resolution", "teacher"}));
  EXPECT_TRUE(augment_error({{"rotate", 10}}, {"unknown key 'rotate' in augment; accepted:", "multi_resolution"}));
}

TEST(DataConfig, UnknownKeysSuggestTheNearestAcceptedOne) {
  EXPECT_TRUE(data_error({{"workres", 1}}, {"unknown key 'workres' in data (did you mean 'workers'?)"}));
  EXPECT_TRUE(data_error({{"dataset", "cityscapes"}, {"root", "/x"}, {"val_splt", "test"}},
                         {"unknown key 'val_splt' in data (did you mean 'val_split'?)"}));
  EXPECT_TRUE(augment_error({{"jitter", {{"contrst", 0.1}}}},
                            {"unknown key 'contrst' in augment.jitter (did you mean 'contrast'?)"}));
  EXPECT_TRUE(data_error({{"dataset", "citiscapes"}}, {"got \"citiscapes\" (did you mean \"cityscapes\"?)"}));
  try {
    resolve_data_config(nullptr, {{"rotate", 10}});
    ADD_FAILURE() << "augment.rotate was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
  }
}

TEST(DataConfig, BuildsSyntheticLoaders) {
  const Json data = {{"num_classes", 6}, {"train_size", 10}, {"val_size", 3}, {"image_size", {24, 32}}, {"workers", 1}};
  const Json augment = {{"scale", {0.75, 1.25}}, {"crop", {16, 20}}, {"jitter", {{"brightness", 0.3}}}};
  const DataSetup setup = build_data(data, augment, 4, 2);
  EXPECT_EQ(setup.effective["data"]["train_size"], 10);
  EXPECT_EQ(setup.train_set->size(), 10);
  EXPECT_EQ(setup.val_set->size(), 3);
  EXPECT_EQ(setup.train_set->num_classes(), 6);
  EXPECT_EQ(setup.train_loader->batches_per_epoch(), 2);  // drop_last
  EXPECT_EQ(setup.val_loader->batches_per_epoch(), 2);    // 2 + 1, in order
  const std::optional<Batch> b = setup.train_loader->next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->images.shape(), (Shape{4, 3, 16, 20}));
  const std::optional<Batch> v = setup.val_loader->next();
  ASSERT_TRUE(v);
  EXPECT_EQ(v->images.shape(), (Shape{2, 3, 24, 32}));
  EXPECT_EQ(v->ids, (std::vector<std::string>{"synthetic_val_0", "synthetic_val_1"}));
  // The same config gives the same batches.
  const DataSetup again = build_data(data, augment, 4, 2);
  const Batch same = again.train_loader->make_batch(0, 0);
  EXPECT_EQ(same.ids, b->ids);
  EXPECT_EQ(same.images.to_vector(), b->images.to_vector());
}

TEST(DataConfig, BuildsTheDistillationPair) {
  const Json augment = {{"crop", {16, 16}}, {"multi_resolution", {{"student", {8, 8}}, {"teacher", {16, 16}}}}};
  const DataSetup setup = build_data({{"train_size", 4}, {"val_size", 1}, {"image_size", {20, 20}}}, augment, 2);
  const Batch b = setup.train_loader->make_batch(0, 1);
  EXPECT_EQ(b.images.shape(), (Shape{2, 3, 8, 8}));
  EXPECT_EQ(b.teacher_images.shape(), (Shape{2, 3, 16, 16}));
  EXPECT_EQ(b.teacher_labels.shape(), (Shape{2, 16, 16}));
}

TEST(DataConfig, BuildsFileDatasets) {
  const DataSetup setup =
      build_data({{"dataset", "cityscapes"}, {"root", fixture("cityscapes")}, {"train_size", 2}, {"workers", 0}},
                 {{"crop", {8, 8}}}, 2);
  EXPECT_EQ(setup.train_set->size(), 2);
  EXPECT_EQ(setup.val_set->size(), 1);
  EXPECT_EQ(setup.train_set->class_names()[0], "road");
  const Batch b = setup.train_loader->make_batch(0, 0);
  EXPECT_EQ(b.labels.shape(), (Shape{2, 8, 8}));
  EXPECT_TRUE(testing::throws_mentioning(
      [] { build_data({{"dataset", "camvid"}, {"root", fixture("camvid")}, {"val_size", 5}}, nullptr, 1); },
      {"data.val_size", "5 samples", "has 1"}));
  EXPECT_TRUE(testing::throws_mentioning(
      [] { build_data({{"dataset", "voc"}, {"root", "/no/voc"}}, nullptr, 1); }, {"voc", "/no/voc"}));
}

TEST(DataConfig, VaryingScaleNeedsACropForBatches) {
  const Json data = {{"train_size", 4}, {"val_size", 1}, {"image_size", {16, 16}}};
  EXPECT_TRUE(testing::throws_mentioning([&] { build_data(data, {{"scale", {0.5, 2.0}}}, 2); },
                                         {"augment.scale", "augment.crop"}));
  EXPECT_NO_THROW(build_data(data, {{"scale", {0.5, 2.0}}}, 1));
}

}  // namespace
}  // namespace cudaseg::train
