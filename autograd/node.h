// The tape: a recorded op is a Node holding what its backward needs; its
// next_edges point at the nodes that produced its inputs (or at a leaf's
// AccumulateGrad). Tensors point at their producing node through grad_fn.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace cudaseg::autograd {

struct Node;

struct Edge {
  std::shared_ptr<Node> node;  // null: the input needs no gradient
  uint32_t input_nr = 0;       // which output of `node` the input was
  bool valid() const { return node != nullptr; }
};

struct OutputMeta {
  Shape shape;
  DType dtype = DType::f32;
  Device device;
};

struct Node {
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // Given one gradient per output (the engine fills zeros for outputs that
  // received none), returns one gradient per input edge, undefined where the
  // input needs none.
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grad_outputs) = 0;
  // Drops saved tensors once a backward without retain_graph has used them.
  virtual void release_saved() {}

  std::vector<Edge> next_edges;
  std::vector<OutputMeta> outputs;
  uint64_t sequence_nr = 0;
};

// A tensor kept for backward, with the storage version it had when saved, so
// an in-place write between forward and backward is detected rather than
// silently giving wrong gradients.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  // The saved tensor; throws if it was modified in place or already released.
  Tensor unpack(const Node& owner) const;
  void reset() {
    tensor_ = Tensor();
    released_ = true;
  }
  bool defined() const { return tensor_.defined(); }

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
  bool released_ = false;
};

}  // namespace cudaseg::autograd
