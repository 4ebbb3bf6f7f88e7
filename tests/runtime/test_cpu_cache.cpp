#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/cpu_cache.h"
#include "runtime/tensor.h"

using namespace cudaseg;

TEST(CpuCache, SizeClassesAreTightAndMonotonic) {
  EXPECT_EQ(cpu_cache_class(1000), 1000u);  // below the cache: untouched
  size_t previous = 0;
  for (size_t n = kCpuCacheMin; n < (size_t{64} << 20); n += n / 7 + 4093) {
    const size_t cls = cpu_cache_class(n);
    EXPECT_GE(cls, n);
    EXPECT_LE(cls, n + n / 8 + 1) << n;
    EXPECT_GE(cls, previous);
    previous = cls;
  }
}

TEST(CpuCache, FreedLargeBlocksAreReused) {
  cpu_cache_empty();
  const size_t n = (size_t{3} << 20) + 123;
  const CpuCacheStats before = cpu_cache_stats();
  void* a = cpu_cache_alloc(n, 64);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  cpu_cache_free(a, n);
  EXPECT_EQ(cpu_cache_stats().cached_bytes, cpu_cache_class(n));
  void* b = cpu_cache_alloc(n - 100, 64);  // same class
  EXPECT_EQ(a, b);
  EXPECT_EQ(cpu_cache_stats().hits, before.hits + 1);
  EXPECT_EQ(cpu_cache_stats().cached_bytes, 0u);
  cpu_cache_free(b, n - 100);
  cpu_cache_empty();
  EXPECT_EQ(cpu_cache_stats().cached_bytes, 0u);
}

TEST(CpuCache, TensorsOfOneShapeStopMissing) {
  cpu_cache_empty();
  { Tensor t = Tensor::empty({4, 64, 64, 64}, DType::f32); }
  const uint64_t misses = cpu_cache_stats().misses;
  for (int i = 0; i < 3; ++i) {
    Tensor t = Tensor::empty({4, 64, 64, 64}, DType::f32);
    t.fill_(1.0);
  }
  EXPECT_EQ(cpu_cache_stats().misses, misses);
  cpu_cache_empty();
}

namespace {

// This process's resident set, from /proc/self/status.
int64_t rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  return -1;
}

constexpr int64_t kMiB = int64_t{1} << 20;

}  // namespace

TEST(CpuCache, UncachedBlocksGoBackToTheSystemAtOnce) {
  cpu_cache_empty();
  const int64_t before = rss_bytes();
  const size_t n = size_t{64} << 20;
  void* p = cpu_uncached_alloc(n, 64);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  std::memset(p, 1, n);
  EXPECT_GE(rss_bytes() - before, 60 * kMiB);
  cpu_uncached_free(p, n);
  EXPECT_LT(rss_bytes() - before, 4 * kMiB);
  EXPECT_EQ(cpu_cache_stats().cached_bytes, 0u);
}

// glibc serves blocks under its sliding mmap threshold (raised to the size of
// any mmapped block freed, up to 32 MB) from the heap, where a later small
// allocation above them kept their pages resident after free(): emptying the
// cache then gave nothing back.
TEST(CpuCache, EmptyingGivesBlocksBelowGlibcsMmapThresholdBack) {
  cpu_cache_empty();
  std::free(std::malloc(size_t{24} << 20));  // raises glibc's threshold to 24 MB
  const int64_t before = rss_bytes();
  const size_t n = size_t{1} << 20;
  std::vector<void*> blocks;
  for (int i = 0; i < 16; ++i) {
    blocks.push_back(cpu_cache_alloc(n, 64));
    std::memset(blocks.back(), 1, n);
  }
  void* pin = std::malloc(size_t{200} << 10);
  std::memset(pin, 1, size_t{200} << 10);
  EXPECT_GE(rss_bytes() - before, 15 * kMiB);
  for (void* b : blocks) cpu_cache_free(b, n);
  cpu_cache_empty();
  EXPECT_LT(rss_bytes() - before, 2 * kMiB);
  std::free(pin);
}

TEST(CpuCache, ReleasingFreeHostMemoryEmptiesTheCache) {
  const size_t n = size_t{2} << 20;
  cpu_cache_free(cpu_cache_alloc(n, 64), n);
  EXPECT_GT(cpu_cache_stats().cached_bytes, 0u);
  release_free_host_memory();
  EXPECT_EQ(cpu_cache_stats().cached_bytes, 0u);
}
