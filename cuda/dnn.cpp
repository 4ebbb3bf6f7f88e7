#include "cuda/dnn.h"

#include <cudnn.h>

#include <atomic>
#include <climits>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "cuda/dnn_key.h"
#include "cuda/libraries.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda_graph.h"
#include "runtime/gpu.h"
#include "runtime/math_mode.h"

namespace cudaseg::cuda {
namespace {

// The message arguments are evaluated only when the call fails.
#define CUDASEG_CUDNN_CHECK(call, ...)                                                            \
  do {                                                                                            \
    const cudnnStatus_t s_ = (call);                                                              \
    if (s_ != CUDNN_STATUS_SUCCESS) CUDASEG_FAIL(#call, " failed: ", cudnn().cudnnGetErrorString(s_), " in ", __VA_ARGS__); \
  } while (0)

constexpr size_t kWorkspaceLimit = size_t(1) << 30;
// The plans one handle keeps; beyond it they are dropped and set anew (a
// server fed ever new image sizes must not grow without bound). A net has a
// few hundred convolutions per input shape.
constexpr size_t kMaxPlansPerHandle = 4096;

struct AlgoChoice {
  int algo = 0;
  size_t workspace = 0;
};

const char* direction_name(ConvDirection d) {
  return d == ConvDirection::forward         ? "conv2d forward"
         : d == ConvDirection::backward_data ? "conv2d backward-data"
                                             : "conv2d backward-filter";
}

std::string describe(const ConvKey& k) {
  std::ostringstream os;
  os << direction_name(k.direction) << " on cuda:" << k.device << " x[" << k.n << ", " << k.c << ", " << k.h << ", "
     << k.w << "] w[" << k.o << ", " << k.c / k.groups << ", " << k.kh << ", " << k.kw << "] stride " << k.stride_h
     << "," << k.stride_w << " pad " << k.pad_h << "," << k.pad_w << " dil " << k.dilation_h << "," << k.dilation_w
     << " groups " << k.groups << " " << dtype_name(k.dtype) << (k.layout == ConvLayout::nhwc ? " nhwc" : " nchw")
     << (k.math == ConvMath::tensor_op ? " tensor-op" : k.math == ConvMath::default_math ? " tf32" : "");
  return os.str();
}

cudnnDataType_t data_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return CUDNN_DATA_FLOAT;
    case DType::f64: return CUDNN_DATA_DOUBLE;
    case DType::f16: return CUDNN_DATA_HALF;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    default: CUDASEG_FAIL("cuDNN convolution needs a floating dtype, got ", dtype_name(dtype));
  }
}

// NHWC strides over the logical [N, C, H, W] shape (a filter: [O, kh, kw, C/g]).
bool channels_last(const Tensor& t) {
  const int64_t c = t.size(1), h = t.size(2), w = t.size(3);
  auto same = [&](int64_t d, int64_t want) { return t.size(d) == 1 || t.stride(d) == want; };
  return same(1, 1) && same(3, c) && same(2, w * c) && same(0, h * w * c);
}

int32_t as_int(int64_t v, const char* what, const Tensor& x) {
  CUDASEG_CHECK(v >= 0 && v <= INT_MAX, "cuDNN convolution: ", what, " ", v, " does not fit cuDNN's int (input ",
                x.str(), ")");
  return static_cast<int32_t>(v);
}

// The key of a call, after checking that its tensors are what its
// descriptors will say: a cached descriptor is not checked by cuDNN again.
ConvKey key_of(ConvDirection dir, const Tensor& x, const Tensor& w, const Tensor& y, const ConvSpec& s) {
  auto fail = [&](const char* why) {
    CUDASEG_FAIL(direction_name(dir), ": ", why, " (x ", x.str(), ", w ", w.str(), ", y ", y.str(), ")");
  };
  for (const Tensor* t : {&x, &w, &y})
    if (t->dim() != 4 || !t->device().is_cuda() || t->dtype() != x.dtype() || t->device() != x.device())
      fail("tensors must be 4-d, on one CUDA device, of one dtype");
  ConvKey k;
  if (x.is_contiguous() && w.is_contiguous() && y.is_contiguous())
    k.layout = ConvLayout::nchw;
  else if (channels_last(x) && channels_last(w) && channels_last(y))
    k.layout = ConvLayout::nhwc;
  else
    fail("tensors must all be contiguous NCHW or all channels-last");
  k.device = x.device().index;
  k.direction = dir;
  k.dtype = x.dtype();
  k.math = (k.dtype == DType::f16 || k.dtype == DType::bf16) ? ConvMath::tensor_op
           : (k.dtype == DType::f32 && allow_tf32())        ? ConvMath::default_math
                                                            : ConvMath::fma;
  k.n = as_int(x.size(0), "batch", x);
  k.c = as_int(x.size(1), "channels", x);
  k.h = as_int(x.size(2), "height", x);
  k.w = as_int(x.size(3), "width", x);
  k.o = as_int(w.size(0), "filters", x);
  k.kh = as_int(w.size(2), "kernel height", x);
  k.kw = as_int(w.size(3), "kernel width", x);
  k.pad_h = as_int(s.padding[0], "padding", x);
  k.pad_w = as_int(s.padding[1], "padding", x);
  k.stride_h = as_int(s.stride[0], "stride", x);
  k.stride_w = as_int(s.stride[1], "stride", x);
  k.dilation_h = as_int(s.dilation[0], "dilation", x);
  k.dilation_w = as_int(s.dilation[1], "dilation", x);
  k.groups = as_int(s.groups, "groups", x);
  if (k.groups < 1 || k.stride_h < 1 || k.stride_w < 1 || k.dilation_h < 1 || k.dilation_w < 1)
    fail("groups, strides and dilations must be positive");
  if (k.c % k.groups != 0 || k.o % k.groups != 0 || w.size(1) * k.groups != k.c)
    fail("the filter does not fit the input's channels and groups");
  auto out = [](int64_t in, int64_t pad, int64_t dil, int64_t kernel, int64_t stride) {
    return (in + 2 * pad - dil * (kernel - 1) - 1) / stride + 1;
  };
  if (y.size(0) != k.n || y.size(1) != k.o || y.size(2) != out(k.h, k.pad_h, k.dilation_h, k.kh, k.stride_h) ||
      y.size(3) != out(k.w, k.pad_w, k.dilation_w, k.kw, k.stride_w))
    fail("y is not the convolution's output shape");
  return k;
}

// The descriptors of one convolution, set once when its key is first seen on
// a handle, and the algorithm chosen for it.
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  AlgoChoice choice;

