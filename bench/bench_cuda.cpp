// bench_cuda: the memory-bound CUDA kernels of the segmentation nets against
// the device's own copy bandwidth. It first measures a device-to-device copy
// of a large buffer (read + write bytes over time), then times each call —
// depthwise 3x3 convolution (fp32, fp16), bilinear x8 upsampling, the fused
// cross entropy forward and gradient, scaled dot-product attention at the
// SegFormer-B0 stage-1 and Swin window shapes (forward and backward, fp32 and
// fp16) — and reports the bandwidth each achieves over the minimum traffic of
// its operands (every input read once, every output written once), as a
// fraction of the copy's. Timing: CUDA events around each call on the current
// stream, median of --iters after --warmup runs. tools/bench_torch_cuda.py
// times the same calls in PyTorch; tools/bench_cuda_report.py runs both and
// prints the comparison.
#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/loss.h"
#include "ops/resize.h"
#include "runtime/gpu.h"
#include "runtime/rng.h"

using namespace cudaseg;

namespace {

struct Options {
  int iters = 20, warmup = 3;
  Device device = Device::cuda(0);
  bool json = false;
};

void usage(FILE* f) {
  std::fprintf(f,
               "usage: bench_cuda [--device cuda[:N]] [--iters N] [--warmup N] [--json]\n\n"
               "Measures the device-to-device copy bandwidth, then times on that GPU: depthwise 3x3 conv\n"
               "(1x128x256x512, fp32 and fp16), bilinear x8 upsampling of 1x19x128x256 (fp32), fused cross\n"
               "entropy over 8x19x512x1024 (fp32, forward and gradient), and scaled dot-product attention at\n"
               "the SegFormer-B0 stage-1 shape (16384 queries, 256 keys, 1 head, d=32) and the Swin window\n"
               "shape (256 windows x 3 heads x 49 tokens, d=32, [3,49,49] bias), forward and backward, fp32\n"
               "and fp16. Prints median milliseconds (CUDA events) and achieved GB/s over each call's\n"
               "minimum traffic as a fraction of the copy bandwidth, as markdown or --json.\n");
}

struct Row {
  std::string op, dtype, shape;
  double bytes = 0;  // minimum traffic: inputs read once, outputs written once
  double ms = 0;
};

class Timer {
 public:
  explicit Timer(const Options& o) : o_(o), start_(o.device.index), end_(o.device.index) {}

