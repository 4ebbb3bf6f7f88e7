#include "autograd/engine.h"

#include <atomic>
#include <limits>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "ops/binary.h"

namespace cudaseg::autograd {
namespace {

thread_local bool grad_mode = true;
thread_local std::function<void(const Tensor&)> grad_ready_hook;
std::atomic<uint64_t> next_sequence_nr{0};

// The gradient sink of a leaf: sums what arrives into the leaf's .grad().
struct AccumulateGrad : Node {
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {}
  const char* name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor leaf(leaf_);
    Tensor g = grads[0];
    Tensor old = leaf.grad();
    // A fresh tensor each time: a gradient may be shared by several inputs
    // (add passes its gradient through), and .grad() must not alias them.
    leaf.set_grad(old.defined() ? ops::add(old, g) : g.clone());
    if (grad_ready_hook) grad_ready_hook(leaf);
    return {};
  }
  std::shared_ptr<TensorImpl> leaf_;
};

Edge edge_for(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  TensorImpl& impl = t.impl();
  if (impl.grad_fn) return {impl.grad_fn, impl.output_nr};
  std::shared_ptr<Node> acc = impl.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    // A leaf's gradient is final once its sink is ready: sinks run first (the
    // engine runs the highest sequence number), so a gradient is complete,
    // and reported to a GradReadyHook, as early as the graph allows.
    acc->sequence_nr = std::numeric_limits<uint64_t>::max();
    acc->outputs.push_back({t.shape(), t.dtype(), t.device()});
    impl.grad_accumulator = acc;
  }
  return {acc, 0};
}

}  // namespace

bool grad_mode_enabled() { return grad_mode; }
NoGradGuard::NoGradGuard() : previous_(grad_mode) { grad_mode = false; }
NoGradGuard::~NoGradGuard() { grad_mode = previous_; }

GradReadyHook::GradReadyHook(std::function<void(const Tensor&)> hook) : previous_(std::move(grad_ready_hook)) {
  grad_ready_hook = std::move(hook);
}
GradReadyHook::~GradReadyHook() { grad_ready_hook = std::move(previous_); }

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_mode) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

SavedTensor::SavedTensor(const Tensor& t) : tensor_(t), version_(t.defined() ? t.storage()->version() : 0) {}

Tensor SavedTensor::unpack(const Node& owner) const {
  CUDASEG_CHECK(!released_, owner.name(), ": trying to backward through the graph a second time; "
                "the saved tensors were freed (pass retain_graph=true to the first backward)");
  if (tensor_.defined())
    CUDASEG_CHECK(tensor_.storage()->version() == version_, owner.name(), ": a tensor ",
                  shape_str(tensor_.shape()), " saved for backward was modified in place "
                  "(version ", tensor_.storage()->version(), ", saved at ", version_, ")");
  return tensor_;
}

void record(const std::shared_ptr<Node>& node, const std::vector<const Tensor*>& inputs,
            const std::vector<Tensor*>& outputs) {
  node->sequence_nr = next_sequence_nr++;
  node->next_edges.clear();
  for (const Tensor* t : inputs) node->next_edges.push_back(edge_for(*t));
  node->outputs.clear();
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    Tensor& out = *outputs[i];
    node->outputs.push_back({out.shape(), out.dtype(), out.device()});
    if (!out.defined()) continue;
    TensorImpl& impl = out.impl();
    impl.grad_fn = node;
    impl.output_nr = i;
    impl.requires_grad = true;
  }
}

void backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
  CUDASEG_CHECK(root.defined(), "backward: undefined root tensor");
  CUDASEG_CHECK(root.requires_grad(), "backward: the root ", root.str(),
                " does not require grad and has no grad_fn");
  Tensor grad = grad_in;
  if (!grad.defined()) {
    CUDASEG_CHECK(root.numel() == 1, "backward: a gradient can be created implicitly only for a "
                  "one-element output, got ", shape_str(root.shape()), "; pass grad explicitly");
    grad = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  CUDASEG_CHECK(grad.shape() == root.shape(), "backward: grad shape ", shape_str(grad.shape()),
                " differs from root shape ", shape_str(root.shape()));
  NoGradGuard no_grad;
  const Edge root_edge = edge_for(root);

  // Dependencies: how many edges point at each node of the reachable graph.
  std::unordered_map<Node*, int> deps;
  std::unordered_set<Node*> seen{root_edge.node.get()};
  std::vector<Node*> stack{root_edge.node.get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.valid()) continue;
      ++deps[e.node.get()];
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }

  auto later_first = [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) {
    return a->sequence_nr < b->sequence_nr;
  };
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>, decltype(later_first)>
      ready(later_first);
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  auto deliver = [&](const Edge& e, const Tensor& g) {
    auto& buf = buffers[e.node.get()];
    buf.resize(e.node->outputs.size());
    Tensor& slot = buf[e.input_nr];
    slot = slot.defined() ? ops::add(slot, g) : g;
  };
  deliver(root_edge, grad);
  ready.push(root_edge.node);
  std::vector<std::shared_ptr<Node>> executed;

  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.top();
    ready.pop();
    std::vector<Tensor> grads = std::move(buffers[node.get()]);
    buffers.erase(node.get());
    grads.resize(node->outputs.size());
    bool any = false;
    for (const Tensor& g : grads) any = any || g.defined();
    std::vector<Tensor> input_grads;
    if (any) {
      for (size_t i = 0; i < grads.size(); ++i)
        if (!grads[i].defined()) {
          const OutputMeta& m = node->outputs[i];
          grads[i] = Tensor::zeros(m.shape, m.dtype, m.device);
        }
      try {
        input_grads = node->apply(std::move(grads));
      } catch (const Error& e) {
        throw e.with_context(std::string("backward of ") + node->name());
      }
      executed.push_back(node);
    }
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.valid()) continue;
      if (i < input_grads.size() && input_grads[i].defined()) {
        const OutputMeta& m = e.node->outputs[e.input_nr];
        CUDASEG_CHECK(input_grads[i].shape() == m.shape, "backward of ", node->name(), ": gradient ",
                      i, " has shape ", shape_str(input_grads[i].shape()), " but ", e.node->name(),
                      " expects ", shape_str(m.shape));
        deliver(e, input_grads[i]);
      }
      if (--deps[e.node.get()] == 0) ready.push(e.node);
    }
  }
  if (!retain_graph)
    for (auto& n : executed) n->release_saved();
}

}  // namespace cudaseg::autograd
