// Buffer planning for a computation that runs again and again on the same
// shapes (an inference session's forward for one input shape).
//
// While a PlanScope is open on a thread, Storage::allocate on that thread for
// the plan's device goes through the plan. The first call records every
// allocation's size and lifetime (allocation to release, on one event clock)
// and takes its memory from the ordinary allocator. When the scope closes the
// plan packs the allocations released before the end into one arena: largest
// first, each at the lowest aligned offset clear of every allocation whose
// lifetime overlaps it. Later calls serve their k-th allocation from the arena
// when its size equals the recorded one.
//
// Allocations still alive when the recording scope closes (the call's
// results) are never placed in the arena: later calls take them from the
// ordinary allocator again, so a result the caller keeps is never overwritten
// by the next call. Anything unexpected in a replay (another size, more
// allocations, an arena range still in use, an arena block outliving the
// call) sends that allocation to the ordinary allocator and makes the next
// call record again; the arena such a block lives in stays alive as long as
// the block. A plan serves only the thread that opened the scope: memory
// allocated by worker threads goes to the ordinary allocator, uncounted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "runtime/device.h"

namespace cudaseg {

class Storage;

// What the last closed scope of a plan did.
struct PlanCallStats {
  int64_t heap_allocations = 0;    // from the ordinary allocator, results excluded
  int64_t arena_allocations = 0;   // served from the arena
  int64_t result_allocations = 0;  // results: from the ordinary allocator by design
  bool recorded = false;           // the call recorded (first call, or after a divergence)
  bool diverged = false;           // a replay met something the plan did not expect
};

class MemoryPlan {
 public:
  explicit MemoryPlan(Device device);
  ~MemoryPlan();
  MemoryPlan(const MemoryPlan&) = delete;
  MemoryPlan& operator=(const MemoryPlan&) = delete;

  Device device() const;
  // True once a recording call has closed and no divergence since.
  bool ready() const;
  // Bytes of the arena of the current plan (0 before the first call closes).
  size_t arena_bytes() const;
  // The arena's storage; memory that replays and captured CUDA graphs use.
  std::shared_ptr<Storage> arena() const;
  int64_t recordings() const;
  PlanCallStats last_call() const;

  // Shared with open scopes and with the blocks a call handed out, which may
  // outlive the plan (runtime/memory_plan.cpp).
  struct State;

 private:
  friend class PlanScope;
  std::shared_ptr<State> state_;
};

// Routes this thread's allocations on the plan's device through `plan` for
// the scope's lifetime. Scopes do not nest on one thread.
class PlanScope {
 public:
  explicit PlanScope(MemoryPlan& plan);
  ~PlanScope();
  PlanScope(const PlanScope&) = delete;
  PlanScope& operator=(const PlanScope&) = delete;

 private:
  std::shared_ptr<MemoryPlan::State> state_;
  int exceptions_at_open_ = 0;
};

namespace detail {
// Storage::allocate's hook: the storage from this thread's open scope, or
// null when no scope for `device` is open.
std::shared_ptr<Storage> planned_allocate(size_t nbytes, Device device);
}  // namespace detail

}  // namespace cudaseg
