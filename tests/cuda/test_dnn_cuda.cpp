// cuDNN convolutions through cuda/dnn.h: threads that convolve at once, each
// with its own handle and descriptors and the algorithms of one shared
// table, get the results of one thread; channels-last tensors run as NHWC
// descriptors and agree with the float64 CPU convolution; tensors the
// descriptors would misdescribe are refused before cuDNN sees them.
#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "common/cuda_compare.h"
#include "common/cuda_skip.h"
#include "common/testing.h"
#include "cuda/dnn.h"
#include "ops/conv.h"
#include "runtime/gpu.h"

namespace cudaseg::cuda {
namespace {

namespace ct = cudaseg::testing;

struct Conv {
  Shape x, w;
  ConvSpec spec;
};

ConvSpec spec(int64_t stride, int64_t pad, int64_t dilation = 1, int64_t groups = 1) {
  ConvSpec s;
  s.stride = {stride, stride};
  s.padding = {pad, pad};
  s.dilation = {dilation, dilation};
  s.groups = groups;
  return s;
}

// Shapes of the zoo's dense and grouped convolutions, small.
const std::vector<Conv>& convs() {
  static const std::vector<Conv> c = {
      {{1, 3, 33, 47}, {16, 3, 3, 3}, spec(2, 1)},   {{2, 16, 17, 24}, {32, 16, 3, 3}, spec(1, 1)},
      {{1, 32, 17, 24}, {32, 32, 1, 1}, spec(1, 0)}, {{1, 32, 17, 24}, {32, 8, 3, 3}, spec(1, 2, 2, 4)},
      {{1, 64, 9, 12}, {16, 64, 3, 3}, spec(2, 1)},  {{1, 16, 9, 12}, {64, 16, 1, 1}, spec(1, 0)},
  };
  return c;
}

Shape output_shape(const Conv& c) {
  Shape y{c.x[0], c.w[0], 0, 0};
  for (int a = 0; a < 2; ++a)
    y[2 + a] = (c.x[2 + a] + 2 * c.spec.padding[a] - c.spec.dilation[a] * (c.w[2 + a] - 1) - 1) / c.spec.stride[a] + 1;
  return y;
}

Tensor forward(const Conv& c, const Tensor& x, const Tensor& w) {
  Tensor y = Tensor::empty(output_shape(c), x.dtype(), x.device());
  dnn_conv_forward(x, w, y, c.spec);
  return y;
}

// Threads on their own streams running every convolution many times give the
// bits one thread gets: one algorithm per key for every thread, and cuDNN's
// forward algorithms are deterministic.
TEST(DnnCuda, ConcurrentThreadsGetOneThreadsResults) {
  CUDASEG_REQUIRE_CUDA();
  std::vector<Tensor> xs, ws, want;
  uint64_t seed = 1;
  for (const Conv& c : convs()) {
    xs.push_back(ct::randn(c.x, seed++, DType::f32).to(Device::cuda(0)));
    ws.push_back(ct::randn(c.w, seed++, DType::f32).to(Device::cuda(0)));
    want.push_back(forward(c, xs.back(), ws.back()).to(Device::cpu()));
  }
  constexpr int kThreads = 4, kRounds = 20;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        const gpu::Stream stream = gpu::Stream::create(0);
        const gpu::StreamGuard guard(stream);
        for (int r = 0; r < kRounds; ++r)
          for (size_t i = 0; i < convs().size(); ++i) {
            const Tensor y = forward(convs()[i], xs[i], ws[i]);
            if (r == kRounds - 1 && y.to(Device::cpu()).to_vector() != want[i].to_vector())
              errors[t] = "conv " + std::to_string(i) + " differs";
          }
        stream.synchronize();
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
}

// [N, C, H, W] values laid out NHWC in memory.
Tensor channels_last(const Tensor& t) { return t.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2}); }

TEST(DnnCuda, ChannelsLastRunsAsNhwcAndAgreesWithTheCpu) {
  CUDASEG_REQUIRE_CUDA();
  uint64_t seed = 50;
  for (DType dtype : {DType::f32, DType::f16, DType::bf16})
    for (const Conv& c : convs()) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " x" + shape_str(c.x) + " w" + shape_str(c.w));
      const Tensor x64 = ct::randn(c.x, seed++).to(dtype).to(DType::f64);
      const Tensor w64 = ct::randn(c.w, seed++).to(dtype).to(DType::f64);
      ops::Conv2dParams p;
      p.stride = c.spec.stride;
      p.padding = c.spec.padding;
      p.dilation = c.spec.dilation;
      p.groups = c.spec.groups;
      const Tensor want = ops::conv2d(x64, w64, Tensor(), p);
      const Tensor x = channels_last(x64.to(Device::cuda(0), dtype));
      const Tensor w = channels_last(w64.to(Device::cuda(0), dtype));
      const Shape ys = output_shape(c);
      Tensor y = Tensor::empty({ys[0], ys[2], ys[3], ys[1]}, dtype, Device::cuda(0)).permute({0, 3, 1, 2});
      ASSERT_FALSE(x.is_contiguous() && y.is_contiguous());
      dnn_conv_forward(x, w, y, c.spec);
      EXPECT_LE(ct::rel_l2(y.to(Device::cpu(), DType::f64).contiguous(), want), testing::cuda::tolerance(dtype));
    }
}

TEST(DnnCuda, RefusesTensorsItsDescriptorsWouldMisdescribe) {
  CUDASEG_REQUIRE_CUDA();
  const Conv& c = convs()[1];
  const Tensor x = Tensor::zeros(c.x, DType::f32, Device::cuda(0));
  const Tensor w = Tensor::zeros(c.w, DType::f32, Device::cuda(0));
  auto message = [&](const Tensor& xx, const Tensor& ww, const Tensor& yy) {
    try {
      dnn_conv_forward(xx, ww, yy, c.spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const Tensor good = Tensor::empty(output_shape(c), DType::f32, Device::cuda(0));
  EXPECT_EQ(message(x, w, good), "no error");
  Shape wrong = output_shape(c);
  wrong[3] += 1;
  EXPECT_NE(message(x, w, Tensor::empty(wrong, DType::f32, Device::cuda(0))).find("not the convolution's output"),
            std::string::npos);
  EXPECT_NE(message(channels_last(x), w, good).find("all contiguous NCHW or all channels-last"), std::string::npos);
  EXPECT_NE(message(x, w.to(DType::f16), good).find("of one dtype"), std::string::npos);
}

}  // namespace
}  // namespace cudaseg::cuda
