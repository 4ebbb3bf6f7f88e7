#include "runtime/cpu_cache.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "runtime/error.h"

namespace cudaseg {
namespace {

size_t limit_from_env() {
  if (const char* env = std::getenv("CUDASEG_CPU_CACHE_MB")) {
    char* end = nullptr;
    const long long mb = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && mb >= 0) return static_cast<size_t>(mb) << 20;
  }
  return size_t{2048} << 20;
}

struct Cache {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> free;  // by size class
  CpuCacheStats stats;
  Cache() { stats.limit_bytes = limit_from_env(); }
};

Cache& cache() {
  // Leaked on purpose: tensors in static storage may be freed after main.
  static Cache* c = new Cache();
  return *c;
}

void* raw_alloc(size_t nbytes, size_t alignment) {
  if (nbytes >= kCpuCacheMin) {
    static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    CUDASEG_CHECK(alignment <= page, "host allocation: alignment ", alignment, " exceeds the page size ", page);
    void* ptr = ::mmap(nullptr, nbytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptr == MAP_FAILED) CUDASEG_FAIL_OOM("out of host memory mapping ", nbytes, " bytes");
    return ptr;
  }
  const size_t rounded = (nbytes + alignment - 1) / alignment * alignment;
  void* ptr = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded);
  if (ptr == nullptr) CUDASEG_FAIL_OOM("out of host memory allocating ", nbytes, " bytes");
  return ptr;
}

void raw_free(void* ptr, size_t nbytes) {
  if (nbytes >= kCpuCacheMin)
    ::munmap(ptr, nbytes);
  else
    std::free(ptr);
}

}  // namespace

size_t cpu_cache_class(size_t nbytes) {
  if (nbytes < kCpuCacheMin) return nbytes;
  size_t pow2 = kCpuCacheMin;  // the largest power of two <= nbytes
  while (pow2 * 2 <= nbytes) pow2 <<= 1;
  const size_t step = pow2 / 8;
  return (nbytes + step - 1) / step * step;
}

void* cpu_cache_alloc(size_t nbytes, size_t alignment) {
  if (nbytes < kCpuCacheMin) return raw_alloc(nbytes, alignment);
  const size_t cls = cpu_cache_class(nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free.find(cls);
    if (it != c.free.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      c.stats.cached_bytes -= cls;
      ++c.stats.hits;
      return ptr;
    }
    ++c.stats.misses;
  }
  return raw_alloc(cls, alignment);
}

void cpu_cache_free(void* ptr, size_t nbytes) {
  if (ptr == nullptr) return;
  if (nbytes >= kCpuCacheMin) {
    const size_t cls = cpu_cache_class(nbytes);
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.stats.cached_bytes + cls <= c.stats.limit_bytes) {
      c.free[cls].push_back(ptr);
      c.stats.cached_bytes += cls;
      return;
    }
    raw_free(ptr, cls);
    return;
  }
  raw_free(ptr, nbytes);
}

void cpu_cache_empty() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& [cls, blocks] : c.free)
    for (void* p : blocks) raw_free(p, cls);
  c.free.clear();
  c.stats.cached_bytes = 0;
}

void* cpu_uncached_alloc(size_t nbytes, size_t alignment) { return raw_alloc(nbytes, alignment); }

void cpu_uncached_free(void* ptr, size_t nbytes) {
  if (ptr != nullptr) raw_free(ptr, nbytes);
}

void release_free_host_memory() {
  cpu_cache_empty();
  ::malloc_trim(0);
}

CpuCacheStats cpu_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

}  // namespace cudaseg
