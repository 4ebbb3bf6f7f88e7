#include <gtest/gtest.h>

#include "common/cuda_skip.h"
#include "runtime/cuda_graph.h"
#include "runtime/gpu.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"

using namespace cudaseg;

TEST(CudaRuntime, DeviceCountNeverThrows) {
  EXPECT_NO_THROW(gpu::device_count());
  EXPECT_GE(gpu::device_count(), 0);
  EXPECT_TRUE(gpu::compiled());
  if (gpu::device_count() == 0) {
    EXPECT_THROW(Tensor::empty({4}, DType::f32, Device::cuda(0)), Error);
  }
}

TEST(CudaRuntime, PhiloxStreamsEqualOnCpuAndCuda) {
  CUDASEG_REQUIRE_CUDA();
  for (DType dtype : {DType::f32, DType::f64}) {
    Generator cpu(2024, 12), gpu(2024, 12);
    EXPECT_EQ(cpu.uniform({4099}, -1, 3, dtype).to_vector(),
              gpu.uniform({4099}, -1, 3, dtype, Device::cuda(0)).to_vector());
    EXPECT_EQ(cpu.normal({4099}, 0.5, 2, dtype).to_vector(),
              gpu.normal({4099}, 0.5, 2, dtype, Device::cuda(0)).to_vector());
    EXPECT_EQ(cpu.offset(), gpu.offset());
  }
}

TEST(CudaRuntime, CachingAllocatorReusesFreedBlocks) {
  CUDASEG_REQUIRE_CUDA();
  gpu::empty_cache();
  const gpu::AllocatorStats before = gpu::allocator_stats(0);
  { Tensor a = Tensor::empty({1 << 20}, DType::f32, Device::cuda(0)); }
  const gpu::AllocatorStats mid = gpu::allocator_stats(0);
  EXPECT_EQ(mid.device_mallocs, before.device_mallocs + 1);
  EXPECT_EQ(mid.allocated_bytes, before.allocated_bytes);
  EXPECT_GE(mid.reserved_bytes, before.reserved_bytes + (4 << 20));
  { Tensor b = Tensor::empty({(1 << 20) - 100}, DType::f32, Device::cuda(0)); }
  const gpu::AllocatorStats after = gpu::allocator_stats(0);
  EXPECT_EQ(after.device_mallocs, mid.device_mallocs);  // served from the cache
  EXPECT_EQ(after.cache_hits, mid.cache_hits + 1);
  EXPECT_GE(after.peak_allocated_bytes, 4 << 20);
  gpu::empty_cache();
  EXPECT_EQ(gpu::allocator_stats(0).reserved_bytes, before.reserved_bytes);
}

TEST(CudaRuntime, CopiesAndCastsBetweenDevices) {
  CUDASEG_REQUIRE_CUDA();
  Generator gen(5);
  Tensor x = gen.normal({3, 7, 5}, 0, 2, DType::f64);
  Tensor view = x.permute({2, 0, 1}).slice(1, 0, 3, 2);
  Tensor on_gpu = view.to(Device::cuda(0));
  EXPECT_EQ(on_gpu.to_vector(), view.to_vector());
  // A strided view on the device, cast there, back to the host.
  Tensor dev = x.to(Device::cuda(0)).permute({2, 0, 1}).slice(1, 0, 3, 2);
  EXPECT_EQ(dev.to(DType::f32).to_vector(), view.to(DType::f32).to_vector());
  EXPECT_EQ(dev.to(DType::f16).to(Device::cpu()).to_vector(), view.to(DType::f16).to_vector());
  Tensor filled = Tensor::full({5, 3}, 2.5, DType::bf16, Device::cuda(0));
  EXPECT_EQ(filled.to_vector(), std::vector<double>(15, 2.5));
  gpu::synchronize(0);
}

TEST(CudaRuntime, StreamsAndEvents) {
  CUDASEG_REQUIRE_CUDA();
  gpu::Stream s = gpu::Stream::create(0);
  {
    gpu::StreamGuard guard(s);
    EXPECT_TRUE(gpu::Stream::current(0) == s);
    gpu::Event start(0), end(0);
    start.record(s);
    Tensor t = Tensor::ones({1 << 16}, DType::f32, Device::cuda(0));
    end.record(s);
    end.synchronize();
    EXPECT_TRUE(end.done());
    EXPECT_GE(start.elapsed_ms(end), 0.0f);
  }
  EXPECT_FALSE(gpu::Stream::current(0) == s);
}

namespace {
int prepared_calls = 0, prepared_device = -1;
bool prepared_while_capturing = true;
gpu::Stream prepared_stream;
// Stays registered after its test: counts only while that test runs.
void count_preparation(int device) {
  if (prepared_stream.handle() == nullptr) return;
  ++prepared_calls;
  prepared_device = device;
  prepared_while_capturing = gpu::Graph::capturing(prepared_stream);
}
}  // namespace

// begin_capture runs the registered preparers with the stream's device, before
// the stream is in capture mode (cuda/dnn.cpp makes its handle there).
TEST(CudaRuntime, CapturePreparersRunBeforeTheCaptureOpens) {
  CUDASEG_REQUIRE_CUDA();
  prepared_stream = gpu::Stream::create(0);
  gpu::add_capture_preparer(&count_preparation);
  gpu::Graph::begin_capture(prepared_stream);
  EXPECT_TRUE(gpu::Graph::capturing(prepared_stream));
  gpu::Graph::abort_capture(prepared_stream);
  EXPECT_EQ(prepared_calls, 1);
  EXPECT_EQ(prepared_device, 0);
  EXPECT_FALSE(prepared_while_capturing);
  prepared_stream = gpu::Stream();
}
