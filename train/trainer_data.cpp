#include "train/trainer_data.h"

#include "runtime/error.h"

namespace cudaseg::train {

LoaderBatches::LoaderBatches(std::shared_ptr<Loader> loader) : loader_(std::move(loader)) {
  CUDASEG_CHECK(loader_ != nullptr, "LoaderBatches: no loader");
}

Batch LoaderBatches::next() {
  std::optional<Batch> b = loader_->next();
  if (!b) b = loader_->next();  // the end of an epoch: start the next one
  CUDASEG_CHECK(b.has_value(), "training data: dataset '", loader_->dataset().name(), "' with ",
                loader_->dataset().size(), " samples yields no batch of ", loader_->options().batch_size);
  return std::move(*b);
}

nlohmann::json LoaderBatches::state() const {
  const LoaderPosition p = loader_->position();
  return {{"epoch", p.epoch}, {"batch", p.batch}};
}

void LoaderBatches::set_state(const nlohmann::json& state) {
  CUDASEG_CHECK(state.is_object() && state.contains("epoch") && state.contains("batch"),
                "training data: saved loader position ", state.dump(), " lacks epoch and batch");
  loader_->seek(state["epoch"].get<int64_t>(), state["batch"].get<int64_t>());
}

}  // namespace cudaseg::train
