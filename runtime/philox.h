// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11), the counter-based generator of cuRAND and PyTorch. Host and
// device share this code, so a (seed, offset) pair names the same numbers on
// both: element i of a stream starting at `offset` comes from counter
// (offset + i) / 4, lane (offset + i) % 4.
#pragma once

#include <cmath>
#include <cstdint>

#include "runtime/dtype.h"

namespace cudaseg::philox {

struct Block {
  uint32_t v[4];
};

CUDASEG_HD inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// Ten rounds over counter (c0..c3) with key (k0, k1).
CUDASEG_HD inline Block philox4x32_10(Block ctr, uint32_t k0, uint32_t k1) {
  uint32_t c0 = ctr.v[0], c1 = ctr.v[1], c2 = ctr.v[2], c3 = ctr.v[3];
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Block{{c0, c1, c2, c3}};
}

// The streams use a 64-bit counter and the seed as key.
CUDASEG_HD inline Block philox4x32_10(uint64_t counter, uint64_t seed) {
  return philox4x32_10(Block{{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u}},
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

CUDASEG_HD inline uint32_t bits(uint64_t seed, uint64_t index) {
  return philox4x32_10(index >> 2, seed).v[index & 3];
}

// Uniform in [0, 1) with 24 random bits: exact integer arithmetic, so the
// host and the device agree bit for bit.
CUDASEG_HD inline float uniform(uint64_t seed, uint64_t index) {
  return static_cast<float>(bits(seed, index) >> 8) * (1.0f / 16777216.0f);
}

// Standard normal by Box-Muller on the two 32-bit words of one pair: element i
// uses indices 2i and 2i+1. Computed in double and rounded to float, so host
// and device agree except where a double result lies within its last-place
// error of a float rounding boundary (probability about 2^-28 per element).
CUDASEG_HD inline float normal(uint64_t seed, uint64_t index) {
  const uint32_t a = bits(seed, 2 * index), b = bits(seed, 2 * index + 1);
  const double u1 = (static_cast<double>(a) + 1.0) * (1.0 / 4294967296.0);  // (0, 1]
  const double u2 = static_cast<double>(b) * (1.0 / 4294967296.0);
  return static_cast<float>(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

// low + span * u and mean + stddev * z, in double: the product of two floats is
// exact there, so a fused multiply-add (which nvcc and aarch64 compilers emit)
// gives the same result as separate operations.
CUDASEG_HD inline float scaled_uniform(uint64_t seed, uint64_t index, float low, float span) {
  return static_cast<float>(static_cast<double>(low) +
                            static_cast<double>(span) * static_cast<double>(uniform(seed, index)));
}

CUDASEG_HD inline float scaled_normal(uint64_t seed, uint64_t index, float mean, float stddev) {
  return static_cast<float>(static_cast<double>(mean) +
                            static_cast<double>(stddev) * static_cast<double>(normal(seed, index)));
}

}  // namespace cudaseg::philox
