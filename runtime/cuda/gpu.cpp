// The CUDA runtime layer: devices, streams, events and the caching allocator.
//
// The allocator keeps one pool of freed blocks per (device, stream). A block
// freed on a stream is only handed out again on that stream, so stream order
// alone guarantees the previous user's kernels are done with it. Sizes round
// up to 512 bytes; a cached block is reused for a request between half its
// size and its size, so small requests do not pin large blocks.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <vector>

#include "runtime/cuda/check.h"
#include "runtime/gpu.h"

namespace cudaseg::gpu {
namespace {

constexpr size_t kRound = 512;

struct DeviceState {
  std::map<void*, std::multimap<size_t, void*>> free_blocks;  // stream -> size -> ptr
  AllocatorStats stats;
};

struct AllocatorState {
  std::mutex mutex;
  std::vector<DeviceState> devices;
};

// Never destroyed: freeing device memory after the CUDA runtime has shut down
// at exit would fail, and the driver reclaims it anyway.
AllocatorState& state() {
  static AllocatorState* s = [] {
    auto* st = new AllocatorState;
    st->devices.resize(static_cast<size_t>(std::max(device_count(), 0)));
    return st;
  }();
  return *s;
}

thread_local std::map<int, Stream> current_streams;

void free_cached(DeviceState& dev, int device) {
  DeviceGuard guard(device);
  for (auto& [stream, blocks] : dev.free_blocks) {
    for (auto& [size, ptr] : blocks) {
      CUDASEG_CUDA_CHECK(cudaFree(ptr), "empty_cache on cuda:", device);
      dev.stats.reserved_bytes -= static_cast<int64_t>(size);
      ++dev.stats.device_frees;
    }
    blocks.clear();
  }
}

}  // namespace

bool compiled() { return true; }

int device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();  // no driver or no device: treated as zero devices
      return 0;
    }
    return n;
  }();
  return count;
}

void check_device(int index) {
  const int n = device_count();
  CUDASEG_CHECK(n > 0, "cuda:", index, " requested but no CUDA device is available");
  CUDASEG_CHECK(index >= 0 && index < n, "cuda:", index, " requested but only ", n,
                " CUDA device(s) exist");
}

DeviceInfo device_info(int index) {
  check_device(index);
  cudaDeviceProp prop{};
  CUDASEG_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  DeviceInfo info;
  info.name = prop.name;
  info.major = prop.major;
  info.minor = prop.minor;
  info.total_memory = prop.totalGlobalMem;
  info.multiprocessors = prop.multiProcessorCount;
  return info;
}

void synchronize(int device) {
  check_device(device);
  DeviceGuard guard(device);
  CUDASEG_CUDA_CHECK(cudaDeviceSynchronize());
}

// ---------------------------------------------------------------- streams

Stream Stream::create(int device) {
  check_device(device);
  DeviceGuard guard(device);
  cudaStream_t s = nullptr;
  CUDASEG_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  Stream out;
  out.handle_ = s;
  out.device_ = device;
  out.owner_ = std::shared_ptr<void>(s, [device](void* p) {
    int prev = 0;
    cudaGetDevice(&prev);
    cudaSetDevice(device);
    cudaStreamDestroy(static_cast<cudaStream_t>(p));
    cudaSetDevice(prev);
  });
  return out;
}

Stream Stream::default_stream(int device) {
  check_device(device);
  Stream out;
  out.device_ = device;
  return out;
}

Stream Stream::current(int device) {
  auto it = current_streams.find(device);
  return it == current_streams.end() ? default_stream(device) : it->second;
}

void Stream::set_current(const Stream& stream) {
  check_device(stream.device());
  current_streams[stream.device()] = stream;
}

void Stream::synchronize() const {
  DeviceGuard guard(device_);
  CUDASEG_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(handle_)));
}

StreamGuard::StreamGuard(const Stream& stream) : previous_(Stream::current(stream.device())) {
  Stream::set_current(stream);
}

StreamGuard::~StreamGuard() { current_streams[previous_.device()] = previous_; }

Event::Event(int device) : device_(device) {
  check_device(device);
  DeviceGuard guard(device);
  cudaEvent_t e = nullptr;
  CUDASEG_CUDA_CHECK(cudaEventCreate(&e));
  event_ = std::shared_ptr<void>(e, [](void* p) { cudaEventDestroy(static_cast<cudaEvent_t>(p)); });
}

void Event::record(const Stream& stream) {
  DeviceGuard guard(device_);
  CUDASEG_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event_.get()),
                                     static_cast<cudaStream_t>(stream.handle())));
}

