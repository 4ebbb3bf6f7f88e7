#include <gtest/gtest.h>

#include <cstdint>

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
