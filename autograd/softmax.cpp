#include "autograd/softmax.h"

#include "autograd/engine.h"
#include "ops/softmax.h"

namespace cudaseg::fn {
namespace {

using autograd::Node;
using autograd::SavedTensor;

struct SoftmaxBackward : Node {
  const char* name() const override { return log ? "LogSoftmaxBackward" : "SoftmaxBackward"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& g) override {
    const Tensor y = output.unpack(*this);
    return {log ? ops::log_softmax_backward(g[0], y, dim) : ops::softmax_backward(g[0], y, dim)};
  }
  void release_saved() override { output.reset(); }
  SavedTensor output;
  int64_t dim = 0;
  bool log = false;
};

Tensor record(const Tensor& input, Tensor out, int64_t dim, bool log) {
  if (!autograd::any_requires_grad({&input})) return out;
  auto node = std::make_shared<SoftmaxBackward>();
  // Detached: the output must not own its own grad_fn (a reference cycle).
  node->output = SavedTensor(out.detach());
  node->dim = dim;
  node->log = log;
  autograd::record(node, {&input}, {&out});
  return out;
}

}  // namespace

Tensor softmax(const Tensor& input, int64_t dim) { return record(input, ops::softmax(input, dim), dim, false); }
Tensor log_softmax(const Tensor& input, int64_t dim) {
  return record(input, ops::log_softmax(input, dim), dim, true);
}

}  // namespace cudaseg::fn
