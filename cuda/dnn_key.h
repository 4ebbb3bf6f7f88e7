// The key of cuDNN's per-convolution state (cuda/dnn.cpp): everything that
// decides a convolution's descriptors and its algorithm, as plain integers,
// so a lookup hashes a few words instead of formatting a string. The output's
// shape is not part of it: it follows from the input, the filter and the
// geometry (dnn.cpp checks the tensor it is given against that). No cuDNN
// type appears here, so the key is tested without a GPU
// (tests/cuda/test_dnn_key.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>

#include "runtime/dtype.h"

namespace cudaseg::cuda {

enum class ConvDirection : uint8_t { forward, backward_data, backward_filter };
// How x, w and y lie in memory: contiguous NCHW, or channels-last (NHWC
// strides over the same logical [N, C, H, W] shape, filters [O, kh, kw, C/g]).
enum class ConvLayout : uint8_t { nchw, nhwc };
// cuDNN's math type: exact FMA, default (TF32 allowed for float32), tensor cores (16-bit).
enum class ConvMath : uint8_t { fma, default_math, tensor_op };

struct ConvKey {
  int32_t device = 0;
  ConvDirection direction = ConvDirection::forward;
  DType dtype = DType::f32;
  ConvLayout layout = ConvLayout::nchw;
  ConvMath math = ConvMath::fma;
  int32_t n = 0, c = 0, h = 0, w = 0;  // the input x
  int32_t o = 0, kh = 0, kw = 0;       // the filter [o, c / groups, kh, kw]
  int32_t pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1, groups = 1;

  // Every field once: equality and the hash both go through it, so a field
  // added here is compared and hashed.
  auto fields() const {
    return std::tie(device, direction, dtype, layout, math, n, c, h, w, o, kh, kw, pad_h, pad_w, stride_h, stride_w,
                    dilation_h, dilation_w, groups);
  }
  bool operator==(const ConvKey& other) const { return fields() == other.fields(); }
  bool operator!=(const ConvKey& other) const { return !(*this == other); }
};

struct ConvKeyHash {
  size_t operator()(const ConvKey& key) const {
    // Each field is mixed in whole (splitmix64's finaliser): keys of one net
    // differ in one or two small integers, which a plain xor of fields would
    // map onto few buckets.
    uint64_t h = 0x9e3779b97f4a7c15ull;
    std::apply(
        [&h](const auto&... field) {
          ((h = mix(h ^ static_cast<uint64_t>(static_cast<int64_t>(field)))), ...);
        },
        key.fields());
    return static_cast<size_t>(h);
  }

 private:
  static uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

}  // namespace cudaseg::cuda