  explicit Plan(const ConvKey& k) {
    try {
      set(k);
    } catch (...) {
      release();
      throw;
    }
  }
  ~Plan() { release(); }
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

 private:
  void set(const ConvKey& k) {
    CUDASEG_CUDNN_CHECK(cudnn().cudnnCreateTensorDescriptor(&x), describe(k));
    CUDASEG_CUDNN_CHECK(cudnn().cudnnCreateTensorDescriptor(&y), describe(k));
    CUDASEG_CUDNN_CHECK(cudnn().cudnnCreateFilterDescriptor(&w), describe(k));
    CUDASEG_CUDNN_CHECK(cudnn().cudnnCreateConvolutionDescriptor(&conv), describe(k));
    const cudnnDataType_t t = data_type(k.dtype);
    const cudnnTensorFormat_t f = k.layout == ConvLayout::nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    const int ho = (k.h + 2 * k.pad_h - k.dilation_h * (k.kh - 1) - 1) / k.stride_h + 1;
    const int wo = (k.w + 2 * k.pad_w - k.dilation_w * (k.kw - 1) - 1) / k.stride_w + 1;
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetTensor4dDescriptor(x, f, t, k.n, k.c, k.h, k.w), describe(k));
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetTensor4dDescriptor(y, f, t, k.n, k.o, ho, wo), describe(k));
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetFilter4dDescriptor(w, t, f, k.o, k.c / k.groups, k.kh, k.kw), describe(k));
    const cudnnDataType_t compute = k.dtype == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetConvolution2dDescriptor(conv, k.pad_h, k.pad_w, k.stride_h, k.stride_w,
                                                                k.dilation_h, k.dilation_w, CUDNN_CROSS_CORRELATION,
                                                                compute),
                        describe(k));
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetConvolutionGroupCount(conv, k.groups), describe(k));
    // f32 stays exact unless TF32 is allowed; 16-bit types use tensor cores.
    const cudnnMathType_t math = k.math == ConvMath::tensor_op      ? CUDNN_TENSOR_OP_MATH
                                 : k.math == ConvMath::default_math ? CUDNN_DEFAULT_MATH
                                                                    : CUDNN_FMA_MATH;
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetConvolutionMathType(conv, math), describe(k));
  }
  void release() {
    if (x) cudnn().cudnnDestroyTensorDescriptor(x);
    if (y) cudnn().cudnnDestroyTensorDescriptor(y);
    if (w) cudnn().cudnnDestroyFilterDescriptor(w);
    if (conv) cudnn().cudnnDestroyConvolutionDescriptor(conv);
  }
};

