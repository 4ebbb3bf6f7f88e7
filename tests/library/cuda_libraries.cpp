// cuBLAS, cuBLASLt and cuDNN are opened on first use (cuda/libraries.h): none
// is mapped before the first call of its table, and the first call opens it
// and resolves every entry point. Needs the libraries installed, not a GPU.
#include <cstdio>
#include <fstream>
#include <string>

#include "cuda/libraries.h"
#include "runtime/error.h"

namespace {

bool mapped(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(name) != std::string::npos) return true;
  }
  return false;
}

template <typename Api>
bool all_resolved(const Api& api) {
  const void* const* entries = reinterpret_cast<const void* const*>(&api);
  for (size_t i = 0; i < sizeof(Api) / sizeof(void*); ++i) {
    if (!entries[i]) return false;
  }
  return true;
}

int failures = 0;
void expect(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}

}  // namespace

int main() {
  using namespace cudaseg::cuda;
  try {
    expect(!mapped("libcublas") && !mapped("libcudnn"), "no cuBLAS, cuBLASLt or cuDNN mapped at start");
    expect(all_resolved(cublas()), "cublas() resolves every entry point");
    expect(mapped("libcublas.so"), "libcublas mapped after cublas()");
    expect(!mapped("libcudnn"), "libcudnn still not mapped");
    expect(all_resolved(cublas_lt()), "cublas_lt() resolves every entry point");
    expect(all_resolved(cudnn()), "cudnn() resolves every entry point");
    expect(mapped("libcudnn.so"), "libcudnn mapped after cudnn()");
    expect(&cudnn() == &cudnn(), "one table per process");
  } catch (const cudaseg::Error& e) {
    std::printf("FAILED: %s\n", e.what());
    return 1;
  }
  return failures == 0 ? 0 : 1;
}
