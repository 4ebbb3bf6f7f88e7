#include "runtime/rng.h"

#include "cudaseg_config.h"
#include "runtime/philox.h"
#include "runtime/thread_pool.h"
#if CUDASEG_WITH_CUDA
#include "runtime/cuda/kernels.h"
#endif

namespace cudaseg {
namespace {

void check_floating(DType dtype, const char* op) {
  CUDASEG_CHECK(is_floating(dtype), op, ": needs a floating dtype, got ", dtype_name(dtype));
}

template <typename Sample>
Tensor fill(const Shape& shape, DType dtype, Sample sample) {
  Tensor out = Tensor::empty(shape, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, Half> ||
                  std::is_same_v<T, BFloat16>) {
      T* p = out.data<T>();
      parallel_for(0, out.numel(), 1 << 14, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) p[i] = convert<T>(sample(static_cast<uint64_t>(i)));
      });
    }
  });
  return out;
}

}  // namespace

uint64_t Generator::advance(uint64_t count) {
  const uint64_t start = offset_;
  offset_ += (count + 3) / 4 * 4;  // whole Philox blocks, so streams never share a block
  return start;
}

Tensor Generator::uniform(const Shape& shape, double low, double high, DType dtype, Device device) {
  check_floating(dtype, "Generator::uniform");
  const uint64_t start = advance(static_cast<uint64_t>(shape_numel(shape)));
  if (device.is_cuda()) {
#if CUDASEG_WITH_CUDA
    Tensor out = Tensor::empty(shape, dtype, device);
    runtime_cuda::philox_uniform(out, seed_, start, low, high);
    return out;
#else
    CUDASEG_FAIL("Generator::uniform on ", device.str(), ": cudaseg was built without CUDA");
#endif
  }
  const uint64_t seed = seed_;
  const float lo = static_cast<float>(low), span = static_cast<float>(high - low);
  return fill(shape, dtype, [=](uint64_t i) { return philox::scaled_uniform(seed, start + i, lo, span); });
}

Tensor Generator::normal(const Shape& shape, double mean, double stddev, DType dtype, Device device) {
  check_floating(dtype, "Generator::normal");
  // Each normal consumes two 32-bit words.
  const uint64_t count = static_cast<uint64_t>(shape_numel(shape));
  const uint64_t start = advance(2 * count) / 2;
  if (device.is_cuda()) {
#if CUDASEG_WITH_CUDA
    Tensor out = Tensor::empty(shape, dtype, device);
    runtime_cuda::philox_normal(out, seed_, start, mean, stddev);
    return out;
#else
    CUDASEG_FAIL("Generator::normal on ", device.str(), ": cudaseg was built without CUDA");
#endif
  }
  const uint64_t seed = seed_;
  const float m = static_cast<float>(mean), s = static_cast<float>(stddev);
  return fill(shape, dtype, [=](uint64_t i) { return philox::scaled_normal(seed, start + i, m, s); });
}

}  // namespace cudaseg
