// The loader: order fixed by the seed whatever the worker count, epochs,
// drop_last, exact resume, and errors from worker threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "common/testing.h"
#include "train/loader.h"
#include "train/synthetic.h"

namespace cudaseg::train {
namespace {

DatasetPtr scenes(int64_t size) {
  SyntheticOptions o;
  o.num_classes = 5;
  o.size = size;
  o.height = 24;
  o.width = 32;
  o.seed = 2;
  return std::make_shared<SyntheticDataset>(o);
}

TransformPtr augment() {
  AugmentOptions o;
  o.scale_min = 0.75;
  o.scale_max = 1.5;
  o.crop = {16, 20};
  o.flip = true;
  o.jitter = {0.3, 0.3, 0.3, 0.05, 0.5};
  o.seed = 9;
  return std::make_shared<TrainTransform>(o);
}

LoaderOptions loader_options(int workers, int64_t batch = 4, bool drop_last = true) {
  LoaderOptions o;
  o.batch_size = batch;
  o.workers = workers;
  o.drop_last = drop_last;
  o.seed = 5;
  return o;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

bool same_batch(const Batch& a, const Batch& b) {
  return a.ids == b.ids && same_bytes(a.images, b.images) && same_bytes(a.labels, b.labels);
}

std::vector<Batch> run_epochs(int workers, int epochs) {
  Loader loader(scenes(18), augment(), loader_options(workers));
  std::vector<Batch> out;
  for (int e = 0; e < epochs; ++e) {
    while (std::optional<Batch> b = loader.next()) out.push_back(std::move(*b));
  }
  return out;
}

TEST(LoaderTest, BatchesDoNotDependOnTheWorkerCount) {
  const std::vector<Batch> serial = run_epochs(0, 2);
  ASSERT_EQ(serial.size(), 8u);  // 18 samples, batches of 4, drop_last: 4 per epoch
  EXPECT_EQ(serial[0].images.shape(), (Shape{4, 3, 16, 20}));
  EXPECT_EQ(serial[0].labels.shape(), (Shape{4, 16, 20}));
  EXPECT_EQ(serial[0].images.dtype(), DType::f32);
  EXPECT_EQ(serial[0].labels.dtype(), DType::i64);
  EXPECT_FALSE(serial[0].teacher_images.defined());
  for (int workers : {1, 3}) {
    const std::vector<Batch> threaded = run_epochs(workers, 2);
    ASSERT_EQ(threaded.size(), serial.size());
    for (size_t i = 0; i < serial.size(); ++i) EXPECT_TRUE(same_batch(serial[i], threaded[i])) << workers << " " << i;
  }
}

TEST(LoaderTest, EachEpochIsADifferentPermutation) {
  Loader loader(scenes(12), augment(), loader_options(2, 3));
  std::vector<std::vector<int64_t>> orders;
  for (int64_t e = 0; e < 3; ++e) {
    std::vector<int64_t> order;
    for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
      const std::vector<int64_t> idx = loader.batch_indices(e, b);
      order.insert(order.end(), idx.begin(), idx.end());
    }
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(sorted[i], i);
    orders.push_back(order);
  }
  EXPECT_NE(orders[0], orders[1]);
  EXPECT_NE(orders[1], orders[2]);
  // The ids of the batches next() returns follow the same order.
  const std::optional<Batch> first = loader.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->ids[0], "synthetic_train_" + std::to_string(orders[0][0]));
  // The same sample gets a different augmentation in another epoch.
  Loader no_shuffle(scenes(12), augment(), [] {
    LoaderOptions o = loader_options(0, 3);
    o.shuffle = false;
    return o;
  }());
  EXPECT_EQ(no_shuffle.batch_indices(4, 1), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_FALSE(same_bytes(no_shuffle.make_batch(0, 0).images, no_shuffle.make_batch(1, 0).images));
}

TEST(LoaderTest, DropLastAndTheShortLastBatch) {
  Loader dropping(scenes(10), augment(), loader_options(1, 4, true));
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
  Loader keeping(scenes(10), augment(), loader_options(1, 4, false));
  EXPECT_EQ(keeping.batches_per_epoch(), 3);
  std::vector<int64_t> sizes;
  std::set<std::string> ids;
  while (std::optional<Batch> b = keeping.next()) {
    sizes.push_back(b->images.size(0));
    ids.insert(b->ids.begin(), b->ids.end());
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(ids.size(), 10u);
}

TEST(LoaderTest, EpochEndsThenTheNextBegins) {
  Loader loader(scenes(8), augment(), loader_options(2));
  EXPECT_EQ(loader.position().epoch, 0);
  ASSERT_TRUE(loader.next());
  EXPECT_EQ(loader.position().batch, 1);
  ASSERT_TRUE(loader.next());
  EXPECT_EQ(loader.position().batch, 2);
  EXPECT_FALSE(loader.next());
  EXPECT_EQ(loader.position().epoch, 1);
  EXPECT_EQ(loader.position().batch, 0);
  const std::optional<Batch> b = loader.next();
  ASSERT_TRUE(b);
  EXPECT_TRUE(same_batch(*b, loader.make_batch(1, 0)));
}

TEST(LoaderTest, ResumesExactlyFromAPosition) {
  const std::vector<Batch> reference = run_epochs(2, 2);  // 4 batches per epoch
  Loader resumed(scenes(18), augment(), loader_options(3));
  resumed.seek(1, 2);
  EXPECT_EQ(resumed.position().epoch, 1);
  EXPECT_EQ(resumed.position().batch, 2);
  for (size_t i = 6; i < 8; ++i) {
    const std::optional<Batch> b = resumed.next();
    ASSERT_TRUE(b);
    EXPECT_TRUE(same_batch(*b, reference[i])) << i;
  }
  EXPECT_FALSE(resumed.next());
  // Seeking back mid-epoch, after batches were already prefetched, still gives the reference.
  resumed.seek(0, 1);
  ASSERT_TRUE(resumed.next());
  resumed.seek(0, 3);
  const std::optional<Batch> b = resumed.next();
  ASSERT_TRUE(b);
  EXPECT_TRUE(same_batch(*b, reference[3]));
  // The end of an epoch is a valid position.
  resumed.seek(0, 4);
  EXPECT_FALSE(resumed.next());
  EXPECT_EQ(resumed.position().epoch, 1);
}

TEST(LoaderTest, MultiResolutionBatchesCarryTheTeacherViews) {
  AugmentOptions o;
  o.crop = {16, 20};
  o.student = {8, 10};
  o.teacher = {24, 30};
  Loader loader(scenes(4), std::make_shared<TrainTransform>(o), loader_options(1, 2));
  const std::optional<Batch> b = loader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->images.shape(), (Shape{2, 3, 8, 10}));
  EXPECT_EQ(b->labels.shape(), (Shape{2, 8, 10}));
  EXPECT_EQ(b->teacher_images.shape(), (Shape{2, 3, 24, 30}));
  EXPECT_EQ(b->teacher_labels.shape(), (Shape{2, 24, 30}));
}

// A dataset whose sample 3 cannot be read and whose sample 5 has another size.
class Faulty : public Dataset {
 public:
  int64_t size() const override { return 8; }
  Sample get(int64_t index) const override {
    CUDASEG_CHECK(index != 3, "cannot read sample file 'three.png'");
    Sample s;
    s.id = "s" + std::to_string(index);
    const int64_t w = index == 5 ? 9 : 8;
    s.image = Tensor::full({6, w, 3}, 40.0 + index, DType::u8);
    s.label = Tensor::zeros({6, w}, DType::i64);
    return s;
  }
  int64_t num_classes() const override { return 2; }
  std::string name() const override { return "faulty"; }
};

TEST(LoaderTest, ErrorsFromWorkersReachTheCaller) {
  LoaderOptions o = loader_options(2, 2);
  o.shuffle = false;
  Loader loader(std::make_shared<Faulty>(), std::make_shared<ValTransform>(std::array<float, 3>{0, 0, 0},
                                                                           std::array<float, 3>{1, 1, 1}),
                o);
  ASSERT_TRUE(loader.next());  // samples 0, 1
  EXPECT_TRUE(testing::throws_mentioning([&] { loader.next(); }, {"three.png", "faulty sample 3", "batch 1"}));
  EXPECT_TRUE(testing::throws_mentioning([&] { loader.next(); }, {"'s5'", "[3, 6, 9]", "[3, 6, 8]", "augment.crop"}));
  ASSERT_TRUE(loader.next());  // samples 6, 7: the loader carries on
}

TEST(LoaderTest, BadArgumentsAreErrors) {
  EXPECT_TRUE(testing::throws_mentioning([] { Loader l(scenes(3), augment(), loader_options(0, 4)); },
                                         {"3 samples", "batch of 4"}));
  EXPECT_TRUE(testing::throws_mentioning([] { Loader l(scenes(3), augment(), loader_options(0, 0)); },
                                         {"batch_size", "0"}));
  Loader loader(scenes(8), augment(), loader_options(0));
  EXPECT_TRUE(testing::throws_mentioning([&] { loader.seek(0, 3); }, {"batch 3", "2 batches per epoch"}));
  EXPECT_TRUE(testing::throws_mentioning([&] { loader.batch_indices(0, 2); }, {"no batch 2"}));
}

// Counts the samples read, to see what the workers build unasked.
class Counting : public Dataset {
 public:
  explicit Counting(DatasetPtr base) : base_(std::move(base)) {}
  int64_t size() const override { return base_->size(); }
  Sample get(int64_t index) const override {
    ++reads;
    return base_->get(index);
  }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::string name() const override { return "counting"; }
  mutable std::atomic<int64_t> reads{0};

 private:
  DatasetPtr base_;
};

TEST(LoaderTest, WorkersBuildOnlyEpochsThatWereAskedFor) {
  auto counting = std::make_shared<Counting>(scenes(8));
  Loader loader(counting, augment(), loader_options(2, 4));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(counting->reads.load(), 0);  // nothing before the first next()
  while (loader.next()) {
  }
  EXPECT_EQ(counting->reads.load(), 8);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(counting->reads.load(), 8);  // epoch 1 waits for the next call
  ASSERT_TRUE(loader.next());
  EXPECT_GE(counting->reads.load(), 12);
}

TEST(LoaderTest, DestroysCleanlyWhileWorkersPrefetch) {
  for (int i = 0; i < 5; ++i) {
    Loader loader(scenes(40), augment(), loader_options(3, 2));
    ASSERT_TRUE(loader.next());
  }
}

}  // namespace
}  // namespace cudaseg::train
