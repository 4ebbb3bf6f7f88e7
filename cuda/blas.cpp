#include "cuda/blas.h"

#include <cublas_v2.h>

#include <map>
#include <mutex>

#include "cuda/libraries.h"
#include "runtime/cuda/check.h"
#include "runtime/gpu.h"
#include "runtime/math_mode.h"

namespace cudaseg::cuda {
namespace {

const char* status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
  }
}

#define CUDASEG_CUBLAS_CHECK(call, ...)                                                       \
  do {                                                                                        \
    const cublasStatus_t s_ = (call);                                                         \
    if (s_ != CUBLAS_STATUS_SUCCESS) CUDASEG_FAIL(#call, " failed: ", status_name(s_), " in ", __VA_ARGS__); \
  } while (0)

// One handle per device; cuBLAS handles are not thread-safe, so calls hold the lock.
struct Handles {
  std::mutex mutex;
  std::map<int, cublasHandle_t> by_device;
};

Handles& handles() {
  static Handles* h = new Handles;  // never destroyed: the CUDA runtime may be gone at exit
  return *h;
}

cublasHandle_t handle_for(int device) {
  auto& h = handles();
  auto it = h.by_device.find(device);
  if (it != h.by_device.end()) return it->second;
  gpu::DeviceGuard guard(device);
  cublasHandle_t handle = nullptr;
  CUDASEG_CUBLAS_CHECK(cublas().cublasCreate_v2(&handle), "creating the cuBLAS handle of cuda:", device);
  h.by_device[device] = handle;
  return handle;
}

}  // namespace

void gemm(DType dtype, int device, const GemmArgs& g, const char* op) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  auto& h = handles();
  std::lock_guard<std::mutex> lock(h.mutex);
  gpu::DeviceGuard guard(device);
  cublasHandle_t handle = handle_for(device);
  CUDASEG_CUBLAS_CHECK(
      cublas().cublasSetStream_v2(handle, static_cast<cudaStream_t>(gpu::Stream::current(device).handle())), op);

  // Row-major C = A B is column-major C^T = B^T A^T: swap the operands.
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cudaDataType_t type;
  cublasComputeType_t compute;
  switch (dtype) {
    case DType::f32:
      type = CUDA_R_32F;
      compute = allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      break;
    case DType::f64: type = CUDA_R_64F; compute = CUBLAS_COMPUTE_64F; break;
    case DType::f16: type = CUDA_R_16F; compute = CUBLAS_COMPUTE_32F; break;
    case DType::bf16: type = CUDA_R_16BF; compute = CUBLAS_COMPUTE_32F; break;
    default: CUDASEG_FAIL(op, ": cuBLAS GEMM needs a floating dtype, got ", dtype_name(dtype));
  }
  const double alpha64 = g.alpha, beta64 = g.beta;
  const float alpha32 = static_cast<float>(g.alpha), beta32 = static_cast<float>(g.beta);
  const void* alpha = dtype == DType::f64 ? static_cast<const void*>(&alpha64) : &alpha32;
  const void* beta = dtype == DType::f64 ? static_cast<const void*>(&beta64) : &beta32;
  CUDASEG_CUBLAS_CHECK(
      cublas().cublasGemmStridedBatchedEx(handle, op_b, op_a, static_cast<int>(g.n), static_cast<int>(g.m),
                                 static_cast<int>(g.k), alpha, g.b, type, static_cast<int>(g.ldb), g.stride_b,
                                 g.a, type, static_cast<int>(g.lda), g.stride_a, beta, g.c, type,
                                 static_cast<int>(g.ldc), g.stride_c, static_cast<int>(g.batch), compute,
                                 CUBLAS_GEMM_DEFAULT),
      op, " (m=", g.m, " n=", g.n, " k=", g.k, " batch=", g.batch, " ", dtype_name(dtype), ")");
}

}  // namespace cudaseg::cuda
