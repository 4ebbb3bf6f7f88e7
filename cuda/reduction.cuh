// Deterministic reductions shared by the normalisation, softmax and
// activation kernels; no atomics anywhere, so a result depends only on the
// shapes, never on scheduling.
//
// Row reductions: an [O, D, I] tensor holds O * I rows of D elements at stride
// I. A "team" reduces one row: a single thread when I > 1 (neighbouring
// threads then read neighbouring addresses, so the loop over D is coalesced),
// a warp when the contiguous row is short, a block when it is long. The row
// kernels are written once against the team interface and for_rows() picks the
// team.
//
// Channel reductions: one value per channel c of an [N, C, S] index space,
// over its N * S positions. P blocks per channel each fold a fixed slice into
// a partial, then one thread per channel folds its P partials in order.
#pragma once

#include <cstdint>

#include "cuda/common.cuh"

namespace cudaseg::cuda {

constexpr unsigned kFullMask = 0xffffffffu;
// Contiguous rows up to this length go to one warp, longer ones to a block.
constexpr int64_t kWarpRowMax = 1024;

struct ShflDown {
  int delta;
  template <typename V>
  __device__ V operator()(V v) const { return __shfl_down_sync(kFullMask, v, delta); }
};
struct ShflFrom {
  int lane;
  template <typename V>
  __device__ V operator()(V v) const { return __shfl_sync(kFullMask, v, lane); }
};

// Struct accumulators overload shuffle_with in their own namespace (found by
// argument-dependent lookup), shuffling each field with f.
template <typename F>
__device__ __forceinline__ float shuffle_with(float v, const F& f) { return f(v); }
template <typename F>
__device__ __forceinline__ double shuffle_with(double v, const F& f) { return f(v); }

template <typename A>
struct SumOp {
  __device__ A operator()(A a, A b) const { return a + b; }
};
template <typename A>
struct MaxOp {
  __device__ A operator()(A a, A b) const { return fmax(a, b); }
};

// The fold of a whole warp, valid in lane 0. Every lane must take part.
template <typename R, typename C>
__device__ R warp_reduce(R v, C comb) {
  for (int d = 16; d > 0; d >>= 1) v = comb(v, shuffle_with(v, ShflDown{d}));
  return v;
}

struct ThreadTeam {
  __device__ int rank() const { return 0; }
  __device__ int size() const { return 1; }
  __device__ int64_t first_row() const { return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; }
  __device__ int64_t row_stride() const { return static_cast<int64_t>(gridDim.x) * blockDim.x; }
  template <typename R, typename C>
  __device__ R all_reduce(R v, C, R) const { return v; }
};

// blockDim.x is a multiple of 32; all lanes of a warp share its row.
struct WarpTeam {
  __device__ int rank() const { return threadIdx.x & 31; }
  __device__ int size() const { return 32; }
  __device__ int64_t first_row() const {
    return blockIdx.x * static_cast<int64_t>(blockDim.x / 32) + threadIdx.x / 32;
  }
  __device__ int64_t row_stride() const { return static_cast<int64_t>(gridDim.x) * (blockDim.x / 32); }
  // Lane 0's fold broadcast, so every lane sees the identical value.
  template <typename R, typename C>
  __device__ R all_reduce(R v, C comb, R) const { return shuffle_with(warp_reduce(v, comb), ShflFrom{0}); }
};

// blockDim.x is a multiple of 32 and at most 1024; the whole block shares its row.
struct BlockTeam {
  __device__ int rank() const { return threadIdx.x; }
  __device__ int size() const { return blockDim.x; }
  __device__ int64_t first_row() const { return blockIdx.x; }
  __device__ int64_t row_stride() const { return gridDim.x; }
  template <typename R, typename C>
  __device__ R all_reduce(R v, C comb, R identity) const {
    __shared__ R warp_partials[32];
    __shared__ R result;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_reduce(v, comb);
    if (lane == 0) warp_partials[warp] = v;
    __syncthreads();
    if (warp == 0) {
      R w = warp_reduce(lane < warps ? warp_partials[lane] : identity, comb);
      if (lane == 0) result = w;
    }
    __syncthreads();
    const R r = result;
    // The next call reuses the shared slots only after everyone has read them.
    __syncthreads();
    return r;
  }
};

// The rows of a contiguous [O, D, I] tensor: row r starts at base(r), its
// elements are I apart.
struct RowLayout {
  int64_t O, D, I;
  __host__ __device__ int64_t rows() const { return O * I; }
  __device__ int64_t base(int64_t r) const { return (r / I) * D * I + r % I; }
};

inline RowLayout row_layout(const Tensor& x) { return {x.size(0), x.size(1), x.size(2)}; }

// Calls launch(team, blocks, threads) with the team for O * I rows of D
// elements at stride I.
template <typename L>
void for_rows(int64_t D, int64_t I, int64_t rows, L&& launch) {
  if (I > 1) {
    launch(ThreadTeam{}, blocks_for(rows), kThreads);
  } else if (D <= kWarpRowMax) {
    launch(WarpTeam{}, blocks_for(rows, kThreads / 32), kThreads);
  } else {
    launch(BlockTeam{}, blocks_for(rows, 1), kThreads);
  }
}

// ---- channel reductions ----

// Block (c, p) of a C * P grid folds positions [p * chunk, (p + 1) * chunk).
template <typename R, typename Op, typename C>
__global__ void channel_partials(Op op, C comb, R identity, int64_t N, int64_t S, int64_t P, R* partials) {
  const int64_t c = blockIdx.x / P, p = blockIdx.x % P;
  const int64_t M = N * S, chunk = (M + P - 1) / P, begin = p * chunk;
  const int64_t end = M < begin + chunk ? M : begin + chunk;
  R acc = identity;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) acc = op(acc, j / S, c, j % S);
  acc = BlockTeam{}.all_reduce(acc, comb, identity);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <typename R, typename C>
__global__ void channel_fold(const R* partials, C comb, int64_t Cn, int64_t P, R* out) {
  for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < Cn;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    R r = partials[c * P];
    for (int64_t p = 1; p < P; ++p) r = comb(r, partials[c * P + p]);
    out[c] = r;
  }
}

