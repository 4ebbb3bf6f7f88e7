// CRC-32C (Castagnoli), the checksum of checkpoint tensors: the SSE4.2
// instruction where the CPU has it (several GB/s, so verifying a load costs
// little next to reading the file), a table otherwise; both give the same value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cudaseg {

// Extends `crc` (0 to start) over `size` bytes.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace cudaseg
