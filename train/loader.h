// The loader: batches of augmented samples built ahead on worker threads.
//
// The order is fixed by the seed: epoch e visits the samples in a Philox
// permutation keyed by (seed, e) (or in index order without shuffle), batch b
// holds positions [b * batch_size, (b + 1) * batch_size) of it, and each
// sample's augmentation is keyed by (seed, e, index). Batch b of epoch e is
// therefore the same bytes whatever the worker count or timing, and a run
// resumes exactly from a saved position.
//
// Typical use:
//   LoaderOptions options;
//   options.batch_size = 8;
//   Loader loader(dataset, transform, options);
//   loader.seek(epoch, batch);                // when resuming; else starts at (0, 0)
//   while (std::optional<Batch> b = loader.next()) { ... }  // one epoch
//   // the next call of next() starts the following epoch
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "train/augment.h"
#include "train/dataset.h"

namespace cudaseg::train {

struct LoaderOptions {
  int64_t batch_size = 8;
  bool shuffle = true;
  bool drop_last = true;  // drop the last, incomplete batch of an epoch
  int workers = 2;        // threads building batches; 0 builds them in the calling thread
  int prefetch = 0;       // batches built ahead of the consumer; 0: 2 per worker
  uint64_t seed = 0;
  // Data-parallel training: batch b of an epoch is the order's positions
  // [b, b + 1) * batch_size * world, of which rank r takes the r-th
  // batch_size, so the ranks' batches together are exactly the batch of one
  // process with batch_size * world (batch_size is per rank).
  int rank = 0;
  int world = 1;
};

// The batch that next() returns next.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
};

class Loader {
 public:
  Loader(DatasetPtr dataset, TransformPtr transform, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }
  int64_t batches_per_epoch() const;

  // Makes batch `batch` of epoch `epoch` the next one returned (0 <= batch <=
  // batches_per_epoch(); batch == batches_per_epoch() is the end of that epoch).
  void seek(int64_t epoch, int64_t batch = 0);
  LoaderPosition position() const;

  // The next batch of the current epoch, or nullopt at its end, after which
  // the position moves to batch 0 of the next epoch. An error building a batch
  // (unreadable file, sizes that differ within a batch) is rethrown here.
  std::optional<Batch> next();

  // The dataset indices of a batch, and the batch itself built in the calling
  // thread (independent of the workers and of the current position).
  std::vector<int64_t> batch_indices(int64_t epoch, int64_t batch) const;
  Batch make_batch(int64_t epoch, int64_t batch) const;

 private:
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  Batch build(int64_t epoch, int64_t batch, const std::vector<int64_t>& order) const;
  void worker_loop();
  void reset_locked(int64_t epoch, int64_t batch);

  DatasetPtr dataset_;
  TransformPtr transform_;
  LoaderOptions options_;
  int64_t prefetch_;

  mutable std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
  bool started_ = false;    // workers build nothing before a seek() or next() asks for the epoch
  uint64_t generation_ = 0;  // bumped by every reposition; older results are dropped
  int64_t epoch_ = 0;
  int64_t next_return_ = 0;  // the batch next() returns next
  int64_t next_issue_ = 0;   // the next batch a worker starts
  std::shared_ptr<const std::vector<int64_t>> order_;
  std::map<int64_t, Result> ready_;
};

}  // namespace cudaseg::train