// Scratch device memory of `bytes` on `like`'s device, from the caching
// allocator: stream-ordered, so it may be dropped as soon as the kernels using
// it are queued.
inline Tensor scratch(int64_t bytes, const Tensor& like) {
  return Tensor::empty({std::max<int64_t>(bytes, 1)}, DType::u8, like.device());
}

template <typename R>
R* scratch_ptr(const Tensor& t) {
  return reinterpret_cast<R*>(t.raw_data());
}

// One R per channel of the [N, C, S] space: out[c] folds every position
// (n, s) into an accumulator with op(acc, n, c, s); comb merges two
// accumulators. Returns the scratch holding the C results.
template <typename R, typename Op, typename C>
Tensor channel_reduce(const Op& op, C comb, R identity, int64_t N, int64_t Cn, int64_t S, const Tensor& like,
                      const char* what) {
  const int64_t M = N * S;
  // Enough blocks to fill a large GPU, each with at least a few elements per thread.
  const int64_t P = std::max<int64_t>(
      1, std::min<int64_t>((M + kThreads * 4 - 1) / (kThreads * 4), (1024 + Cn - 1) / std::max<int64_t>(Cn, 1)));
  Tensor out = scratch(Cn * static_cast<int64_t>(sizeof(R)), like);
  if (Cn == 0) return out;
  const Tensor partials = scratch(Cn * P * static_cast<int64_t>(sizeof(R)), like);
  cudaStream_t stream = stream_for(like);
  channel_partials<R><<<static_cast<unsigned>(Cn * P), kThreads, 0, stream>>>(op, comb, identity, N, S, P,
                                                                              scratch_ptr<R>(partials));
  CUDASEG_CUDA_LAUNCH_CHECK(what, " (channel partials) ", like.str());
  channel_fold<R><<<blocks_for(Cn), kThreads, 0, stream>>>(scratch_ptr<const R>(partials), comb, Cn, P,
                                                           scratch_ptr<R>(out));
  CUDASEG_CUDA_LAUNCH_CHECK(what, " (channel fold) ", like.str());
  return out;
}

}  // namespace cudaseg::cuda
