// cuBLAS, cuBLASLt and cuDNN (and NCCL where the build found it), opened
// with dlopen on their first use.
//
// libcudaseg links none of them (and the CUDA runtime statically), so a
// program that never runs CUDA work neither needs them installed nor maps
// them: cuBLASLt alone adds about 160 MB of resident memory at start-up.
// Each table holds the entry points cudaseg calls, with the types of the
// toolkit's own declarations; the first call of cublas(), cublas_lt() or
// cudnn() opens the library (by its soname, then by the path the build found
// it at) and resolves every entry, or throws cudaseg::Error naming the
// library, the path and dlerror(). A failed load is retried on the next call.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cudnn.h>

#include "cudaseg_config.h"
#if CUDASEG_WITH_NCCL
#include <nccl.h>
#endif

#define CUDASEG_CUBLAS_FUNCTIONS(X) X(cublasCreate_v2) X(cublasSetStream_v2) X(cublasGemmStridedBatchedEx)

#define CUDASEG_CUBLASLT_FUNCTIONS(X)                                                                 \
  X(cublasLtCreate) X(cublasLtGetStatusName) X(cublasLtMatmul) X(cublasLtMatmulAlgoGetHeuristic)      \
  X(cublasLtMatmulDescCreate) X(cublasLtMatmulDescDestroy) X(cublasLtMatmulDescSetAttribute)          \
  X(cublasLtMatmulPreferenceCreate) X(cublasLtMatmulPreferenceDestroy)                                \
  X(cublasLtMatmulPreferenceSetAttribute) X(cublasLtMatrixLayoutCreate) X(cublasLtMatrixLayoutDestroy)

#define CUDASEG_CUDNN_FUNCTIONS(X)                                                                    \
  X(cudnnCreate) X(cudnnSetStream) X(cudnnGetErrorString) X(cudnnCreateTensorDescriptor)              \
  X(cudnnDestroyTensorDescriptor) X(cudnnSetTensor4dDescriptor) X(cudnnCreateFilterDescriptor)        \
  X(cudnnDestroyFilterDescriptor) X(cudnnSetFilter4dDescriptor) X(cudnnCreateConvolutionDescriptor)   \
  X(cudnnDestroyConvolutionDescriptor) X(cudnnSetConvolution2dDescriptor)                             \
  X(cudnnSetConvolutionGroupCount) X(cudnnSetConvolutionMathType)                                     \
  X(cudnnGetConvolutionForwardAlgorithm_v7) X(cudnnGetConvolutionBackwardDataAlgorithm_v7)            \
  X(cudnnGetConvolutionBackwardFilterAlgorithm_v7) X(cudnnConvolutionForward)                         \
  X(cudnnConvolutionBackwardData) X(cudnnConvolutionBackwardFilter)

#define CUDASEG_NCCL_FUNCTIONS(X)                                                                     \
  X(ncclGetErrorString) X(ncclGetUniqueId) X(ncclCommInitRank) X(ncclCommDestroy) X(ncclAllReduce)   \
  X(ncclBroadcast)

namespace cudaseg::cuda {

#define CUDASEG_ENTRY_POINT(name) decltype(&::name) name = nullptr;
struct CublasApi {
  decltype(&::cublasCreate_v2) cublasCreate_v2 = nullptr;
  decltype(&::cublasSetStream_v2) cublasSetStream_v2 = nullptr;
  // Spelled out: cublas_api.h overloads the name in C++ (a compute type given
  // as cudaDataType); this is the C entry point the library exports.
  cublasStatus_t (*cublasGemmStridedBatchedEx)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                               const void*, const void*, cudaDataType, int, long long, const void*,
                                               cudaDataType, int, long long, const void*, void*, cudaDataType, int,
                                               long long, int, cublasComputeType_t, cublasGemmAlgo_t) = nullptr;
};
struct CublasLtApi {
  CUDASEG_CUBLASLT_FUNCTIONS(CUDASEG_ENTRY_POINT)
};
struct CudnnApi {
  CUDASEG_CUDNN_FUNCTIONS(CUDASEG_ENTRY_POINT)
};
#if CUDASEG_WITH_NCCL
struct NcclApi {
  CUDASEG_NCCL_FUNCTIONS(CUDASEG_ENTRY_POINT)
};
#endif
#undef CUDASEG_ENTRY_POINT

const CublasApi& cublas();
const CublasLtApi& cublas_lt();
const CudnnApi& cudnn();
#if CUDASEG_WITH_NCCL
const NcclApi& nccl();
#endif

}  // namespace cudaseg::cuda
