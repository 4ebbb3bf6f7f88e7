// A CPU-only program linked against libcudaseg.so, through the exported C++
// API alone: it builds STDC1 (19 classes, 8.4 M parameters), prepares an
// inference session on the CPU and segments one image, then checks that no
// CUDA library (runtime, cuBLAS, cuBLASLt, cuDNN) was mapped into the process
// and that its resident memory, idle with the weights loaded, stays under a
// bound.
// Usage: cpu_only MAX_IDLE_RSS_MIB
#include <cudaseg.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// The first CUDA library /proc/self/maps lists, or "".
std::string cuda_library_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  for (const char* name : {"libcudart", "libcublas", "libcudnn", "libnvrtc", "libnvJitLink"}) {
    maps.clear();
    maps.seekg(0);
    while (std::getline(maps, line)) {
      if (line.find(name) != std::string::npos) return line;
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: cpu_only MAX_IDLE_RSS_MIB\n");
    return 2;
  }
  const long max_mib = std::strtol(argv[1], nullptr, 10);
  try {
    const double at_start = rss_kib() / 1024.0;
    const nlohmann::json model = {{"name", "stdc"}, {"encoder_type", "stdc1"}, {"num_classes", 19}};
    cudaseg::infer::ModelInfo info;
    info.model_json = model.dump();
    auto session = cudaseg::infer::InferenceSession::from_net(cudaseg::nn::create_net(model), info);
    const double idle = rss_kib() / 1024.0;
    const cudaseg::Tensor labels = session.predict(cudaseg::Tensor::zeros({96, 128, 3}, cudaseg::DType::u8));
    const double after = rss_kib() / 1024.0;
    std::printf("STDC1 on the CPU (CUDA backend %s), VmRSS: %.1f MiB at start, %.1f MiB idle with the weights "
                "loaded, %.1f MiB after a %lldx%lld prediction\n",
                cudaseg::gpu::compiled() ? "built" : "not built", at_start, idle, after,
                static_cast<long long>(labels.size(0)), static_cast<long long>(labels.size(1)));
    const std::string cuda = cuda_library_mapped();
    if (!cuda.empty()) {
      std::fprintf(stderr, "a CPU-only run mapped a CUDA library: %s\n", cuda.c_str());
      return 1;
    }
    if (at_start <= 0 || idle > max_mib) {
      std::fprintf(stderr, "idle VmRSS %.1f MiB is above the bound of %ld MiB\n", idle, max_mib);
      return 1;
    }
  } catch (const cudaseg::Error& e) {
    std::fprintf(stderr, "cpu_only: %s\n", e.what());
    return 1;
  }
  return 0;
}
