// The CUDA runtime layer of a build without the CUDA backend: no devices, and
// every device operation explains why it cannot run.
#include "cudaseg_config.h"

#if !CUDASEG_WITH_CUDA
#include "runtime/cuda_graph.h"
#include "runtime/error.h"
#include "runtime/gpu.h"

namespace cudaseg::gpu {
namespace {
[[noreturn]] void unavailable(const char* what) {
  CUDASEG_FAIL(what, ": cudaseg was built without the CUDA backend (configure with -DCUDASEG_CUDA=ON)");
}
}  // namespace

bool compiled() { return false; }
int device_count() { return 0; }
void check_device(int) { unavailable("check_device"); }
DeviceInfo device_info(int) { unavailable("device_info"); }
void synchronize(int) { unavailable("synchronize"); }
Stream Stream::create(int) { unavailable("Stream::create"); }
Stream Stream::default_stream(int) { unavailable("Stream::default_stream"); }
Stream Stream::current(int) { unavailable("Stream::current"); }
void Stream::set_current(const Stream&) { unavailable("Stream::set_current"); }
void Stream::synchronize() const { unavailable("Stream::synchronize"); }
StreamGuard::StreamGuard(const Stream&) { unavailable("StreamGuard"); }
StreamGuard::~StreamGuard() = default;
Event::Event(int) : device_(0) { unavailable("Event"); }
void Event::record(const Stream&) { unavailable("Event::record"); }
void Event::synchronize() const { unavailable("Event::synchronize"); }
bool Event::done() const { unavailable("Event::done"); }
float Event::elapsed_ms(const Event&) const { unavailable("Event::elapsed_ms"); }
Block allocate(size_t, int) { unavailable("allocate"); }
void release(const Block&) {}
AllocatorStats allocator_stats(int) { return {}; }
void reset_peak_stats(int) {}
void empty_cache() {}
void copy_host_to_device(void*, const void*, size_t, int) { unavailable("copy_host_to_device"); }
void copy_device_to_host(void*, const void*, size_t, int) { unavailable("copy_device_to_host"); }
void copy_device_to_device(void*, const void*, size_t, int) { unavailable("copy_device_to_device"); }
// Without the backend nothing is ever captured, so there is nothing to prepare.
void add_capture_preparer(CapturePreparer) {}
void Graph::begin_capture(const Stream&) { unavailable("Graph::begin_capture"); }
Graph Graph::end_capture(const Stream&, std::string&) { unavailable("Graph::end_capture"); }
void Graph::abort_capture(const Stream&) {}
bool Graph::capturing(const Stream&) { return false; }
void Graph::launch(const Stream&) const { unavailable("Graph::launch"); }

}  // namespace cudaseg::gpu
#endif
