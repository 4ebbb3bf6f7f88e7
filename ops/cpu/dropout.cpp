#include "ops/common.h"
#include "ops/kernels/dropout.h"
#include "runtime/philox.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {

void dropout_mask(uint64_t seed, uint64_t start, double p, const Tensor& mask) {
  dispatch_float("dropout", mask.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* pm = mask.data<T>();
    const double keep = 1.0 - p;
    const T scale = static_cast<T>(keep > 0 ? 1.0 / keep : 0.0);
    parallel_for(0, mask.numel(), 1 << 14, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i)
        pm[i] = philox::uniform(seed, start + static_cast<uint64_t>(i)) < keep ? scale : T(0);
    });
  });
}

CUDASEG_REGISTER_KERNEL(kernels::dropout_mask, cpu, dropout_mask)

}  // namespace cudaseg::ops::cpu
