#include "runtime/storage.h"

#include "runtime/alloc_limit.h"
#include "runtime/cpu_cache.h"
#include "runtime/error.h"
#include "runtime/gpu.h"
#include "runtime/memory_plan.h"

namespace cudaseg {

void* cpu_aligned_alloc(size_t nbytes) { return cpu_cache_alloc(nbytes, kCpuAlignment); }

void cpu_aligned_free(void* ptr, size_t nbytes) { cpu_cache_free(ptr, nbytes); }

Storage::Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> release)
    : data_(data), nbytes_(nbytes), device_(device), release_(std::move(release)) {}

Storage::~Storage() {
  if (release_) release_(data_);
}

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  if (auto planned = detail::planned_allocate(nbytes, device)) return planned;
  return allocate_unplanned(nbytes, device);
}

std::shared_ptr<Storage> Storage::allocate_unplanned(size_t nbytes, Device device) {
  charge_allocation(nbytes);
  if (device.is_cpu()) {
    void* ptr = cpu_aligned_alloc(nbytes);
    return std::shared_ptr<Storage>(
        new Storage(ptr, nbytes, device, [nbytes](void* p) { cpu_aligned_free(p, nbytes); }));
  }
  gpu::Block block = gpu::allocate(nbytes, device.index);
  return std::shared_ptr<Storage>(
      new Storage(block.ptr, nbytes, device, [block](void*) { gpu::release(block); }));
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, Device device,
                                       std::function<void(void*)> release) {
  return std::shared_ptr<Storage>(new Storage(data, nbytes, device, std::move(release)));
}

}  // namespace cudaseg
