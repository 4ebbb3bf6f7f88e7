// Recording ops onto the tape and running backward.
//
// A differentiable op (the cudaseg::fn functions) computes its forward with
// ops::, then, when grad mode is on and an input requires grad, builds its
// Node and calls record() to link inputs and outputs. backward() walks the
// graph from a root in reverse creation order, summing gradients that meet.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "autograd/node.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::autograd {

bool grad_mode_enabled();

// Disables recording for its lifetime (inference, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any defined input requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Links `node` to `inputs` (its next_edges, in order) and makes it the grad_fn
// of `outputs`, which then require grad.
void record(const std::shared_ptr<Node>& node, const std::vector<const Tensor*>& inputs,
            const std::vector<Tensor*>& outputs);

// Backpropagates from `root`. `grad` defaults to 1 for a one-element root and
// is required otherwise. Leaves that require grad accumulate into .grad().
// Without retain_graph the saved tensors are freed, and a second backward
// through the same graph throws.
void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false);

// While a GradReadyHook lives (on this thread), every backward calls it with
// each leaf right after that leaf's .grad() received its sum for the
// backward (once per leaf per backward: the engine sums the gradients that
// meet before a leaf accumulates). Data-parallel training starts reducing a
// bucket of gradients while the rest of the backward still runs.
class GradReadyHook {
 public:
  explicit GradReadyHook(std::function<void(const Tensor& leaf)> hook);
  ~GradReadyHook();
  GradReadyHook(const GradReadyHook&) = delete;
  GradReadyHook& operator=(const GradReadyHook&) = delete;

 private:
  std::function<void(const Tensor&)> previous_;
};

}  // namespace cudaseg::autograd
CUDASEG_API_END
