// Shared by the harnesses: reading every element of what a reader returned,
// so that a view reaching past its bytes shows up under AddressSanitizer.
#pragma once

#include <cstdint>

#include "runtime/error.h"
#include "weights/tensor_dict.h"

namespace cudaseg::weights::fuzz {

inline uint64_t touch(const TensorDict& tensors) {
  uint64_t sum = 0;
  for (const auto& entry : tensors) {
    for (uint8_t b : contiguous_bytes(entry.second)) sum += b;
  }
  return sum;
}

}  // namespace cudaseg::weights::fuzz
