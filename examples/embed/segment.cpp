// segment.cpp: segments one image from C++ through cudaseg.h.
//
//   segment_cpp WEIGHTS.json IMAGE OUT_LABELS.png [HxW]
//
// The same as segment.c with infer::InferenceSession: the label map is a
// greyscale PNG (pixel value = class id) at the image's size.
#include <cudaseg.h>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: segment_cpp WEIGHTS.json IMAGE OUT_LABELS.png [HxW]\n");
    return 2;
  }
  cudaseg::infer::SessionOptions options;
  if (argc == 5) {
    int h = 0, w = 0;
    if (std::sscanf(argv[4], "%dx%d", &h, &w) != 2 || h <= 0 || w <= 0) {
      std::fprintf(stderr, "segment_cpp: size must be HxW, got %s\n", argv[4]);
      return 2;
    }
    options.size_policy = cudaseg::infer::SizePolicy::fixed;
    options.input_size = {h, w};
  }
  try {
    auto session = cudaseg::infer::InferenceSession::load(argv[1], options);
    const cudaseg::Tensor image = cudaseg::read_image(argv[2], 3);
    const cudaseg::Tensor labels = session.predict(image);  // int64 [H, W]
    cudaseg::write_png(argv[3], labels.to(cudaseg::DType::u8));
    std::printf("%lldx%lld image, %lld classes -> %s (cudaseg %s)\n", static_cast<long long>(image.size(1)),
                static_cast<long long>(image.size(0)), static_cast<long long>(session.num_classes()), argv[3],
                cudaseg::version().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "segment_cpp: %s\n", e.what());
    return 1;
  }
  return 0;
}
