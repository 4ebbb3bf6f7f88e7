// The dropout mask on CUDA: one thread per mask element in a grid-stride
// loop, element i drawing Philox stream index start + i from runtime/philox.h,
// the code the CPU kernel runs, so the same generator state gives the same
// mask on both. The keep test compares the float uniform with 1 - p in double
// and the scale is rounded from double as on the CPU, hence bit equality.
// Applying the mask and its backward are broadcast multiplications
// (ops::mul).
#include "cuda/common.cuh"
#include "ops/kernels/dropout.h"
#include "runtime/philox.h"

namespace cudaseg::cuda {
namespace {

template <typename T>
__global__ void dropout_mask_kernel(T* mask, int64_t n, uint64_t seed, uint64_t start, double keep,
                                    acc_t<T> scale) {
  const T kept = store<T>(scale), dropped = store<T>(acc_t<T>(0));
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    mask[i] = static_cast<double>(philox::uniform(seed, start + static_cast<uint64_t>(i))) < keep ? kept : dropped;
}

}  // namespace

void dropout_mask(uint64_t seed, uint64_t start, double p, const Tensor& mask) {
  const int64_t n = mask.numel();
  const double keep = 1.0 - p;
  gpu::DeviceGuard guard(mask.device().index);
  dispatch_floating("dropout", mask.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // float, as the CPU kernel's static_cast<T>, then to the 16-bit type.
    const acc_t<T> scale = static_cast<acc_t<T>>(keep > 0 ? 1.0 / keep : 0.0);
    dropout_mask_kernel<T><<<blocks_for(n), kThreads, 0, stream_for(mask)>>>(ptr<T>(mask), n, seed, start, keep,
                                                                              scale);
    CUDASEG_CUDA_LAUNCH_CHECK("dropout ", mask.str(), " with p = ", p);
  });
}

CUDASEG_REGISTER_KERNEL(ops::kernels::dropout_mask, cuda, dropout_mask)

}  // namespace cudaseg::cuda
