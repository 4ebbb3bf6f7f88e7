#include "train/loader.h"

#include <cstring>

namespace cudaseg::train {
namespace {

std::string size_str(const Tensor& t) { return shape_str(t.shape()); }

// Stacks equally sized tensors into one with a leading batch dimension.
Tensor stack(const std::vector<Tensor>& parts, const std::vector<std::string>& ids, const char* what) {
  const Tensor& first = parts.front();
  for (size_t i = 1; i < parts.size(); ++i)
    CUDASEG_CHECK(parts[i].shape() == first.shape(), "loader: the ", what, " of sample '", ids[i], "' is ",
                  size_str(parts[i]), " but that of '", ids[0], "' is ", size_str(first),
                  "; samples in a batch need one size (set augment.crop, or use batch size 1)");
  Shape shape{static_cast<int64_t>(parts.size())};
  shape.insert(shape.end(), first.shape().begin(), first.shape().end());
  Tensor out = Tensor::empty(shape, first.dtype());
  const size_t bytes = first.nbytes();
  auto* dst = static_cast<unsigned char*>(out.raw_data());
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor part = parts[i].contiguous();
    std::memcpy(dst + i * bytes, part.raw_data(), bytes);
  }
  return out;
}

}  // namespace

Loader::Loader(DatasetPtr dataset, TransformPtr transform, LoaderOptions options)
    : dataset_(std::move(dataset)), transform_(std::move(transform)), options_(options) {
  CUDASEG_CHECK(dataset_ != nullptr, "loader: no dataset");
  CUDASEG_CHECK(transform_ != nullptr, "loader: no transform");
  CUDASEG_CHECK(options_.batch_size >= 1, "loader: batch_size must be >= 1, got ", options_.batch_size);
  CUDASEG_CHECK(options_.workers >= 0, "loader: workers must be >= 0, got ", options_.workers);
  CUDASEG_CHECK(options_.prefetch >= 0, "loader: prefetch must be >= 0, got ", options_.prefetch);
  CUDASEG_CHECK(options_.world >= 1 && options_.rank >= 0 && options_.rank < options_.world, "loader: rank ",
                options_.rank, " of world ", options_.world, " is out of range");
  CUDASEG_CHECK(options_.world == 1 || options_.drop_last ||
                    dataset_->size() % (options_.batch_size * options_.world) == 0,
                "loader: ", dataset_->size(), " samples end in a partial batch of ", options_.batch_size * options_.world,
                ", which ", options_.world, " ranks cannot share evenly; set data.drop_last true");
  CUDASEG_CHECK(batches_per_epoch() >= 1, "loader: dataset '", dataset_->name(), "' has ", dataset_->size(),
                " samples, fewer than one batch of ", options_.batch_size, " (with drop_last)");
  prefetch_ = options_.prefetch > 0 ? options_.prefetch : 2 * std::max(1, options_.workers);
  order_ = std::make_shared<const std::vector<int64_t>>(epoch_order(0));
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

int64_t Loader::batches_per_epoch() const {
  const int64_t n = dataset_->size(), b = options_.batch_size * options_.world;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(dataset_->size()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  if (options_.shuffle) {
    RandomStream rng(options_.seed, RandomDomain::shuffle, static_cast<uint64_t>(epoch));
    for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) std::swap(order[i], order[rng.integer(0, i)]);
  }
  return order;
}

std::vector<int64_t> Loader::batch_indices(int64_t epoch, int64_t batch) const {
  CUDASEG_CHECK(epoch >= 0 && batch >= 0 && batch < batches_per_epoch(), "loader: no batch ", batch, " in epoch ",
                epoch, " (", batches_per_epoch(), " batches per epoch)");
  const std::vector<int64_t> order = epoch_order(epoch);
  const int64_t begin = (batch * options_.world + options_.rank) * options_.batch_size;
  const int64_t end = std::min(begin + options_.batch_size, static_cast<int64_t>(order.size()));
  return std::vector<int64_t>(order.begin() + begin, order.begin() + end);
}

Batch Loader::make_batch(int64_t epoch, int64_t batch) const {
  CUDASEG_CHECK(epoch >= 0 && batch >= 0 && batch < batches_per_epoch(), "loader: no batch ", batch, " in epoch ",
                epoch, " (", batches_per_epoch(), " batches per epoch)");
  return build(epoch, batch, epoch_order(epoch));
}

Batch Loader::build(int64_t epoch, int64_t batch, const std::vector<int64_t>& order) const {
  const int64_t begin = (batch * options_.world + options_.rank) * options_.batch_size;
  const int64_t end = std::min(begin + options_.batch_size, static_cast<int64_t>(order.size()));
  std::vector<Tensor> images, labels, teacher_images, teacher_labels;
  Batch out;
  for (int64_t p = begin; p < end; ++p) {
    const int64_t index = order[p];
    try {
      AugmentedSample s = transform_->apply(dataset_->get(index), epoch, index);
      images.push_back(s.image);
      labels.push_back(s.label);
      if (s.teacher_image.defined()) {
        teacher_images.push_back(s.teacher_image);
        teacher_labels.push_back(s.teacher_label);
      }
      out.ids.push_back(s.id);
    } catch (const Error& e) {
      throw e.with_context(detail::concat("loader: ", dataset_->name(), " sample ", index, " (epoch ", epoch,
                                          ", batch ", batch, ")"));
    }
  }
  out.images = stack(images, out.ids, "image");
  out.labels = stack(labels, out.ids, "label");
  if (!teacher_images.empty()) {
    out.teacher_images = stack(teacher_images, out.ids, "teacher image");
    out.teacher_labels = stack(teacher_labels, out.ids, "teacher label");
  }
  return out;
}

void Loader::reset_locked(int64_t epoch, int64_t batch) {
  if (epoch != epoch_ || !order_) order_ = std::make_shared<const std::vector<int64_t>>(epoch_order(epoch));
  epoch_ = epoch;
  next_return_ = batch;
  next_issue_ = batch;
  ++generation_;
  ready_.clear();
  started_ = true;
}

void Loader::seek(int64_t epoch, int64_t batch) {
  CUDASEG_CHECK(epoch >= 0 && batch >= 0 && batch <= batches_per_epoch(), "loader: cannot seek to batch ", batch,
                " of epoch ", epoch, " (", batches_per_epoch(), " batches per epoch)");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    reset_locked(epoch, batch);
  }
  work_cv_.notify_all();
}