  double median_ms(const std::function<void()>& f) {
    const gpu::Stream stream = gpu::Stream::current(o_.device.index);
    for (int i = 0; i < o_.warmup; ++i) f();
    gpu::synchronize(o_.device.index);
    std::vector<double> ms;
    for (int i = 0; i < o_.iters; ++i) {
      start_.record(stream);
      f();
      end_.record(stream);
      end_.synchronize();
      ms.push_back(start_.elapsed_ms(end_));
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  }

 private:
  const Options& o_;
  gpu::Event start_, end_;
};

double bytes_of(std::initializer_list<Tensor> tensors) {
  double b = 0;
  for (const Tensor& t : tensors)
    if (t.defined()) b += static_cast<double>(t.nbytes());
  return b;
}

// GB/s of a device-to-device copy of a 1 GiB buffer, counting read + write.
// The copy synchronises its stream before the end event is recorded; at
// ~1 ms per copy the microseconds that adds are well under 1 %.
double copy_bandwidth(const Options& o, Timer& timer) {
  const int64_t n = int64_t{1} << 28;  // float32 elements: 1 GiB
  const Tensor src = Tensor::zeros({n}, DType::f32, o.device);
  Tensor dst = Tensor::empty({n}, DType::f32, o.device);
  const double ms = timer.median_ms([&] { dst.copy_(src); });
  return 2.0 * static_cast<double>(src.nbytes()) / (ms * 1e6);
}

Row depthwise(const Options& o, Timer& timer, DType dtype) {
  Generator gen(1);
  const Tensor x = gen.normal({1, 128, 256, 512}, 0, 1, dtype, o.device);
  const Tensor w = gen.normal({128, 1, 3, 3}, 0, 0.3, dtype, o.device);
  ops::Conv2dParams p;
  p.padding = {1, 1};
  p.groups = 128;
  const Tensor y = ops::conv2d(x, w, Tensor(), p);
  return {"depthwise 3x3", dtype_name(dtype), "[1, 128, 256, 512]", bytes_of({x, w, y}),
          timer.median_ms([&] { ops::conv2d(x, w, Tensor(), p); })};
}

Row bilinear(const Options& o, Timer& timer) {
  Generator gen(2);
  const Tensor x = gen.normal({1, 19, 128, 256}, 0, 1, DType::f32, o.device);
  const std::array<int64_t, 2> size{1024, 2048};
  const Tensor y = ops::upsample_bilinear2d(x, size, false);
  return {"bilinear x8", "float32", "[1, 19, 128, 256] -> [1024, 2048]", bytes_of({x, y}),
          timer.median_ms([&] { ops::upsample_bilinear2d(x, size, false); })};
}

std::vector<Row> cross_entropy(const Options& o, Timer& timer) {
  Generator gen(3);
  const Shape shape{8, 19, 512, 1024};
  const Tensor logits = gen.normal(shape, 0, 2, DType::f32, o.device);
  const Tensor target = gen.uniform({8, 512, 1024}, 0, 19, DType::f32).to(DType::i64).to(o.device);
  ops::CrossEntropyOptions opts;
  opts.ignore_index = 255;
  const ops::CrossEntropyForward f = ops::cross_entropy_forward(logits, target, opts);
  const Tensor one = Tensor::ones(Shape{}, DType::f32, o.device);
  const Tensor grad = ops::cross_entropy_backward(one, f.log_probs, target, opts, f.total_weight);
  const std::string s = shape_str(shape);
  return {{"cross entropy forward", "float32", s, bytes_of({logits, target, f.log_probs}),
           timer.median_ms([&] { ops::cross_entropy_forward(logits, target, opts); })},
          {"cross entropy gradient", "float32", s, bytes_of({f.log_probs, target, grad}),
           timer.median_ms([&] { ops::cross_entropy_backward(one, f.log_probs, target, opts, f.total_weight); })}};
}

std::vector<Row> attention(const Options& o, Timer& timer, const char* name, const Shape& qs, const Shape& ks,
                           const Shape& bias_shape, DType dtype) {
  Generator gen(4);
  const Tensor q = gen.normal(qs, 0, 1, dtype, o.device), k = gen.normal(ks, 0, 1, dtype, o.device),
               v = gen.normal(ks, 0, 1, dtype, o.device);
  const Tensor bias = bias_shape.empty() ? Tensor() : gen.normal(bias_shape, 0, 1, dtype, o.device);
  const ops::AttentionFusedForward f = ops::scaled_dot_product_attention_fused_forward(q, k, v, bias);
  const Tensor g = gen.normal(f.out.shape(), 0, 1, dtype, o.device);
  ops::AttentionNeeds needs;
  needs.bias = bias.defined();
  const ops::AttentionGrads r =
      ops::scaled_dot_product_attention_fused_backward(g, q, k, v, bias, Tensor(), f.out, f.logsumexp, f.scale, needs);
  std::string shape = "q " + shape_str(qs) + ", kv " + shape_str(ks);
  if (bias.defined()) shape += ", bias " + shape_str(bias_shape);
  return {{std::string(name) + " forward", dtype_name(dtype), shape, bytes_of({q, k, v, bias, f.out}),
           timer.median_ms([&] { ops::scaled_dot_product_attention(q, k, v, bias); })},
          {std::string(name) + " backward", dtype_name(dtype), shape,
           bytes_of({q, k, v, bias, f.out, g, r.q, r.k, r.v, r.bias}), timer.median_ms([&] {
             ops::scaled_dot_product_attention_fused_backward(g, q, k, v, bias, Tensor(), f.out, f.logsumexp, f.scale,
                                                              needs);
           })}};
}

void print(const Options& o, double copy_gbps, const std::vector<Row>& rows) {
  const gpu::DeviceInfo info = gpu::device_info(o.device.index);
  if (o.json) {
    std::printf("{\"device\": \"%s\", \"name\": \"%s\", \"iters\": %d, \"copy_gbps\": %.1f, \"rows\": [",
                o.device.str().c_str(), info.name.c_str(), o.iters, copy_gbps);
    for (size_t i = 0; i < rows.size(); ++i)
      std::printf("%s{\"op\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\", \"bytes\": %.0f, \"ms\": %.4f}",
                  i ? ", " : "", rows[i].op.c_str(), rows[i].dtype.c_str(), rows[i].shape.c_str(), rows[i].bytes,
                  rows[i].ms);
    std::printf("]}\n");
    return;
  }
  std::printf("cudaseg on %s (%s), median of %d after %d warm-up runs\n", o.device.str().c_str(), info.name.c_str(),
              o.iters, o.warmup);
  std::printf("device-to-device copy: %.0f GB/s (read + write)\n\n", copy_gbps);
  std::printf("| op | dtype | shape | ms | GB/s | of copy |\n| --- | --- | --- | --- | --- | --- |\n");
  for (const Row& r : rows) {
    const double gbps = r.bytes / (r.ms * 1e6);
    std::printf("| %s | %s | %s | %.3f | %.0f | %.0f%% |\n", r.op.c_str(), r.dtype.c_str(), r.shape.c_str(), r.ms,
                gbps, 100.0 * gbps / copy_gbps);
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
        if (!o.device.is_cuda()) throw std::invalid_argument("bench_cuda times CUDA devices only");
      } else if (a == "--iters") {
        o.iters = std::max(1, std::stoi(value()));
      } else if (a == "--warmup") {
        o.warmup = std::max(0, std::stoi(value()));
      } else if (a == "--json") {
        o.json = true;
      } else {
        std::fprintf(stderr, "bench_cuda: unknown argument '%s'\n", a.c_str());
        usage(stderr);
        return 2;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_cuda: %s: %s\n", a.c_str(), e.what());
      return 2;
    }
  }
  try {
    gpu::check_device(o.device.index);
    Timer timer(o);
    const double copy_gbps = copy_bandwidth(o, timer);
    std::vector<Row> rows;
    rows.push_back(depthwise(o, timer, DType::f32));
    rows.push_back(depthwise(o, timer, DType::f16));
    rows.push_back(bilinear(o, timer));
    for (Row& r : cross_entropy(o, timer)) rows.push_back(std::move(r));
    for (DType dtype : {DType::f32, DType::f16}) {
      for (Row& r : attention(o, timer, "attention SegFormer-B0 stage 1", {1, 1, 16384, 32}, {1, 1, 256, 32}, {},
                              dtype))
        rows.push_back(std::move(r));
      for (Row& r : attention(o, timer, "attention Swin windows", {256, 3, 49, 32}, {256, 3, 49, 32}, {3, 49, 49},
                              dtype))
        rows.push_back(std::move(r));
    }
    print(o, copy_gbps, rows);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
