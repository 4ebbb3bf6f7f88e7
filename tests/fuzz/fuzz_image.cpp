// Fuzzes the image decoders (JPEG, PNG, BMP through stb_image, after the
// container checks of runtime/image_io.cpp) as read_image sees a file.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "runtime/error.h"
#include "runtime/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/cudaseg_fuzz_image_" + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  for (int channels : {0, 3}) {
    try {
      const cudaseg::Tensor image = cudaseg::read_image(path, channels);
      volatile uint64_t sum = 0;
      const auto* p = static_cast<const uint8_t*>(image.raw_data());
      for (int64_t i = 0; i < image.numel(); ++i) sum = sum + p[i];
    } catch (const cudaseg::Error&) {
    }
  }
  return 0;
}
