// Storage: a reference-counted byte buffer on one device. Tensors are views
// (shape, strides, offset) over a shared Storage. The version counter is bumped
// by every in-place write so autograd can detect a saved tensor that changed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "runtime/device.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg {

// 64-byte aligned host memory (cache lines and AVX-512 loads), large blocks
// through the host block cache (runtime/cpu_cache.h); throws on failure.
// Freeing takes the size that was allocated.
void* cpu_aligned_alloc(size_t nbytes);
void cpu_aligned_free(void* ptr, size_t nbytes);
constexpr size_t kCpuAlignment = 64;

class Storage {
 public:
  // New memory on `device`: the aligned allocator on the host, the caching
  // allocator (current stream) on CUDA.
  // An open PlanScope on this thread for `device` serves it (runtime/memory_plan.h).
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device);
  // New memory from the allocator itself, whatever scope is open.
  static std::shared_ptr<Storage> allocate_unplanned(size_t nbytes, Device device);
  // Memory owned elsewhere (an mmap, a user buffer); `release` runs on destruction.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, Device device,
                                       std::function<void(void*)> release);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  uint64_t version() const { return version_.load(); }
  void bump_version() { ++version_; }

 private:
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> release);
  void* data_;
  size_t nbytes_;
  Device device_;
  std::function<void(void*)> release_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace cudaseg
CUDASEG_API_END
