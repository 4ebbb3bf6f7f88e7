// Shared by the fused attention kernels (cuda/attention.cu forward,
// cuda/attention_backward.cu backward): the operands of one call as strided
// views over the broadcast batch dims, the biased and masked score, and the
// warp reductions. Device code only; the launchers register into
// ops/kernels/attention.h.
#pragma once

#include <cmath>

#include "cuda/indexing.cuh"
#include "ops/kernels/attention.h"

namespace cudaseg::cuda {
using ops::kernels::kAttentionMaxHeadDim;
}  // namespace cudaseg::cuda

namespace cudaseg::cuda::attn {

constexpr int kWarps = 8;
constexpr int kRowsPerWarp = 4;                    // query rows (or keys) per warp
constexpr int kBlockRows = kWarps * kRowsPerWarp;  // query rows (or keys) per block
constexpr int kTile = 32;                          // keys (or query rows) per tile: one per lane
constexpr unsigned kFull = 0xffffffffu;

template <typename A>
__device__ __forceinline__ A exp_(A x) {
  if constexpr (std::is_same_v<A, double>) {
    return exp(x);
  } else {
    return expf(x);
  }
}

template <typename A>
__device__ __forceinline__ A log_(A x) {
  if constexpr (std::is_same_v<A, double>) {
    return log(x);
  } else {
    return logf(x);
  }
}

template <typename A>
__device__ __forceinline__ A neg_inf() {
  return -static_cast<A>(INFINITY);
}

template <typename A>
__device__ __forceinline__ A warp_max(A v) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(kFull, v, o));
  return v;
}

template <typename A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Operand order in the batch offsets.
enum { kQ, kK, kV, kBias, kMask, kOperands };

// q [.., lq, d], k [.., lk, d], v [.., lk, dv], bias and mask [.., lq, lk]
// (or null), all expanded to the nbatch entries of the broadcast batch dims.
template <typename T>
struct Operands {
  const T* q;
  const T* k;
  const T* v;
  const T* bias;     // or null
  const bool* mask;  // or null
  int64_t lq, lk, d, dv, nbatch;
  StridedOffsets<kOperands> batch;  // element offsets of each operand's batch entry
  int64_t q_rs, q_cs, k_rs, k_cs, v_rs, v_cs, b_rs, b_cs, m_rs, m_cs;
  acc_t<T> scale;

  // scale * (q_row . k_col) + bias, or -inf where the mask drops the key.
  __device__ __forceinline__ acc_t<T> score(const int64_t (&off)[kOperands], int64_t row, int64_t col,
                                            acc_t<T> dot) const {
    acc_t<T> s = dot * scale;
    if (bias) s += load(bias[off[kBias] + row * b_rs + col * b_cs]);
    if (mask && !mask[off[kMask] + row * m_rs + col * m_cs]) s = neg_inf<acc_t<T>>();
    return s;
  }
};

// The operands of a call whose batch dims are q's leading dims (every operand
// already expanded to them).
template <typename T>
Operands<T> make_operands(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& mask,
                          double scale, const char* op) {
  const int64_t nd = q.dim();
  CUDASEG_CHECK(nd - 2 <= kMaxDims, op, ": CUDA kernels take at most ", kMaxDims, " batch dims, got ", q.str());
  Operands<T> a{};
  a.q = ptr<const T>(q);
  a.k = ptr<const T>(k);
  a.v = ptr<const T>(v);
  a.bias = bias.defined() ? ptr<const T>(bias) : nullptr;
  a.mask = mask.defined() ? ptr<const bool>(mask) : nullptr;
  a.lq = q.size(-2);
  a.lk = k.size(-2);
  a.d = q.size(-1);
  a.dv = v.size(-1);
  a.nbatch = 1;
  a.batch.ndim = static_cast<int>(nd - 2);
  const Tensor* operands[kOperands] = {&q, &k, &v, &bias, &mask};
  for (int64_t i = 0; i < nd - 2; ++i) {
    a.batch.sizes[i] = q.size(i);
    a.nbatch *= q.size(i);
    for (int t = 0; t < kOperands; ++t) a.batch.strides[t][i] = operands[t]->defined() ? operands[t]->stride(i) : 0;
  }
  a.q_rs = q.stride(-2), a.q_cs = q.stride(-1);
  a.k_rs = k.stride(-2), a.k_cs = k.stride(-1);
  a.v_rs = v.stride(-2), a.v_cs = v.stride(-1);
  a.b_rs = bias.defined() ? bias.stride(-2) : 0, a.b_cs = bias.defined() ? bias.stride(-1) : 0;
  a.m_rs = mask.defined() ? mask.stride(-2) : 0, a.m_cs = mask.defined() ? mask.stride(-1) : 0;
  a.scale = static_cast<acc_t<T>>(scale);
  return a;
}

// Dynamic shared memory above the default 48 KiB must be opted into per kernel.
template <typename Kernel>
void allow_shared(Kernel kernel, size_t bytes, const char* op, int64_t d, int64_t dv) {
  if (bytes > 48 * 1024)
    CUDASEG_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(bytes)),
                       op, " (", bytes, " bytes of shared memory, D=", d, ", Dv=", dv, ")");
}

}  // namespace cudaseg::cuda::attn