// A cuDNN handle and the plans set up on it. A handle is used by one thread
// at a time (cuDNN's rule), so nothing here is locked.
struct HandleSlot {
  cudnnHandle_t handle = nullptr;
  cudaStream_t stream = nullptr;
  bool stream_set = false;  // nullptr is the legacy default stream, a valid stream
  std::unordered_map<ConvKey, std::unique_ptr<Plan>, ConvKeyHash> plans;
};

// What the threads share: the handles no thread holds now, and the chosen
// algorithms. Never destroyed: the CUDA runtime may be gone at exit.
struct Shared {
  std::mutex pool_mutex;
  std::vector<std::vector<HandleSlot*>> free_slots;  // per device
  std::shared_mutex algo_mutex;
  std::unordered_map<ConvKey, AlgoChoice, ConvKeyHash> algos;
};

Shared& shared() {
  static Shared* s = new Shared;
  return *s;
}

// The handle slots of this thread, one per device. A thread that ends gives
// them back to the pool for the next thread, with their plans, so no cuDNN
// call runs at thread or process exit and a thread pool that replaces its
// threads reuses the same few handles.
struct Lease {
  std::vector<HandleSlot*> slots;  // by device index
  ~Lease() {
    Shared& s = shared();
    const std::lock_guard<std::mutex> lock(s.pool_mutex);
    for (size_t d = 0; d < slots.size(); ++d)
      if (slots[d] != nullptr) s.free_slots[d].push_back(slots[d]);
  }
};
thread_local Lease lease;

// Set when the first handle is made: before that the process has run no
// cuDNN convolution, and a capture needs no handle (nor cuDNN loaded).
std::atomic<bool> handles_made{false};

// The calling thread's slot for `device`, the current device.
HandleSlot& slot_for(int device) {
  const size_t d = static_cast<size_t>(device);
  if (d < lease.slots.size() && lease.slots[d] != nullptr) return *lease.slots[d];
  if (lease.slots.size() <= d) lease.slots.resize(d + 1, nullptr);
  Shared& s = shared();
  {
    const std::lock_guard<std::mutex> lock(s.pool_mutex);
    if (s.free_slots.size() <= d) s.free_slots.resize(d + 1);
    if (!s.free_slots[d].empty()) {
      lease.slots[d] = s.free_slots[d].back();
      s.free_slots[d].pop_back();
      return *lease.slots[d];
    }
  }
  // The one place a handle is created: a thread's first convolution on a
  // device, or the capture preparer below, so never inside a capture.
  auto slot = std::make_unique<HandleSlot>();
  CUDASEG_CUDNN_CHECK(cudnn().cudnnCreate(&slot->handle), "creating a cuDNN handle on cuda:", device);
  handles_made.store(true, std::memory_order_relaxed);
  lease.slots[d] = slot.release();
  return *lease.slots[d];
}

// Creating a cuDNN handle allocates device memory and may synchronize, which
// a CUDA graph capture must not contain: a thread about to capture (a
// session's second call of a shape, on a thread that never convolved before)
// gets its handle first. A process that has made no handle yet has no
// convolution to capture either, and keeps cuDNN unloaded.
void prepare_capture(int device) {
  if (!handles_made.load(std::memory_order_relaxed)) return;
  slot_for(device);
}

[[maybe_unused]] const bool capture_preparer_added = (gpu::add_capture_preparer(&prepare_capture), true);

// The first heuristic choice that succeeds within the workspace limit.
template <typename Perf, typename GetFn>
AlgoChoice first_fit(GetFn get, int count, const ConvKey& key) {
  std::vector<Perf> perf(static_cast<size_t>(count));
  int returned = 0;
  CUDASEG_CUDNN_CHECK(get(count, &returned, perf.data()), describe(key));
  for (int i = 0; i < returned; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kWorkspaceLimit)
      return {static_cast<int>(perf[i].algo), perf[i].memory};
  CUDASEG_FAIL("cuDNN has no algorithm for ", describe(key));
}

AlgoChoice query_algorithm(cudnnHandle_t h, const Plan& p, const ConvKey& key) {
  switch (key.direction) {
    case ConvDirection::forward:
      return first_fit<cudnnConvolutionFwdAlgoPerf_t>(
          [&](int n, int* r, cudnnConvolutionFwdAlgoPerf_t* perf) {
            return cudnn().cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, n, r, perf);
          },
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, key);
    case ConvDirection::backward_data:
      return first_fit<cudnnConvolutionBwdDataAlgoPerf_t>(
          [&](int n, int* r, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
            return cudnn().cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, n, r, perf);
          },
          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, key);
    case ConvDirection::backward_filter:
      return first_fit<cudnnConvolutionBwdFilterAlgoPerf_t>(
          [&](int n, int* r, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
            return cudnn().cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w, n, r, perf);
          },
          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, key);
  }
  CUDASEG_FAIL("unknown convolution direction in ", describe(key));
}

