#include "runtime/version.h"

#include <sstream>

#include "cudaseg_config.h"
#include "runtime/gpu.h"
#include "runtime/thread_pool.h"

namespace cudaseg {

std::string version() { return CUDASEG_VERSION; }

std::vector<std::string> compiled_backends() {
  std::vector<std::string> out{"cpu"};
  if (gpu::compiled()) out.push_back("cuda");
  return out;
}

std::string build_report() {
  std::ostringstream os;
  os << "cudaseg " << version() << "\n";
  os << "backends compiled in:";
  for (const auto& b : compiled_backends()) os << " " << b;
  os << "\n";
  os << "cpu: " << num_threads() << " threads\n";
  if (!gpu::compiled()) {
    os << "cuda: not compiled in\n";
    return os.str();
  }
  const int n = gpu::device_count();
  os << "cuda devices: " << n << (n == 0 ? " (no driver or no device)" : "") << "\n";
  for (int i = 0; i < n; ++i) {
    const gpu::DeviceInfo info = gpu::device_info(i);
    os << "  cuda:" << i << " " << info.name << ", sm_" << info.major << info.minor << ", "
       << info.total_memory / (1024 * 1024) << " MiB, " << info.multiprocessors << " SMs\n";
  }
  return os.str();
}

}  // namespace cudaseg
