#include "cuda/dnn.h"

#include <cudnn.h>

#include <map>
#include <mutex>
#include <sstream>

#include "cuda/blas.h"
#include "cuda/libraries.h"
#include "runtime/cuda/check.h"
#include "runtime/math_mode.h"
#include "runtime/gpu.h"

namespace cudaseg::cuda {
namespace {

#define CUDASEG_CUDNN_CHECK(call, ...)                                                            \
  do {                                                                                            \
    const cudnnStatus_t s_ = (call);                                                              \
    if (s_ != CUDNN_STATUS_SUCCESS) CUDASEG_FAIL(#call, " failed: ", cudnn().cudnnGetErrorString(s_), " in ", __VA_ARGS__); \
  } while (0)

constexpr size_t kWorkspaceLimit = size_t(1) << 30;

enum class Direction { forward, backward_data, backward_filter };

struct Cache {
  std::mutex mutex;
  std::map<int, cudnnHandle_t> handles;
  std::map<std::string, std::pair<int, size_t>> algos;  // key -> (algorithm, workspace bytes)
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: the CUDA runtime may be gone at exit
  return *c;
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

// Owns the descriptors of one call.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Descriptors(const Shape& xs, const Shape& ws, const Shape& ys, const ConvSpec& s, DType dtype,
              const std::string& where) {
    const cudnnDataType_t t = data_type(dtype);
    CUDASEG_CUDNN_CHECK(cudnn().cudnnCreateTensorDescriptor(&x), where);
    CUDASEG_CUDNN_CHECK(cudnn().cudnnCreateTensorDescriptor(&y), where);
    CUDASEG_CUDNN_CHECK(cudnn().cudnnCreateFilterDescriptor(&w), where);
    CUDASEG_CUDNN_CHECK(cudnn().cudnnCreateConvolutionDescriptor(&conv), where);
    auto i = [](int64_t v) { return static_cast<int>(v); };
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, t, i(xs[0]), i(xs[1]), i(xs[2]), i(xs[3])), where);
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, t, i(ys[0]), i(ys[1]), i(ys[2]), i(ys[3])), where);
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetFilter4dDescriptor(w, t, CUDNN_TENSOR_NCHW, i(ws[0]), i(ws[1]), i(ws[2]), i(ws[3])), where);
    const cudnnDataType_t compute = dtype == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetConvolution2dDescriptor(conv, i(s.padding[0]), i(s.padding[1]), i(s.stride[0]),
                                                        i(s.stride[1]), i(s.dilation[0]), i(s.dilation[1]),
                                                        CUDNN_CROSS_CORRELATION, compute),
                        where);
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetConvolutionGroupCount(conv, i(s.groups)), where);
    // f32 stays exact unless TF32 is allowed; 16-bit types use tensor cores.
    const cudnnMathType_t math = (dtype == DType::f16 || dtype == DType::bf16) ? CUDNN_TENSOR_OP_MATH
                                 : (dtype == DType::f32 && allow_tf32())     ? CUDNN_DEFAULT_MATH
                                                                             : CUDNN_FMA_MATH;
    CUDASEG_CUDNN_CHECK(cudnn().cudnnSetConvolutionMathType(conv, math), where);
  }
  ~Descriptors() {
    cudnn().cudnnDestroyTensorDescriptor(x);
    cudnn().cudnnDestroyTensorDescriptor(y);
    cudnn().cudnnDestroyFilterDescriptor(w);
    cudnn().cudnnDestroyConvolutionDescriptor(conv);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

std::string describe(Direction d, const Shape& xs, const Shape& ws, const Shape& ys, const ConvSpec& s, DType dtype) {
  std::ostringstream os;
  os << (d == Direction::forward ? "conv2d forward" : d == Direction::backward_data ? "conv2d backward-data"
                                                                                     : "conv2d backward-filter")
     << " x" << shape_str(xs) << " w" << shape_str(ws) << " y" << shape_str(ys) << " stride " << s.stride[0] << ","
     << s.stride[1] << " pad " << s.padding[0] << "," << s.padding[1] << " dil " << s.dilation[0] << ","
     << s.dilation[1] << " groups " << s.groups << " " << dtype_name(dtype) << (allow_tf32() ? " tf32" : "");
  return os.str();
}

cudnnHandle_t handle_for(Cache& c, int device, const std::string& where) {
  auto it = c.handles.find(device);
  if (it != c.handles.end()) return it->second;
  cudnnHandle_t h = nullptr;
  CUDASEG_CUDNN_CHECK(cudnn().cudnnCreate(&h), where);
  c.handles[device] = h;
  return h;
}

// The first heuristic choice that succeeds within the workspace limit.
template <typename Perf, typename GetFn>
std::pair<int, size_t> choose(GetFn get, int count, const std::string& where) {
  std::vector<Perf> perf(static_cast<size_t>(count));
  int returned = 0;
  CUDASEG_CUDNN_CHECK(get(count, &returned, perf.data()), where);
  for (int i = 0; i < returned; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kWorkspaceLimit)
      return {static_cast<int>(perf[i].algo), perf[i].memory};
  CUDASEG_FAIL("cuDNN has no algorithm for ", where);
}

void run(Direction dir, const Tensor& x, const Tensor& w, const Tensor& y, const ConvSpec& s) {
  const std::string where = describe(dir, x.shape(), w.shape(), y.shape(), s, x.dtype());
  for (const Tensor* t : {&x, &w, &y})
    CUDASEG_CHECK(t->device().is_cuda() && t->is_contiguous() && t->dtype() == x.dtype() && t->device() == x.device(),
                  where, ": tensors must be contiguous, on one CUDA device, one dtype (got ", t->str(), ")");
  const int device = x.device().index;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  gpu::DeviceGuard guard(device);
  cudnnHandle_t h = handle_for(c, device, where);
  const auto stream = static_cast<cudaStream_t>(gpu::Stream::current(device).handle());
  CUDASEG_CUDNN_CHECK(cudnn().cudnnSetStream(h, stream), where);
  Descriptors d(x.shape(), w.shape(), y.shape(), s, x.dtype(), where);

  const std::string key = std::to_string(device) + " " + where;
  auto it = c.algos.find(key);
  if (it == c.algos.end()) {
    std::pair<int, size_t> choice;
    if (dir == Direction::forward) {
      choice = choose<cudnnConvolutionFwdAlgoPerf_t>(
          [&](int n, int* r, cudnnConvolutionFwdAlgoPerf_t* p) {
            return cudnn().cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y, n, r, p);
          },
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, where);
    } else if (dir == Direction::backward_data) {
      choice = choose<cudnnConvolutionBwdDataAlgoPerf_t>(
          [&](int n, int* r, cudnnConvolutionBwdDataAlgoPerf_t* p) {
            return cudnn().cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x, n, r, p);
          },
          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, where);
    } else {
      choice = choose<cudnnConvolutionBwdFilterAlgoPerf_t>(
          [&](int n, int* r, cudnnConvolutionBwdFilterAlgoPerf_t* p) {
            return cudnn().cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x, d.y, d.conv, d.w, n, r, p);
          },
          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, where);
    }
    it = c.algos.emplace(key, choice).first;
  }
  const auto [algo, bytes] = it->second;
  Tensor workspace = bytes ? Tensor::empty({static_cast<int64_t>(bytes)}, DType::u8, x.device()) : Tensor();
  void* ws = bytes ? workspace.raw_data() : nullptr;
  const double one64 = 1.0, zero64 = 0.0;
  const float one32 = 1.0f, zero32 = 0.0f;
  const void* one = x.dtype() == DType::f64 ? static_cast<const void*>(&one64) : &one32;
  const void* zero = x.dtype() == DType::f64 ? static_cast<const void*>(&zero64) : &zero32;
  if (dir == Direction::forward) {
    CUDASEG_CUDNN_CHECK(cudnn().cudnnConvolutionForward(h, one, d.x, x.raw_data(), d.w, w.raw_data(), d.conv,
                                                static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, bytes, zero,
                                                d.y, y.raw_data()),
                        where);
  } else if (dir == Direction::backward_data) {
    CUDASEG_CUDNN_CHECK(cudnn().cudnnConvolutionBackwardData(h, one, d.w, w.raw_data(), d.y, y.raw_data(), d.conv,
                                                     static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws, bytes,
                                                     zero, d.x, x.raw_data()),
                        where);
  } else {
    CUDASEG_CUDNN_CHECK(cudnn().cudnnConvolutionBackwardFilter(h, one, d.x, x.raw_data(), d.y, y.raw_data(), d.conv,
                                                       static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), ws,
                                                       bytes, zero, d.w, w.raw_data()),
                        where);
  }
}

}  // namespace

void dnn_conv_forward(const Tensor& x, const Tensor& w, const Tensor& y, const ConvSpec& spec) {
  run(Direction::forward, x, w, y, spec);
}

void dnn_conv_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx, const ConvSpec& spec) {
  run(Direction::backward_data, dx, w, dy, spec);
}

void dnn_conv_backward_filter(const Tensor& x, const Tensor& dy, const Tensor& dw, const ConvSpec& spec) {
  run(Direction::backward_filter, x, dw, dy, spec);
}

}  // namespace cudaseg::cuda
