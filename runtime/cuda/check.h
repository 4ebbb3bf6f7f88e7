// Checking CUDA runtime calls: a failure becomes cudaseg::Error naming the
// call, the CUDA error and where it happened.
#pragma once

#include <cuda_runtime.h>

#include "runtime/error.h"

#define CUDASEG_CUDA_CHECK(call, ...)                                                          \
  do {                                                                                         \
    const cudaError_t cudaseg_status_ = (call);                                                \
    if (cudaseg_status_ != cudaSuccess) {                                                      \
      (void)cudaGetLastError();                                                                \
      throw ::cudaseg::Error(                                                                  \
          ::cudaseg::detail::concat(#call, " failed: ", cudaGetErrorName(cudaseg_status_), " (",   \
                                    cudaGetErrorString(cudaseg_status_),                           \
                                    ")" __VA_OPT__(, " in ", ) __VA_ARGS__),                       \
          cudaseg_status_ == cudaErrorMemoryAllocation ? ::cudaseg::ErrorKind::out_of_memory        \
                                                       : ::cudaseg::ErrorKind::general);            \
    }                                                                                          \
  } while (0)

// Checks the launch of the kernel just issued.
#define CUDASEG_CUDA_LAUNCH_CHECK(...) CUDASEG_CUDA_CHECK(cudaGetLastError() __VA_OPT__(, ) __VA_ARGS__)

namespace cudaseg::gpu {

// Makes `device` current for the guard's lifetime.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    CUDASEG_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) CUDASEG_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace cudaseg::gpu
