// bench_prep_cuda: what a GPU session spends around its kernels, and what
// channels-last would buy (built with the CUDA backend only).
//
// 1. cuDNN dispatch: the host time of one dnn_conv_forward call on a tiny
//    convolution (the GPU work is a few microseconds; calls are queued and
//    synchronised once per round), cycling through 64 distinct convolutions
//    as a net does, on 1 and on 4 threads with a stream each. This is the
//    cost cuda/dnn.cpp's per-thread plans remove: before them, every call
//    formatted a string key and built four descriptors under one global lock
//    held through the launch, so threads queued behind each other.
// 2. NCHW against NHWC (channels-last) tensor-core convolutions, fp16 and
//    bf16, at the shapes STDC1 runs at 1024x2048, with float32 NCHW beside
//    them: CUDA events, median of --iters.
// 3. A 1024x2048 photo into a 512x1024 (resize) and a 1024x2048 (pad) fp16
//    input: the host path (normalise and resize on the CPU in float32, copy
//    the floats, cast on the device) against the device path (copy the u8
//    image, ops/image.h's kernel), wall time including the copies.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cuda/dnn.h"
#include "ops/image.h"
#include "runtime/gpu.h"
#include "runtime/rng.h"

using namespace cudaseg;

namespace {

struct Options {
  int iters = 20, warmup = 3;
  Device device = Device::cuda(0);
};

void usage(FILE* f) {
  std::fprintf(f,
               "usage: bench_prep_cuda [--device cuda[:N]] [--iters N] [--warmup N]\n\n"
               "Times on that GPU: the host cost of a cached cuDNN convolution call on 1 and 4 threads;\n"
               "NCHW against channels-last (NHWC) fp16/bf16 convolutions at STDC1's 1024x2048 shapes;\n"
               "a 1024x2048 photo into an fp16 input on the host and on the device. Prints markdown.\n");
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

cuda::ConvSpec spec(int64_t stride, int64_t pad) {
  cuda::ConvSpec s;
  s.stride = {stride, stride};
  s.padding = {pad, pad};
  return s;
}

Shape out_shape(const Shape& x, const Shape& w, const cuda::ConvSpec& s) {
  return {x[0], w[0], (x[2] + 2 * s.padding[0] - w[2]) / s.stride[0] + 1,
          (x[3] + 2 * s.padding[1] - w[3]) / s.stride[1] + 1};
}

// Microseconds of host time per call, median over rounds of 64 calls.
double dispatch_us(const Options& o, int threads) {
  struct Conv {
    Tensor x, w, y;
  };
  std::vector<Conv> convs;
  Generator gen(1);
  for (int i = 0; i < 64; ++i) {
    const Shape xs{1, 8 + (i % 8), 8 + i / 8, 8}, ws{8, 8 + (i % 8), 3, 3};
    const Tensor x = gen.normal(xs, 0, 1, DType::f16, o.device), w = gen.normal(ws, 0, 1, DType::f16, o.device);
    convs.push_back({x, w, Tensor::empty(out_shape(xs, ws, spec(1, 1)), DType::f16, o.device)});
  }
  std::vector<std::vector<double>> per_thread(static_cast<size_t>(threads));
  auto work = [&](int t) {
    const gpu::Stream stream = gpu::Stream::create(o.device.index);
    const gpu::StreamGuard guard(stream);
    for (int r = 0; r < o.warmup + o.iters * 5; ++r) {
      const double start = now_us();
      for (const Conv& c : convs) cuda::dnn_conv_forward(c.x, c.w, c.y, spec(1, 1));
      const double host = now_us() - start;
      stream.synchronize();
      if (r >= o.warmup) per_thread[t].push_back(host / static_cast<double>(convs.size()));
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work, t);
  for (std::thread& th : pool) th.join();
  std::vector<double> all;
  for (const auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  return median(all);
}

double event_ms(const Options& o, const std::function<void()>& f) {
  const gpu::Stream stream = gpu::Stream::current(o.device.index);
  gpu::Event start(o.device.index), end(o.device.index);
  for (int i = 0; i < o.warmup; ++i) f();
  gpu::synchronize(o.device.index);
  std::vector<double> ms;
  for (int i = 0; i < o.iters; ++i) {
    start.record(stream);
    f();
    end.record(stream);
    end.synchronize();
    ms.push_back(start.elapsed_ms(end));
  }
  return median(ms);
}

Tensor channels_last(const Tensor& t) { return t.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2}); }

void layouts(const Options& o) {
  struct Case {
    const char* what;
    Shape x, w;
    cuda::ConvSpec s;
  };
  const Case cases[] = {
      {"stem 3x3 s2", {1, 32, 512, 1024}, {64, 32, 3, 3}, spec(2, 1)},
      {"stage 3x3", {1, 64, 256, 512}, {64, 64, 3, 3}, spec(1, 1)},
      {"stage 1x1", {1, 256, 128, 256}, {128, 256, 1, 1}, spec(1, 0)},
      {"deep 3x3", {1, 256, 64, 128}, {256, 256, 3, 3}, spec(1, 1)},
      {"deep 3x3 s2", {1, 512, 64, 128}, {512, 512, 3, 3}, spec(2, 1)},
  };
  std::printf("\n| convolution | x | w | fp32 NCHW ms | fp16 NCHW ms | fp16 NHWC ms | bf16 NCHW ms | bf16 NHWC ms |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  Generator gen(2);
  for (const Case& c : cases) {
    std::vector<double> ms;
    for (DType dtype : {DType::f32, DType::f16, DType::bf16})
      for (bool nhwc : {false, true}) {
        if (dtype == DType::f32 && nhwc) continue;
        Tensor x = gen.normal(c.x, 0, 1, dtype, o.device), w = gen.normal(c.w, 0, 0.1, dtype, o.device);
        const Shape ys = out_shape(c.x, c.w, c.s);
        Tensor y = Tensor::empty(ys, dtype, o.device);
        if (nhwc) {
          x = channels_last(x);
          w = channels_last(w);
          y = Tensor::empty({ys[0], ys[2], ys[3], ys[1]}, dtype, o.device).permute({0, 3, 1, 2});
        }
        ms.push_back(event_ms(o, [&] { cuda::dnn_conv_forward(x, w, y, c.s); }));
      }
    std::printf("| %s | %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f |\n", c.what, shape_str(c.x).c_str(),
                shape_str(c.w).c_str(), ms[0], ms[1], ms[2], ms[3], ms[4]);
  }
}

double wall_ms(const Options& o, const std::function<void()>& f) {
  for (int i = 0; i < o.warmup; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < o.iters; ++i) {
    const double start = now_us();
    f();
    gpu::synchronize(o.device.index);
    ms.push_back((now_us() - start) / 1000.0);
  }
  return median(ms);
}

void photo_input(const Options& o) {
  const Tensor photo = Generator(3).uniform({1024, 2048, 3}, 0.0, 255.99).to(DType::u8);
  std::printf("\n| photo 1024x2048 -> fp16 input | host path ms | device path ms |\n| --- | --- | --- |\n");
  for (bool pad : {false, true}) {
    ops::ImageInputSpec spec;
    spec.size = pad ? std::array<int64_t, 2>{1024, 2048} : std::array<int64_t, 2>{512, 1024};
    spec.pad = pad;
    spec.mean = {0.485, 0.456, 0.406};
    spec.std = {0.229, 0.224, 0.225};
    spec.scale = 1.0 / 255.0;
    ops::ImageInputSpec host = spec;
    host.dtype = DType::f32;
    spec.dtype = DType::f16;
    const double host_ms = wall_ms(o, [&] { ops::image_to_input(photo, host).to(o.device, DType::f16); });
    const double device_ms = wall_ms(o, [&] { ops::image_to_input(photo.to(o.device), spec); });
    std::printf("| %s | %.3f | %.3f |\n", pad ? "pad (1024x2048)" : "resize to 512x1024", host_ms, device_ms);
  }
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
        if (!o.device.is_cuda()) throw std::invalid_argument("bench_prep_cuda times CUDA devices only");
      } else if (a == "--iters") {
        o.iters = std::max(1, std::stoi(value()));
      } else if (a == "--warmup") {
        o.warmup = std::max(0, std::stoi(value()));
      } else {
        std::fprintf(stderr, "bench_prep_cuda: unknown argument '%s'\n", a.c_str());
        usage(stderr);
        return 2;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_prep_cuda: %s: %s\n", a.c_str(), e.what());
      return 2;
    }
  }
  try {
    gpu::check_device(o.device.index);
    std::printf("bench_prep_cuda on %s (%s), median of %d after %d warm-up runs\n\n", o.device.str().c_str(),
                gpu::device_info(o.device.index).name.c_str(), o.iters, o.warmup);
    std::printf("| cuDNN forward call, host time | 1 thread us | 4 threads us |\n| --- | --- | --- |\n");
    std::printf("| 64 cached tiny convolutions, fp16 | %.2f | %.2f |\n", dispatch_us(o, 1), dispatch_us(o, 4));
    layouts(o);
    photo_input(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_prep_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
