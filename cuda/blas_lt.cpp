#include "cuda/blas_lt.h"

#include <cublasLt.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>

#include "cuda/blas.h"
#include "cuda/libraries.h"
#include "runtime/cuda/check.h"
#include "runtime/math_mode.h"
#include "runtime/gpu.h"

namespace cudaseg::cuda {
namespace {

#define CUDASEG_CUBLASLT_CHECK(call, ...)                                                                   \
  do {                                                                                                     \
    const cublasStatus_t s_ = (call);                                                                      \
    if (s_ != CUBLAS_STATUS_SUCCESS) CUDASEG_FAIL(#call, " failed: ", cublas_lt().cublasLtGetStatusName(s_), " in ", __VA_ARGS__); \
  } while (0)

// NVIDIA's suggested cuBLASLt workspace for Hopper; the algorithm chosen says
// how much of it it needs, and only that much is taken from the allocator.
constexpr uint64_t kMaxWorkspace = 32ull << 20;
// PyTorch keeps cuBLASLt away from dims of 1 and from dims past this bound.
constexpr int64_t kMaxDim = 65535ll * 32;

template <typename H>
using Owned = std::unique_ptr<std::remove_pointer_t<H>, cublasStatus_t (*)(H)>;

// Problem -> the algorithm cuBLASLt's heuristic chose (none when it offered none):
// device, dtype, compute type, epilogue, rows, in, out features, alignments of
// A, B, D and the bias.
using Key = std::tuple<int, int, int, int, int64_t, int64_t, int64_t, int, int, int, int>;

struct State {
  std::mutex mutex;
  std::map<int, cublasLtHandle_t> handles;  // one per device, never destroyed (the runtime may be gone at exit)
  std::map<Key, std::optional<cublasLtMatmulHeuristicResult_t>> algos;
};

State& state() {
  static State* s = new State;
  return *s;
}

cublasLtHandle_t handle_for(State& s, int device) {
  auto it = s.handles.find(device);
  if (it != s.handles.end()) return it->second;
  cublasLtHandle_t handle = nullptr;
  CUDASEG_CUBLASLT_CHECK(cublas_lt().cublasLtCreate(&handle), "creating the cuBLASLt handle of cuda:", device);
  s.handles[device] = handle;
  return handle;
}

// The largest power of two dividing the address, up to the 256 cuBLASLt assumes by default.
int alignment(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  int a = 1;
  while (a < 256 && address % (2 * a) == 0) a *= 2;
  return a;
}

cublasLtEpilogue_t epilogue_of(LtActivation act, bool bias) {
  switch (act) {
    case LtActivation::relu: return bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    case LtActivation::gelu_tanh: return bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    default: return bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  }
}

}  // namespace

bool linear_lt(const Tensor& x, const Tensor& weight, const Tensor& bias, LtActivation act, const Tensor& out) {
  const int64_t rows = x.size(0), in = x.size(1), outf = weight.size(0);
  for (int64_t dim : {rows, in, outf})
    if (dim <= 1 || dim >= kMaxDim) return false;
  if (bias.defined() && alignment(bias.raw_data()) < 16) return false;
  cudaDataType_t type;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  switch (out.dtype()) {
    case DType::f32:
      type = CUDA_R_32F;
      if (allow_tf32()) compute = CUBLAS_COMPUTE_32F_FAST_TF32;
      break;
    case DType::f16: type = CUDA_R_16F; break;
    case DType::bf16: type = CUDA_R_16BF; break;
    default: return false;
  }
  const int device = out.device().index;
  const cublasLtEpilogue_t epilogue = epilogue_of(act, bias.defined());
  const auto where = [&] {
    return std::string("linear (cuBLASLt, x ") + x.str() + ", weight " + weight.str() + ", epilogue " +
           std::to_string(static_cast<int>(epilogue)) + ")";
  };

  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  gpu::DeviceGuard guard(device);
  cublasLtHandle_t handle = handle_for(s, device);

  // Row-major out = x w^T is column-major out^T [outf, rows] = w [in, outf]^T x^T [in, rows]:
  // A = the weight, transposed; B = x; the bias runs along out^T's rows.
  cublasLtMatmulDesc_t raw_desc = nullptr;
  CUDASEG_CUBLASLT_CHECK(cublas_lt().cublasLtMatmulDescCreate(&raw_desc, compute, CUDA_R_32F), where());
  const Owned<cublasLtMatmulDesc_t> desc(raw_desc, cublas_lt().cublasLtMatmulDescDestroy);
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  CUDASEG_CUBLASLT_CHECK(
      cublas_lt().cublasLtMatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)), where());
  CUDASEG_CUBLASLT_CHECK(
      cublas_lt().cublasLtMatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)), where());
  CUDASEG_CUBLASLT_CHECK(
      cublas_lt().cublasLtMatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)), where());
  if (bias.defined()) {
    const void* bias_ptr = bias.raw_data();
    CUDASEG_CUBLASLT_CHECK(
        cublas_lt().cublasLtMatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof(bias_ptr)),
        where());
  }
  const auto layout = [&](uint64_t r, uint64_t c) {
    cublasLtMatrixLayout_t l = nullptr;
    CUDASEG_CUBLASLT_CHECK(cublas_lt().cublasLtMatrixLayoutCreate(&l, type, r, c, static_cast<int64_t>(r)), where());
    return Owned<cublasLtMatrixLayout_t>(l, cublas_lt().cublasLtMatrixLayoutDestroy);
  };
  const auto a_layout = layout(in, outf), b_layout = layout(in, rows), d_layout = layout(outf, rows);

  const int align_a = alignment(weight.raw_data()), align_b = alignment(x.raw_data()),
            align_d = alignment(out.raw_data()), align_bias = bias.defined() ? alignment(bias.raw_data()) : 0;
  const Key key{device, static_cast<int>(out.dtype()), static_cast<int>(compute), static_cast<int>(epilogue),
                rows, in, outf, align_a, align_b, align_d, align_bias};
  auto found = s.algos.find(key);
  if (found == s.algos.end()) {
    cublasLtMatmulPreference_t raw_pref = nullptr;
    CUDASEG_CUBLASLT_CHECK(cublas_lt().cublasLtMatmulPreferenceCreate(&raw_pref), where());
    const Owned<cublasLtMatmulPreference_t> pref(raw_pref, cublas_lt().cublasLtMatmulPreferenceDestroy);
    const uint64_t workspace = kMaxWorkspace;
    CUDASEG_CUBLASLT_CHECK(cublas_lt().cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                                &workspace, sizeof(workspace)),
                           where());
    // Declare the operands' real alignment so no algorithm assuming more is offered.
    const std::pair<cublasLtMatmulPreferenceAttributes_t, int> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_d},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_d}};
    for (const auto& [attr, value] : aligns) {
      const uint32_t bytes = static_cast<uint32_t>(value);
      CUDASEG_CUBLASLT_CHECK(cublas_lt().cublasLtMatmulPreferenceSetAttribute(raw_pref, attr, &bytes, sizeof(bytes)), where());
    }
    cublasLtMatmulHeuristicResult_t result{};
    int count = 0;
    // A problem cuBLASLt cannot take is reported as a status, not an error of ours.
    const cublasStatus_t status = cublas_lt().cublasLtMatmulAlgoGetHeuristic(
        handle, raw_desc, a_layout.get(), b_layout.get(), d_layout.get(), d_layout.get(), raw_pref, 1, &result, &count);
    std::optional<cublasLtMatmulHeuristicResult_t> choice;
    if (status == CUBLAS_STATUS_SUCCESS && count > 0 && result.state == CUBLAS_STATUS_SUCCESS) choice = result;
    found = s.algos.emplace(key, choice).first;
  }
  if (!found->second) return false;
  const cublasLtMatmulHeuristicResult_t& choice = *found->second;

  const Tensor workspace = choice.workspaceSize > 0
                               ? Tensor::empty({static_cast<int64_t>(choice.workspaceSize)}, DType::u8, out.device())
                               : Tensor();
  const float alpha = 1.0f, beta = 0.0f;
  CUDASEG_CUBLASLT_CHECK(
      cublas_lt().cublasLtMatmul(handle, raw_desc, &alpha, weight.raw_data(), a_layout.get(), x.raw_data(), b_layout.get(), &beta,
                     out.raw_data(), d_layout.get(), out.raw_data(), d_layout.get(), &choice.algo,
                     workspace.defined() ? workspace.raw_data() : nullptr, choice.workspaceSize,
                     static_cast<cudaStream_t>(gpu::Stream::current(device).handle())),
      where());
  return true;
}

}  // namespace cudaseg::cuda
