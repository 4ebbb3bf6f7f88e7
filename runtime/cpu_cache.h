// A cache of large host blocks in front of the C allocator. Activations of a
// segmentation net are tens of megabytes each; glibc returns such blocks to
// the kernel on free (mmap, or a trimmed heap top), so every forward paid a
// page fault and a zeroed page per 4 KiB it touched (18 thousand faults per
// FastSCNN forward at 512x1024, a tenth of its time). Blocks of at least
// kCpuCacheMin bytes are rounded to a size class and kept on free, up to a
// limit (CUDASEG_CPU_CACHE_MB, default 2048; 0 turns the cache off).
//
// Blocks of that size are mapped from the kernel directly and unmapped when
// they leave the cache: through glibc, a freed block under its sliding mmap
// threshold (up to 32 MB) stayed in the heap, where fragmentation kept the
// pages resident long after the cache had let the block go.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cudaseg {

constexpr size_t kCpuCacheMin = size_t{256} << 10;

struct CpuCacheStats {
  uint64_t hits = 0;          // allocations served from the cache
  uint64_t misses = 0;        // cacheable allocations that went to the C allocator
  size_t cached_bytes = 0;    // free blocks held now
  size_t limit_bytes = 0;
};

// The size a cacheable request is rounded to: a multiple of an eighth of its
// power of two (at most 12.5% more), so classes are few and reuse is likely.
size_t cpu_cache_class(size_t nbytes);
// Aligned memory of at least nbytes (a cached block when one of the class is free).
void* cpu_cache_alloc(size_t nbytes, size_t alignment);
// Returns a block from cpu_cache_alloc of the same nbytes.
void cpu_cache_free(void* ptr, size_t nbytes);
// Frees every cached block.
void cpu_cache_empty();
CpuCacheStats cpu_cache_stats();

// Aligned memory that never enters the cache: a block of kCpuCacheMin bytes
// or more is unmapped by cpu_uncached_free at once. For memory whose reuse
// the cache cannot serve (a memory plan's recording call, whose blocks of
// every size class would all stay cached beside the arena that replaces
// them) or that lives as long as its owner (an arena).
void* cpu_uncached_alloc(size_t nbytes, size_t alignment);
// Returns a block from cpu_uncached_alloc of the same nbytes.
void cpu_uncached_free(void* ptr, size_t nbytes);

// Gives the process's free host memory back to the system: the cached blocks
// and the C heap's free pages (glibc malloc_trim). For the moments after which
// the memory is not wanted again soon: a session prepared, a plan recorded, a
// session closed.
void release_free_host_memory();

}  // namespace cudaseg