LoaderPosition Loader::position() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {epoch_, next_return_};
}

std::optional<Batch> Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!started_) {
    started_ = true;
    work_cv_.notify_all();
  }
  if (next_return_ >= batches_per_epoch()) {
    // The workers wait for the next call: a validation loader must not build
    // batches of an epoch nobody asked for yet.
    reset_locked(epoch_ + 1, 0);
    started_ = false;
    return std::nullopt;
  }
  const int64_t batch = next_return_;
  if (threads_.empty()) {
    const int64_t epoch = epoch_;
    const std::shared_ptr<const std::vector<int64_t>> order = order_;
    lock.unlock();
    Batch out = build(epoch, batch, *order);
    lock.lock();
    ++next_return_;
    next_issue_ = next_return_;
    return out;
  }
  ready_cv_.wait(lock, [&] { return ready_.count(batch) > 0; });
  Result result = std::move(ready_.at(batch));
  ready_.erase(batch);
  ++next_return_;
  lock.unlock();
  work_cv_.notify_all();
  if (result.error) std::rethrow_exception(result.error);
  return std::move(result.batch);
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [&] {
      return stop_ || (started_ && next_issue_ < batches_per_epoch() && next_issue_ < next_return_ + prefetch_);
    });
    if (stop_) return;
    const int64_t batch = next_issue_++, epoch = epoch_;
    const uint64_t generation = generation_;
    const std::shared_ptr<const std::vector<int64_t>> order = order_;
    lock.unlock();
    Result result;
    try {
      result.batch = build(epoch, batch, *order);
    } catch (...) {
      result.error = std::current_exception();
    }
    lock.lock();
    if (generation == generation_) {
      ready_[batch] = std::move(result);
      ready_cv_.notify_all();
    }
  }
}

}  // namespace cudaseg::train
