#include <cuda_runtime.h>

#include <mutex>
#include <vector>

#include "runtime/cuda/check.h"
#include "runtime/cuda_graph.h"

namespace cudaseg::gpu {
namespace {

cudaStream_t raw(const Stream& stream) { return static_cast<cudaStream_t>(stream.handle()); }

// Built on first use: registrations come from other files' static initialisers.
struct Preparers {
  std::mutex mutex;
  std::vector<CapturePreparer> list;
};
Preparers& preparers() {
  static Preparers* p = new Preparers;  // never destroyed: a capture may run during exit
  return *p;
}

}  // namespace

void add_capture_preparer(CapturePreparer preparer) {
  Preparers& p = preparers();
  const std::lock_guard<std::mutex> lock(p.mutex);
  p.list.push_back(preparer);
}

void Graph::begin_capture(const Stream& stream) {
  CUDASEG_CHECK(stream.handle() != nullptr, "Graph::begin_capture: the legacy default stream of cuda:",
                stream.device(), " cannot be captured; use a created stream");
  DeviceGuard guard(stream.device());
  std::vector<CapturePreparer> list;
  {
    Preparers& p = preparers();
    const std::lock_guard<std::mutex> lock(p.mutex);
    list = p.list;
  }
  for (CapturePreparer prepare : list) prepare(stream.device());
  CUDASEG_CUDA_CHECK(cudaStreamBeginCapture(raw(stream), cudaStreamCaptureModeRelaxed), "capture on cuda:",
                     stream.device());
}

Graph Graph::end_capture(const Stream& stream, std::string& why) {
  DeviceGuard guard(stream.device());
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(raw(stream), &graph);
  if (ended != cudaSuccess) {
    (void)cudaGetLastError();
    if (graph) cudaGraphDestroy(graph);
    why = std::string("cudaStreamEndCapture: ") + cudaGetErrorName(ended) + " (" + cudaGetErrorString(ended) + ")";
    return {};
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiateWithFlags(&exec, graph, 0);  // one signature from CUDA 11.4 on
  cudaGraphDestroy(graph);  // the executable graph keeps what it needs
  if (made != cudaSuccess) {
    (void)cudaGetLastError();
    why = std::string("cudaGraphInstantiateWithFlags: ") + cudaGetErrorName(made) + " (" +
          cudaGetErrorString(made) + ")";
    return {};
  }
  Graph out;
  out.device_ = stream.device();
  out.exec_ = std::shared_ptr<void>(exec, [](void* p) { cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(p)); });
  return out;
}

void Graph::abort_capture(const Stream& stream) {
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) previous = stream.device();
  cudaSetDevice(stream.device());
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(raw(stream), &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    cudaGraph_t graph = nullptr;
    cudaStreamEndCapture(raw(stream), &graph);
    if (graph) cudaGraphDestroy(graph);
  }
  (void)cudaGetLastError();
  cudaSetDevice(previous);
}

bool Graph::capturing(const Stream& stream) {
  DeviceGuard guard(stream.device());
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  CUDASEG_CUDA_CHECK(cudaStreamIsCapturing(raw(stream), &status), "capture status on cuda:", stream.device());
  return status != cudaStreamCaptureStatusNone;
}

void Graph::launch(const Stream& stream) const {
  CUDASEG_CHECK(valid(), "Graph::launch: no graph was captured");
  CUDASEG_CHECK(stream.device() == device_, "Graph::launch: a graph of cuda:", device_, " launched on cuda:",
                stream.device());
  DeviceGuard guard(device_);
  CUDASEG_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_.get()), raw(stream)), "graph replay on cuda:",
                     device_);
}

}  // namespace cudaseg::gpu