void Event::synchronize() const {
  CUDASEG_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event_.get())));
}

bool Event::done() const {
  const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(event_.get()));
  if (status == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  CUDASEG_CUDA_CHECK(status);
  return true;
}

float Event::elapsed_ms(const Event& end) const {
  float ms = 0.0f;
  CUDASEG_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(event_.get()),
                                          static_cast<cudaEvent_t>(end.event_.get())));
  return ms;
}

// ---------------------------------------------------------------- allocator

Block allocate(size_t nbytes, int device) {
  check_device(device);
  const size_t size = std::max(kRound, (nbytes + kRound - 1) / kRound * kRound);
  void* stream = Stream::current(device).handle();
  AllocatorState& st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  DeviceState& dev = st.devices[static_cast<size_t>(device)];
  ++dev.stats.allocations;

  auto& pool = dev.free_blocks[stream];
  auto it = pool.lower_bound(size);
  if (it != pool.end() && it->first <= 2 * size) {
    Block block{it->second, it->first, device, stream};
    pool.erase(it);
    ++dev.stats.cache_hits;
    dev.stats.allocated_bytes += static_cast<int64_t>(block.size);
    dev.stats.peak_allocated_bytes = std::max(dev.stats.peak_allocated_bytes, dev.stats.allocated_bytes);
    return block;
  }

  DeviceGuard guard(device);
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, size);
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    free_cached(dev, device);
    status = cudaMalloc(&ptr, size);
  }
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    size_t free_mem = 0, total_mem = 0;
    cudaMemGetInfo(&free_mem, &total_mem);
    CUDASEG_FAIL_OOM("out of CUDA memory allocating ", nbytes, " bytes on cuda:", device, " (",
                 cudaGetErrorString(status), "; cudaseg holds ", dev.stats.allocated_bytes,
                 " bytes in tensors, ", dev.stats.reserved_bytes, " reserved; device has ", free_mem,
                 " of ", total_mem, " bytes free)");
  }
  ++dev.stats.device_mallocs;
  dev.stats.reserved_bytes += static_cast<int64_t>(size);
  dev.stats.peak_reserved_bytes = std::max(dev.stats.peak_reserved_bytes, dev.stats.reserved_bytes);
  dev.stats.allocated_bytes += static_cast<int64_t>(size);
  dev.stats.peak_allocated_bytes = std::max(dev.stats.peak_allocated_bytes, dev.stats.allocated_bytes);
  return Block{ptr, size, device, stream};
}

void release(const Block& block) {
  if (block.ptr == nullptr) return;
  AllocatorState& st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  DeviceState& dev = st.devices[static_cast<size_t>(block.device)];
  dev.stats.allocated_bytes -= static_cast<int64_t>(block.size);
  dev.free_blocks[block.stream].emplace(block.size, block.ptr);
}

AllocatorStats allocator_stats(int device) {
  check_device(device);
  AllocatorState& st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  return st.devices[static_cast<size_t>(device)].stats;
}

void reset_peak_stats(int device) {
  check_device(device);
  AllocatorState& st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  auto& stats = st.devices[static_cast<size_t>(device)].stats;
  stats.peak_allocated_bytes = stats.allocated_bytes;
  stats.peak_reserved_bytes = stats.reserved_bytes;
}

void empty_cache() {
  if (device_count() == 0) return;
  AllocatorState& st = state();
  std::lock_guard<std::mutex> lock(st.mutex);
  for (size_t d = 0; d < st.devices.size(); ++d) free_cached(st.devices[d], static_cast<int>(d));
}

// ---------------------------------------------------------------- copies

namespace {
void copy(void* dst, const void* src, size_t nbytes, int device, cudaMemcpyKind kind, const char* what) {
  check_device(device);
  DeviceGuard guard(device);
  auto stream = static_cast<cudaStream_t>(Stream::current(device).handle());
  CUDASEG_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, kind, stream), what, " of ", nbytes, " bytes");
  CUDASEG_CUDA_CHECK(cudaStreamSynchronize(stream), what);
}
}  // namespace

void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device) {
  copy(dst, src, nbytes, device, cudaMemcpyHostToDevice, "copy_host_to_device");
}
void copy_device_to_host(void* dst, const void* src, size_t nbytes, int device) {
  copy(dst, src, nbytes, device, cudaMemcpyDeviceToHost, "copy_device_to_host");
}
void copy_device_to_device(void* dst, const void* src, size_t nbytes, int device) {
  copy(dst, src, nbytes, device, cudaMemcpyDefault, "copy_device_to_device");
}

}  // namespace cudaseg::gpu
