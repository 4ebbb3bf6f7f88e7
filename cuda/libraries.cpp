#include "cuda/libraries.h"

#include <dlfcn.h>

#include <string>

#include "runtime/error.h"

namespace cudaseg::cuda {
namespace {

// CMake reads the sonames and paths from the libraries it found
// (cmake/CudasegCuda.cmake).
struct LibraryName {
  const char* label;
  const char* soname;
  const char* path;
};

void* open_library(const LibraryName& lib) {
  void* handle = dlopen(lib.soname, RTLD_NOW | RTLD_LOCAL);
  if (handle) return handle;
  const std::string by_name = dlerror();
  handle = dlopen(lib.path, RTLD_NOW | RTLD_LOCAL);
  if (handle) return handle;
  CUDASEG_FAIL("CUDA work needs ", lib.label, " but it cannot be loaded: ", by_name, "; nor from ", lib.path,
               ": ", dlerror(), ". Install it or add its folder to LD_LIBRARY_PATH");
}

void* entry_point(void* handle, const LibraryName& lib, const char* name) {
  void* fn = dlsym(handle, name);
  if (!fn) CUDASEG_FAIL(lib.label, " (", lib.soname, ") has no ", name, ": ", dlerror());
  return fn;
}

// The handles stay open for the life of the process: cuBLAS and cuDNN handles
// are never destroyed either (the CUDA runtime may be gone at exit).
#define CUDASEG_RESOLVE(name) api.name = reinterpret_cast<decltype(api.name)>(entry_point(handle, lib, #name));

CublasApi load_cublas() {
  const LibraryName lib{"cuBLAS", CUDASEG_CUBLAS_SONAME, CUDASEG_CUBLAS_PATH};
  void* handle = open_library(lib);
  CublasApi api;
  CUDASEG_CUBLAS_FUNCTIONS(CUDASEG_RESOLVE)
  return api;
}

CublasLtApi load_cublas_lt() {
  const LibraryName lib{"cuBLASLt", CUDASEG_CUBLASLT_SONAME, CUDASEG_CUBLASLT_PATH};
  void* handle = open_library(lib);
  CublasLtApi api;
  CUDASEG_CUBLASLT_FUNCTIONS(CUDASEG_RESOLVE)
  return api;
}

CudnnApi load_cudnn() {
  const LibraryName lib{"cuDNN", CUDASEG_CUDNN_SONAME, CUDASEG_CUDNN_PATH};
  void* handle = open_library(lib);
  CudnnApi api;
  CUDASEG_CUDNN_FUNCTIONS(CUDASEG_RESOLVE)
  return api;
}

#if CUDASEG_WITH_NCCL
NcclApi load_nccl() {
  const LibraryName lib{"NCCL", CUDASEG_NCCL_SONAME, CUDASEG_NCCL_PATH};
  void* handle = open_library(lib);
  NcclApi api;
  CUDASEG_NCCL_FUNCTIONS(CUDASEG_RESOLVE)
  return api;
}
#endif

#undef CUDASEG_RESOLVE

}  // namespace

const CublasApi& cublas() {
  static const CublasApi api = load_cublas();
  return api;
}

const CublasLtApi& cublas_lt() {
  static const CublasLtApi api = load_cublas_lt();
  return api;
}

const CudnnApi& cudnn() {
  static const CudnnApi api = load_cudnn();
  return api;
}

#if CUDASEG_WITH_NCCL
const NcclApi& nccl() {
  static const NcclApi api = load_nccl();
  return api;
}
#endif

}  // namespace cudaseg::cuda
