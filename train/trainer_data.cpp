#include "train/trainer_data.h"

#include <algorithm>
#include <numeric>

#include "ops/ops.h"
#include "runtime/error.h"
#include "runtime/rng.h"

namespace cudaseg::train {

Batch collate(const std::vector<Sample>& samples, const weights::Preprocess& preprocess) {
  CUDASEG_CHECK(!samples.empty(), "collate: no samples");
  CUDASEG_CHECK(preprocess.mean.size() == 3 && preprocess.std.size() == 3,
                "collate: preprocess mean and std need 3 values");
  const Shape first = samples[0].image.shape();
  std::vector<Tensor> images, labels;
  Batch out;
  for (const auto& s : samples) {
    CUDASEG_CHECK(s.image.dim() == 3 && s.image.size(2) == 3 && s.image.shape() == first,
                  "collate: sample '", s.id, "' image ", shape_str(s.image.shape()), " (first: ", shape_str(first),
                  "); a batch needs equal [H, W, 3] images");
    CUDASEG_CHECK(s.label.dim() == 2 && s.label.size(0) == first[0] && s.label.size(1) == first[1],
                  "collate: sample '", s.id, "' label ", shape_str(s.label.shape()), " does not match its image");
    images.push_back(s.image.permute({2, 0, 1}));
    labels.push_back(s.label.to(DType::i64));
    out.ids.push_back(s.id);
  }
  const Tensor x = ops::mul(ops::to_dtype(ops::stack(images), DType::f32), preprocess.scale);
  // Images are RGB; mean and std are given in the net's channel order.
  const Tensor ordered = preprocess.channel_order == "BGR"
                             ? ops::index_select(x, 1, Tensor::from_vector({2, 1, 0}, {3}, DType::i64))
                             : x;
  const Tensor m = Tensor::from_vector(preprocess.mean, {1, 3, 1, 1});
  const Tensor s = Tensor::from_vector(preprocess.std, {1, 3, 1, 1});
  out.images = ops::div(ops::sub(ordered, m), s);
  out.labels = ops::stack(labels);
  return out;
}

ShuffledBatches::ShuffledBatches(DatasetPtr dataset, int64_t batch_size, uint64_t seed,
                                 weights::Preprocess preprocess)
    : dataset_(std::move(dataset)), batch_size_(batch_size), seed_(seed), preprocess_(std::move(preprocess)) {
  CUDASEG_CHECK(dataset_ != nullptr, "ShuffledBatches: no dataset");
  CUDASEG_CHECK(batch_size_ > 0 && dataset_->size() >= batch_size_, "ShuffledBatches: dataset '",
                dataset_->name(), "' has ", dataset_->size(), " samples, fewer than one batch of ", batch_size_);
  shuffle();
}

void ShuffledBatches::shuffle() {
  // One Philox stream per epoch, so any epoch's order is known without replaying the earlier ones.
  Generator g(seed_ ^ 0x5348554646ull, static_cast<uint64_t>(epoch_) << 32);
  const std::vector<double> keys = g.uniform({dataset_->size()}, 0.0, 1.0, DType::f64).to_vector();
  order_.resize(keys.size());
  std::iota(order_.begin(), order_.end(), 0);
  std::stable_sort(order_.begin(), order_.end(),
                   [&](int64_t a, int64_t b) { return keys[static_cast<size_t>(a)] < keys[static_cast<size_t>(b)]; });
}

Batch ShuffledBatches::next() {
  if (index_ + batch_size_ > static_cast<int64_t>(order_.size())) {
    ++epoch_;
    index_ = 0;
    shuffle();
  }
  std::vector<Sample> samples;
  for (int64_t i = 0; i < batch_size_; ++i) samples.push_back(dataset_->get(order_[static_cast<size_t>(index_ + i)]));
  index_ += batch_size_;
  return collate(samples, preprocess_);
}

nlohmann::json ShuffledBatches::state() const {
  return {{"kind", "shuffled"}, {"epoch", epoch_}, {"index", index_}, {"seed", seed_}};
}

void ShuffledBatches::set_state(const nlohmann::json& state) {
  CUDASEG_CHECK(state.value("kind", "") == "shuffled" && state.contains("epoch") && state.contains("index"),
                "ShuffledBatches: saved loader position ", state.dump(), " is not from this loader");
  CUDASEG_CHECK(state["seed"].get<uint64_t>() == seed_, "ShuffledBatches: the checkpoint was shuffled with seed ",
                state["seed"].dump(), ", this run uses ", seed_);
  epoch_ = state["epoch"].get<int64_t>();
  index_ = state["index"].get<int64_t>();
  shuffle();
}

}  // namespace cudaseg::train
