#include "autograd/dropout.h"

#include "autograd/engine.h"
#include "ops/dropout.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

struct DropoutBackward : Node {
  const char* name() const override { return "DropoutBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    return {ops::dropout_backward(g[0], mask.unpack(*this))};
  }
  void release_saved() override { mask.reset(); }
  SavedTensor mask;
};

Tensor record(const Tensor& input, ops::DropoutResult r) {
  if (!r.mask.defined() || !autograd::any_requires_grad({&input})) return r.output;
  auto node = std::make_shared<DropoutBackward>();
  node->mask = SavedTensor(r.mask);
  autograd::record(node, {&input}, {&r.output});
  return r.output;
}

}  // namespace

Tensor dropout(const Tensor& input, double p, bool training, Generator& generator) {
  return record(input, ops::dropout(input, p, training, generator));
}

Tensor dropout2d(const Tensor& input, double p, bool training, Generator& generator) {
  return record(input, ops::dropout2d(input, p, training, generator));
}

}  // namespace cudaseg::fn
