// bench_ops: times the op-set calls that dominate the segmentation nets —
// dense 3x3, depthwise 3x3 and 1x1 convolution, bilinear x4 upsampling — and
// the backward of each, on the CPU or a CUDA device. Prints a markdown table
// (median milliseconds over --iters runs after --warmup runs), or JSON.
// tools/bench_torch_ops.py times the same calls in PyTorch; scripts/bench_ops.sh
// runs both and writes the comparison.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/median_ms.h"
#include "ops/conv.h"
#include "ops/resize.h"
#include "runtime/gpu.h"
#include "runtime/rng.h"
#include "runtime/thread_pool.h"

using namespace cudaseg;

namespace {

struct Options {
  int iters = 10, warmup = 2, threads = 0;
  Device device = Device::cpu();
  bool json = false;
};

void usage(FILE* f) {
  std::fprintf(f,
               "usage: bench_ops [--device cpu|cuda[:N]] [--iters N] [--warmup N] [--threads N] [--json]\n\n"
               "Times conv2d 3x3 64->64 at 1x64x256x512, depthwise 3x3 at 1x128x128x256,\n"
               "conv 1x1 256->128 at 1x256x64x128 and bilinear x4 upsampling (align_corners=True)\n"
               "of 1x19x128x256, forward and backward, float32. Median milliseconds.\n");
}

double median_ms(const Options& o, const std::function<void()>& f) {
  return bench::median_ms(o.warmup, o.iters, o.device, f);
}

struct Row {
  std::string name, shape;
  double forward_ms, backward_ms;
};

Row bench_conv(const Options& o, const char* name, const Shape& x_shape, const Shape& w_shape,
               const ops::Conv2dParams& p) {
  Generator gen(1);
  Tensor x = gen.normal(x_shape, 0, 1, DType::f32, o.device);
  Tensor w = gen.normal(w_shape, 0, 0.1, DType::f32, o.device);
  Tensor y = ops::conv2d(x, w, Tensor(), p);
  Tensor gy = gen.normal(y.shape(), 0, 1, DType::f32, o.device);
  Row r{name, shape_str(x_shape) + " w" + shape_str(w_shape), 0, 0};
  r.forward_ms = median_ms(o, [&] { ops::conv2d(x, w, Tensor(), p); });
  r.backward_ms = median_ms(o, [&] {
    ops::conv2d_backward_input(gy, w, x.shape(), p);
    ops::conv2d_backward_weight(gy, x, w.shape(), p);
  });
  return r;
}

Row bench_bilinear(const Options& o) {
  Generator gen(2);
  const Shape shape{1, 19, 128, 256};
  Tensor x = gen.normal(shape, 0, 1, DType::f32, o.device);
  const std::array<int64_t, 2> out{512, 1024};
  Tensor gy = gen.normal({1, 19, 512, 1024}, 0, 1, DType::f32, o.device);
  Row r{"bilinear x4 (align_corners)", shape_str(shape) + " -> [512, 1024]", 0, 0};
  r.forward_ms = median_ms(o, [&] { ops::upsample_bilinear2d(x, out, true); });
  r.backward_ms = median_ms(o, [&] { ops::upsample_bilinear2d_backward(gy, shape, true); });
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument("needs a value");
      return argv[++i];
    };
    try {
      if (a == "--help" || a == "-h") {
        usage(stdout);
        return 0;
      } else if (a == "--device") {
        o.device = Device::parse(value());
      } else if (a == "--iters") {
        o.iters = std::max(1, std::stoi(value()));
      } else if (a == "--warmup") {
        o.warmup = std::max(0, std::stoi(value()));
      } else if (a == "--threads") {
        o.threads = std::stoi(value());
      } else if (a == "--json") {
        o.json = true;
      } else {
        std::fprintf(stderr, "bench_ops: unknown argument '%s'\n", a.c_str());
        usage(stderr);
        return 2;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_ops: %s: %s\n", a.c_str(), e.what());
      return 2;
    }
  }
  try {
    if (o.threads > 0) set_num_threads(o.threads);
    if (o.device.is_cuda()) gpu::check_device(o.device.index);
    ops::Conv2dParams dense;
    dense.padding = {1, 1};
    ops::Conv2dParams depthwise = dense;
    depthwise.groups = 128;
    std::vector<Row> rows;
    rows.push_back(bench_conv(o, "conv2d 3x3 64->64", {1, 64, 256, 512}, {64, 64, 3, 3}, dense));
    rows.push_back(bench_conv(o, "depthwise 3x3", {1, 128, 128, 256}, {128, 1, 3, 3}, depthwise));
    rows.push_back(bench_conv(o, "conv2d 1x1 256->128", {1, 256, 64, 128}, {128, 256, 1, 1}, {}));
    rows.push_back(bench_bilinear(o));
    if (o.json) {
      std::printf("{\"device\": \"%s\", \"threads\": %d, \"rows\": [", o.device.str().c_str(), num_threads());
      for (size_t i = 0; i < rows.size(); ++i)
        std::printf("%s{\"op\": \"%s\", \"forward_ms\": %.3f, \"backward_ms\": %.3f}", i ? ", " : "",
                    rows[i].name.c_str(), rows[i].forward_ms, rows[i].backward_ms);
      std::printf("]}\n");
    } else {
      std::printf("cudaseg on %s (%d threads), float32, median of %d\n\n", o.device.str().c_str(), num_threads(),
                  o.iters);
      std::printf("| op | input | forward ms | backward ms |\n| --- | --- | --- | --- |\n");
      for (const Row& r : rows)
        std::printf("| %s | %s | %.2f | %.2f |\n", r.name.c_str(), r.shape.c_str(), r.forward_ms, r.backward_ms);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ops: %s\n", e.what());
    return 1;
  }
  return 0;
}