// The algorithm every thread uses for `key`: the shared table read under a
// shared lock, and on a miss cuDNN's heuristics queried with no lock held.
// When two threads miss together the first to insert wins, so one key never
// runs two algorithms (their results could differ in the last bits).
AlgoChoice algorithm_for(cudnnHandle_t h, const Plan& p, const ConvKey& key) {
  Shared& s = shared();
  {
    const std::shared_lock<std::shared_mutex> lock(s.algo_mutex);
    auto it = s.algos.find(key);
    if (it != s.algos.end()) return it->second;
  }
  const AlgoChoice choice = query_algorithm(h, p, key);
  const std::unique_lock<std::shared_mutex> lock(s.algo_mutex);
  return s.algos.emplace(key, choice).first->second;
}

// The slot's plan for `key`: found without any lock once this handle has run
// the convolution before.
const Plan& plan_for(HandleSlot& slot, const ConvKey& key) {
  auto it = slot.plans.find(key);
  if (it != slot.plans.end()) return *it->second;
  if (slot.plans.size() >= kMaxPlansPerHandle) slot.plans.clear();
  auto plan = std::make_unique<Plan>(key);
  plan->choice = algorithm_for(slot.handle, *plan, key);
  return *slot.plans.emplace(key, std::move(plan)).first->second;
}

void run(ConvDirection dir, const Tensor& x, const Tensor& w, const Tensor& y, const ConvSpec& s) {
  const ConvKey key = key_of(dir, x, w, y, s);
  gpu::DeviceGuard guard(key.device);
  HandleSlot& slot = slot_for(key.device);
  const auto stream = static_cast<cudaStream_t>(gpu::Stream::current(key.device).handle());
  if (!slot.stream_set || slot.stream != stream) {
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetStream(slot.handle, stream), describe(key));
    slot.stream = stream;
    slot.stream_set = true;
  }
  const Plan& p = plan_for(slot, key);
  const size_t bytes = p.choice.workspace;
  Tensor workspace = bytes ? Tensor::empty({static_cast<int64_t>(bytes)}, DType::u8, x.device()) : Tensor();
  void* ws = bytes ? workspace.raw_data() : nullptr;
  const double one64 = 1.0, zero64 = 0.0;
  const float one32 = 1.0f, zero32 = 0.0f;
  const void* one = x.dtype() == DType::f64 ? static_cast<const void*>(&one64) : &one32;
  const void* zero = x.dtype() == DType::f64 ? static_cast<const void*>(&zero64) : &zero32;
  const cudnnHandle_t h = slot.handle;
  switch (dir) {
    case ConvDirection::forward:
      CUDASEG_CUDNN_CHECK(cudnn().cudnnConvolutionForward(h, one, p.x, x.raw_data(), p.w, w.raw_data(), p.conv,
                                                          static_cast<cudnnConvolutionFwdAlgo_t>(p.choice.algo), ws,
                                                          bytes, zero, p.y, y.raw_data()),
                          describe(key));
      break;
    case ConvDirection::backward_data:
      CUDASEG_CUDNN_CHECK(cudnn().cudnnConvolutionBackwardData(h, one, p.w, w.raw_data(), p.y, y.raw_data(), p.conv,
                                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(p.choice.algo),
                                                               ws, bytes, zero, p.x, x.raw_data()),
                          describe(key));
      break;
    case ConvDirection::backward_filter:
      CUDASEG_CUDNN_CHECK(
          cudnn().cudnnConvolutionBackwardFilter(h, one, p.x, x.raw_data(), p.y, y.raw_data(), p.conv,
                                                 static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.choice.algo), ws,
                                                 bytes, zero, p.w, w.raw_data()),
          describe(key));
      break;
  }
}

}  // namespace

void dnn_conv_forward(const Tensor& x, const Tensor& w, const Tensor& y, const ConvSpec& spec) {
  run(ConvDirection::forward, x, w, y, spec);
}

void dnn_conv_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const ConvSpec& spec) {
  run(ConvDirection::backward_data, dx, w, dy, spec);
}

void dnn_conv_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dw, const ConvSpec& spec) {
  run(ConvDirection::backward_filter, x, dw, dy, spec);
}

}  // namespace cudaseg::cuda
