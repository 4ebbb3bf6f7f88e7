// The CUDA runtime layer: devices, streams, events and the caching allocator.
// Every function exists in every build; without the CUDA backend, or without a
// driver or device, device_count() is 0 and the rest throw cudaseg::Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg::gpu {

// True when the library was built with the CUDA backend.
bool compiled();
// Usable CUDA devices; 0 when not compiled, no driver, or no device (never throws).
int device_count();
// Throws unless `index` names a usable device.
void check_device(int index);

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t total_memory = 0;
  int multiprocessors = 0;
};
DeviceInfo device_info(int index);
void synchronize(int device);

// A CUDA stream. The default-constructed Stream is the legacy default stream
// of device 0; created streams are destroyed with their last copy.
class Stream {
 public:
  Stream() = default;
  static Stream create(int device);
  static Stream default_stream(int device);
  // The stream new work and allocations on `device` go to, for this thread.
  static Stream current(int device);
  static void set_current(const Stream& stream);

  void synchronize() const;
  void* handle() const { return handle_; }  // a cudaStream_t
  int device() const { return device_; }
  bool operator==(const Stream& o) const { return handle_ == o.handle_ && device_ == o.device_; }

 private:
  void* handle_ = nullptr;
  int device_ = 0;
  std::shared_ptr<void> owner_;
};

// Makes `stream` current on its device for the guard's lifetime.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream previous_;
};

// A timing event.
class Event {
 public:
  explicit Event(int device = 0);
  void record(const Stream& stream);
  void synchronize() const;
  bool done() const;
  float elapsed_ms(const Event& end) const;  // from this event to `end`

 private:
  std::shared_ptr<void> event_;
  int device_;
};

// ---- caching allocator: one pool per device and stream ----
struct Block {
  void* ptr = nullptr;
  size_t size = 0;  // rounded size of the cached block
  int device = 0;
  void* stream = nullptr;
};
// Memory for `nbytes` on `device`, on that device's current stream. A freed
// block of the same stream is reused when it fits; otherwise cudaMalloc, and on
// out-of-memory the cache is emptied and the call retried before throwing.
Block allocate(size_t nbytes, int device);
void release(const Block& block);

struct AllocatorStats {
  int64_t allocated_bytes = 0;       // in live tensors (rounded sizes)
  int64_t peak_allocated_bytes = 0;
  int64_t reserved_bytes = 0;        // held from cudaMalloc, live or cached
  int64_t peak_reserved_bytes = 0;
  int64_t allocations = 0;           // calls to allocate
  int64_t cache_hits = 0;            // allocations served from the cache
  int64_t device_mallocs = 0;        // cudaMalloc calls
  int64_t device_frees = 0;          // cudaFree calls
};
AllocatorStats allocator_stats(int device);
void reset_peak_stats(int device);
// Returns every cached, unused block to the driver.
void empty_cache();

// Synchronous copies on the current stream of the device involved.
void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device);
void copy_device_to_host(void* dst, const void* src, size_t nbytes, int device);
void copy_device_to_device(void* dst, const void* src, size_t nbytes, int device);

}  // namespace cudaseg::gpu
CUDASEG_API_END
