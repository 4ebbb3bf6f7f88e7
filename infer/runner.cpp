#include "infer/runner.h"

#include <algorithm>
#include <exception>
#include <string>

#include "runtime/cpu_cache.h"
#include "runtime/log.h"
#include "runtime/storage.h"

namespace cudaseg::infer {

struct ForwardRunner::PerShape {
  explicit PerShape(Device device) : plan(device) {}
  MemoryPlan plan;
  uint64_t last_used = 0;
  // The graph path.
  gpu::Graph graph;
  Tensor static_input, static_output;
  std::shared_ptr<Storage> graph_arena;  // the graph's intermediates live here for the graph's lifetime
  int capture_attempts = 0;
  bool graph_failed = false;
};

namespace {
// Captures that needed memory outside the arena (a plan still settling) are
// retried this many times before the shape stays eager.
constexpr int kMaxCaptureAttempts = 3;
}  // namespace

ForwardRunner::ForwardRunner(Device device, DType dtype, bool plan_memory, bool cuda_graphs)
    : device_(device), dtype_(dtype), plan_memory_(plan_memory), cuda_graphs_(cuda_graphs && plan_memory) {}

ForwardRunner::~ForwardRunner() {
  // The cache holds this session's returned logits once the caller drops
  // them, and the work of pool threads: a process that closes its session
  // should not keep them.
  shapes_.clear();
  if (device_.is_cpu()) release_free_host_memory();
}

ForwardRunner::PerShape& ForwardRunner::shape_for(const Tensor& input) {
  std::vector<int64_t> key = input.shape();
  key.push_back(static_cast<int64_t>(input.dtype()));
  key.push_back(input.device().is_cpu() ? -1 : input.device().index);
  auto it = shapes_.find(key);
  if (it == shapes_.end()) {
    if (shapes_.size() >= kMaxShapes) {
      auto oldest = std::min_element(shapes_.begin(), shapes_.end(), [](const auto& a, const auto& b) {
        return a.second->last_used < b.second->last_used;
      });
      shapes_.erase(oldest);
    }
    it = shapes_.emplace(std::move(key), std::make_unique<PerShape>(device_)).first;
  }
  it->second->last_used = ++calls_;
  return *it->second;
}

void ForwardRunner::note_plan(const MemoryPlan& plan) {
  const PlanCallStats s = plan.last_call();
  last_.heap_allocations = s.heap_allocations;
  last_.arena_allocations = s.arena_allocations;
  last_.result_allocations = s.result_allocations;
  last_.recorded = s.recorded;
  last_.arena_bytes = plan.arena_bytes();
}

ForwardStats ForwardRunner::last() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return last_;
}

Tensor ForwardRunner::run(nn::Module& net, const Tensor& input) {
  const std::lock_guard<std::mutex> lock(mutex_);
  last_ = {};
  // A hook observes every module call, which a replay skips, and may keep or
  // time the tensors it sees: such calls take the plain path.
  if (!plan_memory_ || nn::active_forward_hook() != nullptr) return net(input.to(device_, dtype_));
  PerShape& shape = shape_for(input);
  if (device_.is_cuda() && cuda_graphs_) return on_graph_stream(net, input, shape);
  return eager(net, input, shape);
}

Tensor ForwardRunner::eager(nn::Module& net, const Tensor& input, PerShape& shape) {
  Tensor y;
  {
    PlanScope scope(shape.plan);
    const Tensor x = input.to(device_, dtype_);
    y = net(x);
  }
  note_plan(shape.plan);
  return y;
}

Tensor ForwardRunner::on_graph_stream(nn::Module& net, const Tensor& input, PerShape& shape) {
  // The input may still be in the making on the caller's stream, which the
  // session's stream does not wait for.
  if (input.device().is_cuda()) gpu::Stream::current(input.device().index).synchronize();
  if (stream_.handle() == nullptr) stream_ = gpu::Stream::create(device_.index);
  Tensor out;
  {
    gpu::StreamGuard guard(stream_);
    // Converted outside the plan, so the recording call and the capture see
    // the same sequence of allocations (a host input costs a staging copy).
    const Tensor x = input.to(device_, dtype_);
    if (shape.graph.valid()) {
      shape.static_input.copy_(x);
      shape.graph.launch(stream_);
      out = shape.static_output;
      last_.graph_replayed = true;
      last_.arena_bytes = shape.graph_arena ? shape.graph_arena->nbytes() : 0;
    } else if (!shape.graph_failed && shape.plan.ready() && capture(net, x, shape)) {
      out = shape.static_output;
    } else {
      out = eager(net, x, shape);
    }
    last_.graph_failed = shape.graph_failed;
    stream_.synchronize();
  }
  // The copy is made on the caller's stream from finished data, so its memory
  // belongs to the caller's stream; it is finished before the call returns, so
  // the next call's replay cannot overwrite the static output under it.
  Tensor result = out.clone();
  gpu::Stream::current(device_.index).synchronize();
  last_.result_allocations = 1;
  return result;
}

bool ForwardRunner::capture(nn::Module& net, const Tensor& input, PerShape& shape) {
  shape.static_input = Tensor::empty(input.shape(), dtype_, device_);
  shape.static_input.copy_(input);
  ++shape.capture_attempts;
  std::string why;
  Tensor y;
  gpu::Graph graph;
  gpu::Graph::begin_capture(stream_);
  try {
    PlanScope scope(shape.plan);
    y = net(shape.static_input);
  } catch (const std::exception& e) {
    gpu::Graph::abort_capture(stream_);
    why = e.what();
  } catch (...) {
    gpu::Graph::abort_capture(stream_);
    throw;
  }
  if (why.empty()) graph = gpu::Graph::end_capture(stream_, why);
  note_plan(shape.plan);
  const PlanCallStats s = shape.plan.last_call();
  if (why.empty() && (s.diverged || s.heap_allocations > 0)) {
    // Kernels of this graph would write memory the allocator hands out again.
    if (shape.capture_attempts < kMaxCaptureAttempts) {
      shape.static_input = Tensor();
      return false;
    }
    why = "the forward kept allocating outside its memory plan";
  }
  if (!why.empty()) {
    shape.graph_failed = true;
    shape.static_input = Tensor();
    CUDASEG_LOG_WARN("CUDA graph capture failed for input ", shape_str(input.shape()), " (", why,
                     "); that input shape runs without a graph");
    return false;
  }
  shape.graph = std::move(graph);
  shape.static_output = y;
  shape.graph_arena = shape.plan.arena();
  shape.graph.launch(stream_);
  last_.graph_captured = true;
  last_.arena_bytes = shape.graph_arena ? shape.graph_arena->nbytes() : 0;
  return true;
}

}  // namespace cudaseg::infer
