// How an InferenceSession runs its net: one memory plan per input shape
// (runtime/memory_plan.h) and, on CUDA, one captured CUDA graph per input
// shape (runtime/cuda_graph.h).
//
// Eager path (CPU, or CUDA without graphs): the call runs on the current
// stream inside the shape's PlanScope; the first call of a shape records,
// later ones take every intermediate tensor from the arena. The returned
// tensor is the one allocation of a call, never arena memory.
//
// Graph path (CUDA with graphs): every call runs on the session's own stream
// and ends with that stream synchronized. Call 1 of a shape runs eagerly and
// records the plan (it also fills the cuDNN algorithm cache, which capture
// must not do); call 2 copies the input into a static input tensor and
// captures the forward with every intermediate served from the plan's arena,
// which the graph then owns (nothing else is ever given that memory); the
// graph's output tensor stays with it. Later calls copy the input in, replay
// and return a copy of the static output made (and finished) on the caller's
// stream, so a result the caller keeps is not overwritten by the next replay. Work that
// cannot be captured (a host synchronization inside an op) ends the capture
// with an error: that shape then runs eagerly on the session stream, after
// one warning line. A capture that needed memory outside the arena is thrown
// away and tried again after the plan has been recorded anew. While a
// forward hook is installed (layer dumps, per-layer timing, MAC counting)
// calls run the plain module forward, with neither plan nor graph.
//
// run() may be called from several threads: the calls run one at a time,
// as the plans, graphs and the shape table belong to the runner.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "nn/module.h"
#include "runtime/cuda_graph.h"
#include "runtime/memory_plan.h"

namespace cudaseg::infer {

// What the last forward did.
struct ForwardStats {
  int64_t heap_allocations = 0;    // intermediate tensors from the allocator
  int64_t arena_allocations = 0;   // intermediate tensors from the shape's arena
  int64_t result_allocations = 0;  // the returned tensor
  size_t arena_bytes = 0;          // the arena of this input shape
  bool recorded = false;           // recorded the shape's plan
  bool graph_captured = false;     // captured the shape's CUDA graph
  bool graph_replayed = false;     // ran the shape's CUDA graph
  bool graph_failed = false;       // the shape cannot be captured and runs eagerly
};

class ForwardRunner {
 public:
  // Shapes kept (plans, graphs); the least recently used goes beyond it.
  static constexpr size_t kMaxShapes = 16;

  ForwardRunner(Device device, DType dtype, bool plan_memory, bool cuda_graphs);
  ~ForwardRunner();
  ForwardRunner(const ForwardRunner&) = delete;
  ForwardRunner& operator=(const ForwardRunner&) = delete;
  // net(input) with the input moved to the device and dtype first.
  Tensor run(nn::Module& net, const Tensor& input);
  // The statistics of the last run() that finished, on any thread.
  ForwardStats last() const;

 private:
  struct PerShape;
  PerShape& shape_for(const Tensor& input);
  Tensor eager(nn::Module& net, const Tensor& input, PerShape& shape);
  Tensor on_graph_stream(nn::Module& net, const Tensor& input, PerShape& shape);
  bool capture(nn::Module& net, const Tensor& input, PerShape& shape);
  void note_plan(const MemoryPlan& plan);

  mutable std::mutex mutex_;  // one run() at a time; guards every member below
  Device device_;
  DType dtype_;
  bool plan_memory_;
  bool cuda_graphs_;
  gpu::Stream stream_;  // created by the first graph-path call
  std::map<std::vector<int64_t>, std::unique_ptr<PerShape>> shapes_;
  uint64_t calls_ = 0;
  ForwardStats last_;
};

}  // namespace cudaseg::infer
