#include "runtime/memory_plan.h"

#include <algorithm>
#include <exception>
#include <map>
#include <mutex>
#include <vector>

#include "runtime/cpu_cache.h"
#include "runtime/error.h"
#include "runtime/storage.h"

namespace cudaseg {
namespace {

// cudaMalloc's own alignment on CUDA (cuDNN and cuBLAS like it); a cache line
// and an AVX-512 load on the host.
size_t alignment_for(Device device) { return device.is_cpu() ? kCpuAlignment : 256; }

size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

// Host memory outside the block cache, given back to the system when freed
// (runtime/cpu_cache.h); CUDA memory from its allocator as usual.
std::shared_ptr<Storage> allocate_uncached(size_t nbytes, Device device) {
  if (!device.is_cpu()) return Storage::allocate_unplanned(nbytes, device);
  void* ptr = cpu_uncached_alloc(nbytes, kCpuAlignment);
  return Storage::wrap(ptr, nbytes, device, [nbytes](void* p) { cpu_uncached_free(p, nbytes); });
}

struct Record {
  size_t size;
  int64_t begin;
  int64_t end;  // -1 while alive
};

struct Slot {
  size_t size;
  size_t offset;
  bool result;  // alive when the recording closed: never in the arena
};

// Packs the recorded lifetimes: largest first, each at the lowest offset
// clear of every placed allocation whose lifetime overlaps its own.
std::vector<Slot> pack(const std::vector<Record>& records, size_t alignment, size_t& arena_bytes) {
  std::vector<Slot> slots(records.size());
  std::vector<size_t> order;
  for (size_t k = 0; k < records.size(); ++k) {
    slots[k] = {records[k].size, 0, records[k].end < 0};
    if (!slots[k].result) order.push_back(k);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return records[a].size > records[b].size; });
  arena_bytes = 0;
  std::vector<size_t> placed;
  for (size_t k : order) {
    const Record& r = records[k];
    const size_t extent = align_up(std::max<size_t>(r.size, 1), alignment);
    std::vector<std::pair<size_t, size_t>> busy;  // offset, extent of overlapping lifetimes
    for (size_t p : placed)
      if (records[p].begin < r.end && r.begin < records[p].end)
        busy.emplace_back(slots[p].offset, align_up(std::max<size_t>(records[p].size, 1), alignment));
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [o, e] : busy) {
      if (o >= offset + extent) break;
      offset = std::max(offset, o + e);
    }
    slots[k].offset = offset;
    arena_bytes = std::max(arena_bytes, offset + extent);
    placed.push_back(k);
  }
  return slots;
}

}  // namespace

struct MemoryPlan::State {
  std::mutex mutex;
  Device device;
  // The plan.
  std::vector<Slot> slots;
  std::shared_ptr<Storage> arena;
  size_t arena_bytes = 0;
  bool ready = false;
  int64_t recordings = 0;
  PlanCallStats last;
  // The call in progress.
  bool open = false;
  uint64_t call = 0;
  int64_t clock = 0;
  size_t next = 0;
  std::vector<Record> records;
  std::map<size_t, size_t> live_arena;  // offset -> end of this call's arena blocks alive
  PlanCallStats stats;

  explicit State(Device d) : device(d) {}

  std::shared_ptr<Storage> allocate(const std::shared_ptr<State>& self, size_t nbytes);
  std::shared_ptr<Storage> record(const std::shared_ptr<State>& self, size_t nbytes);
  std::shared_ptr<Storage> replay(const std::shared_ptr<State>& self, size_t nbytes);
  void released(uint64_t of_call, size_t k, bool from_arena, size_t offset);
  void open_call();
  void close_call(bool failed);
  void drop_plan();
};

namespace {
thread_local std::shared_ptr<MemoryPlan::State> current_state;
}  // namespace

std::shared_ptr<Storage> MemoryPlan::State::allocate(const std::shared_ptr<State>& self, size_t nbytes) {
  std::lock_guard<std::mutex> lock(mutex);
  return stats.recorded ? record(self, nbytes) : replay(self, nbytes);
}

std::shared_ptr<Storage> MemoryPlan::State::record(const std::shared_ptr<State>& self, size_t nbytes) {
  // Through the block cache every size class would keep its largest number of
  // blocks alive at once (STDC1 at 1024x2048: 482 MiB cached for a 176 MiB
  // arena), all of it idle once the arena serves the replays.
  std::shared_ptr<Storage> inner = allocate_uncached(nbytes, device);
  const size_t k = records.size();
  records.push_back({nbytes, clock++, -1});
  void* data = inner->data();
  return Storage::wrap(data, nbytes, device, [self, inner, of_call = call, k](void*) mutable {
    self->released(of_call, k, false, 0);
    inner.reset();
  });
}

