// Generator: a seed and an offset into Philox streams (runtime/philox.h).
// Every draw advances the offset by the elements it used, so consecutive draws
// never overlap, and the same (seed, offset) gives the same numbers on the CPU
// and on CUDA.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"

#include "cudaseg_export.h"
CUDASEG_API_BEGIN

namespace cudaseg {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves `count` elements of the stream and returns the offset they start at.
  uint64_t advance(uint64_t count);

  // New floating tensors filled from the stream.
  Tensor uniform(const Shape& shape, double low = 0.0, double high = 1.0, DType dtype = DType::f32,
                 Device device = Device::cpu());
  Tensor normal(const Shape& shape, double mean = 0.0, double stddev = 1.0, DType dtype = DType::f32,
                Device device = Device::cpu());

 private:
  uint64_t seed_;
  uint64_t offset_;
};

}  // namespace cudaseg
CUDASEG_API_END
