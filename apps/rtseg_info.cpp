// rtseg_info: prints the cudaseg version, the backends compiled in and the
// devices found.
#include <cstdio>
#include <cstring>
#include <exception>

#include "cudaseg.h"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::printf("usage: rtseg_info\n\nPrints the cudaseg version, the backends compiled in and the\n"
                  "CPU threads and CUDA devices this machine offers.\n");
      return 0;
    }
    std::fprintf(stderr, "rtseg_info: unknown argument '%s' (try --help)\n", argv[i]);
    return 2;
  }
  try {
    std::fputs(cudaseg::build_report().c_str(), stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rtseg_info: %s\n", e.what());
    return 1;
  }
  return 0;
}