std::shared_ptr<Storage> MemoryPlan::State::replay(const std::shared_ptr<State>& self, size_t nbytes) {
  const size_t k = next++;
  if (!stats.diverged && k < slots.size() && slots[k].size == nbytes) {
    if (slots[k].result) {
      ++stats.result_allocations;
      return Storage::allocate_unplanned(nbytes, device);
    }
    const size_t begin = slots[k].offset;
    const size_t end = begin + std::max<size_t>(nbytes, 1);
    auto it = live_arena.lower_bound(end);
    const bool clear = it == live_arena.begin() || std::prev(it)->second <= begin;
    if (clear) {
      live_arena.emplace(begin, end);
      ++stats.arena_allocations;
      void* data = static_cast<char*>(arena->data()) + begin;
      return Storage::wrap(data, nbytes, device, [self, arena = arena, of_call = call, begin](void*) {
        self->released(of_call, 0, true, begin);
      });
    }
  }
  stats.diverged = true;
  ++stats.heap_allocations;
  return Storage::allocate_unplanned(nbytes, device);
}

void MemoryPlan::State::released(uint64_t of_call, size_t k, bool from_arena, size_t offset) {
  std::lock_guard<std::mutex> lock(mutex);
  if (!open || of_call != call) return;
  if (from_arena)
    live_arena.erase(offset);
  else
    records[k].end = clock++;
}

void MemoryPlan::State::open_call() {
  std::lock_guard<std::mutex> lock(mutex);
  CUDASEG_CHECK(!open, "PlanScope: the plan for ", device.str(), " is already in use by an open scope");
  open = true;
  ++call;
  clock = 0;
  next = 0;
  records.clear();
  live_arena.clear();
  stats = {};
  stats.recorded = !ready;
}

void MemoryPlan::State::drop_plan() {
  ready = false;
  slots.clear();
  arena.reset();
  arena_bytes = 0;
}

void MemoryPlan::State::close_call(bool failed) {
  std::shared_ptr<Storage> old_arena;  // released outside the lock
  std::lock_guard<std::mutex> lock(mutex);
  open = false;
  if (stats.recorded) {
    for (const Record& r : records) ++(r.end < 0 ? stats.result_allocations : stats.heap_allocations);
    old_arena = std::move(arena);
    drop_plan();
    if (!failed) {
      slots = pack(records, alignment_for(device), arena_bytes);
      // The replays take every intermediate from the arena: what earlier
      // unplanned calls left cached (host blocks, free heap pages) would
      // stay resident beside it unused.
      if (device.is_cpu()) release_free_host_memory();
      if (arena_bytes > 0) arena = allocate_uncached(arena_bytes, device);
      ready = true;
      ++recordings;
    }
    records.clear();
  } else {
    // An arena block alive after the call, or a shorter call than planned:
    // the plan no longer describes the call. The arena stays with its blocks.
    if (!live_arena.empty() || next != slots.size()) stats.diverged = true;
    if (stats.diverged || failed) {
      old_arena = std::move(arena);
      drop_plan();
    }
  }
  live_arena.clear();
  last = stats;
}

MemoryPlan::MemoryPlan(Device device) : state_(std::make_shared<State>(device)) {}
MemoryPlan::~MemoryPlan() = default;

Device MemoryPlan::device() const { return state_->device; }

bool MemoryPlan::ready() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->ready;
}

size_t MemoryPlan::arena_bytes() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->arena_bytes;
}

std::shared_ptr<Storage> MemoryPlan::arena() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->arena;
}

int64_t MemoryPlan::recordings() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->recordings;
}

PlanCallStats MemoryPlan::last_call() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->last;
}

PlanScope::PlanScope(MemoryPlan& plan) : state_(plan.state_) {
  CUDASEG_CHECK(current_state == nullptr, "PlanScope: a scope is already open on this thread (scopes do not nest)");
  state_->open_call();
  current_state = state_;
  exceptions_at_open_ = std::uncaught_exceptions();
}

PlanScope::~PlanScope() {
  current_state.reset();
  // A call cut short by an exception recorded or replayed only part of itself.
  state_->close_call(std::uncaught_exceptions() > exceptions_at_open_);
}

namespace detail {
std::shared_ptr<Storage> planned_allocate(size_t nbytes, Device device) {
  if (!current_state || !(current_state->device == device)) return nullptr;
  return current_state->allocate(current_state, nbytes);
}
}  // namespace detail

}  // namespace cudaseg
