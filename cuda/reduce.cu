// Reductions on CUDA over x viewed as [outer, count, inner], each output
// element combining the `count` elements of one (o, i).
//
// Decomposition. With inner == 1 (the reduced elements of an output are
// contiguous) a group of threads strides through one row: a warp per row for
// short rows, a 256-thread block for long ones. With inner > 1 a block of
// 32 x 8 threads takes 32 neighbouring outputs (threadIdx.x, so loads are
// coalesced along inner) and splits count eight ways (threadIdx.y). When the
// outputs are too few to fill the device, count is also cut into `chunks`
// (blockIdx.y, or more tasks per row); each chunk writes a partial state and a
// second kernel combines a row's partials in chunk order.
//
// Every reduction is a State with identity / from(element) / combine, reduced
// through shared memory in a fixed tree: no atomics, so the result is the same
// on every run. Sums accumulate in float (double for float64, int64 for
// integers); var/std combine Welford states (Chan et al.); the index-carrying
// states break ties on the index itself, so the first occurrence wins whatever
// the tree's order, as on the CPU.
#include <limits>

#include "cuda/elementwise.cuh"
#include "ops/kernels/reduce.h"

namespace cudaseg::cuda {
namespace {

using ops::kernels::ReduceOp;

constexpr int kWarp = 32;
constexpr int kBlock = 256;               // threads of every reduction block
constexpr int kTileX = 32, kTileY = 8;    // the inner > 1 block: outputs x count split
constexpr int64_t kShortRow = 1024;       // rows up to this long get a warp, longer ones a block
constexpr int64_t kMinRowChunk = 4096;    // elements per chunk when a row is split
constexpr int64_t kMinColumnChunk = 256;  // ... per chunk of an inner > 1 reduction
constexpr int64_t kMaxChunks = 1024;
constexpr int64_t kMaxGrid = 1 << 20;

template <typename A>
__device__ __forceinline__ A sqrt_c(A v) {
  if constexpr (std::is_same_v<A, float>) {
    return sqrtf(v);
  } else {
    return ::sqrt(v);
  }
}

template <typename T>
using sum_t = std::conditional_t<std::is_integral_v<T>, int64_t, acc_t<T>>;

// sum, mean, norm1 and norm2: sums of the elements, their magnitudes or squares.
template <typename T>
struct SumOp {
  using A = sum_t<T>;
  using State = A;
  ReduceOp kind;
  int64_t count;
  T* out;
  __device__ State identity() const { return A(0); }
  __device__ State from(T x, int64_t) const {
    const A v = static_cast<A>(to_compute(x));
    if (kind == ReduceOp::norm1) return v < A(0) ? -v : v;
    if (kind == ReduceOp::norm2) return v * v;
    return v;
  }
  __device__ State combine(State a, State b) const { return a + b; }
  __device__ void write(int64_t o, State s) const {
    if constexpr (std::is_floating_point_v<A>) {
      if (kind == ReduceOp::mean) s /= static_cast<A>(count);
      if (kind == ReduceOp::norm2) s = sqrt_c(s);
    }
    out[o] = from_compute<T>(static_cast<compute_t<T>>(s));
  }
};

template <typename A>
struct Welford {
  int64_t n;
  A mean, m2;
};

// var and std.
template <typename T>
struct VarOp {
  using A = acc_t<T>;
  using State = Welford<A>;
  bool take_sqrt;
  A correction;
  T* out;
  __device__ State identity() const { return {0, A(0), A(0)}; }
  __device__ State from(T x, int64_t) const { return {1, to_compute(x), A(0)}; }
  __device__ State combine(const State& a, const State& b) const {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    const int64_t n = a.n + b.n;
    const A delta = b.mean - a.mean, wb = static_cast<A>(b.n) / static_cast<A>(n);
    return {n, a.mean + delta * wb, a.m2 + b.m2 + delta * delta * static_cast<A>(a.n) * wb};
  }
  __device__ void write(int64_t o, const State& s) const {
    const A denom = static_cast<A>(s.n) - correction;
    const A v = s.m2 / (denom > A(0) ? denom : A(0));
    out[o] = from_compute<T>(take_sqrt ? sqrt_c(v) : v);
  }
};

// amax and amin: NaN propagates.
template <typename T>
struct ExtremeOp {
  using C = compute_t<T>;
  using State = C;
  bool largest;
  T* out;
  __device__ State identity() const {
    if constexpr (std::is_floating_point_v<C>) {
      return largest ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::infinity();
    } else {
      return largest ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
    }
  }
  __device__ State from(T x, int64_t) const { return to_compute(x); }
  __device__ State combine(State a, State b) const {
    if (is_nan(a)) return a;
    if (is_nan(b)) return b;
    return (largest ? b > a : b < a) ? b : a;
  }
  __device__ void write(int64_t o, State s) const { out[o] = from_compute<T>(s); }
};

template <typename C>
struct ValueIndex {
  C v;
  int64_t i;  // -1: no element yet
};

// max/min along a dim with indices, argmax/argmin.
template <typename T>
struct ArgOp {
  using C = compute_t<T>;
  using State = ValueIndex<C>;
  bool largest;
  T* values;  // may be null
  int64_t* indices;
  __device__ State identity() const { return {C(0), -1}; }
  __device__ State from(T x, int64_t k) const { return {to_compute(x), k}; }
  __device__ State combine(const State& a, const State& b) const {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an || bn) return an && bn ? (a.i < b.i ? a : b) : (an ? a : b);
    if (a.v == b.v) return a.i < b.i ? a : b;
    return (largest ? b.v > a.v : b.v < a.v) ? b : a;
  }
  __device__ void write(int64_t o, const State& s) const {
    indices[o] = s.i;
    if (values) values[o] = from_compute<T>(s.v);
  }
};

template <int G>
__device__ __forceinline__ void group_sync() {
  if constexpr (G <= kWarp) {
    __syncwarp();
  } else {
    __syncthreads();
  }
}

// The combination of the G states of a group (G a power of two, buf its G
// slots) in a fixed tree; every thread of the group must call it.
template <int G, typename Op, typename State = typename Op::State>
__device__ State group_reduce(State* buf, int lane, const State& s, const Op& op) {
  group_sync<G>();  // the group's previous use of buf is over
  buf[lane] = s;
  group_sync<G>();
  for (int stride = G / 2; stride > 0; stride >>= 1) {
    if (lane < stride) buf[lane] = op.combine(buf[lane], buf[lane + stride]);
    group_sync<G>();
  }
  return buf[0];
}

// Shared memory for kBlock states without running constructors (not allowed on __shared__).
template <typename State>
__device__ State* shared_states() {
  __shared__ __align__(16) unsigned char raw[kBlock * sizeof(State)];
  return reinterpret_cast<State*>(raw);
}

// inner == 1: a group of G threads per (row, chunk) task, kBlock / G groups per block.
template <int G, typename T, typename Op>
__global__ void __launch_bounds__(kBlock) reduce_rows_kernel(const T* x, int64_t rows, int64_t count,
                                                             int64_t chunk_len, int64_t chunks, Op op,
                                                             typename Op::State* partial) {
  using State = typename Op::State;
  constexpr int kGroups = kBlock / G;
  const int lane = threadIdx.x % G, group = threadIdx.x / G;
  State* buf = shared_states<State>() + group * G;
  const int64_t tasks = rows * chunks;
  // The trip count is uniform across a group, as group_reduce's barriers need.
  for (int64_t task = blockIdx.x * static_cast<int64_t>(kGroups) + group; task < tasks;
       task += static_cast<int64_t>(gridDim.x) * kGroups) {
    const int64_t row = task / chunks, begin = (task % chunks) * chunk_len;
    const int64_t end = begin + chunk_len < count ? begin + chunk_len : count;
    const T* p = x + row * count;
    State s = op.identity();
    for (int64_t k = begin + lane; k < end; k += G) s = op.combine(s, op.from(p[k], k));
    s = group_reduce<G>(buf, lane, s, op);
    if (lane == 0) {
      if (chunks == 1) op.write(row, s);
      else partial[task] = s;
    }
  }
}

// inner > 1: block (kTileX, kTileY) per tile of kTileX outputs, blockIdx.y the chunk.
template <typename T, typename Op>
__global__ void __launch_bounds__(kBlock) reduce_inner_kernel(const T* x, int64_t outer, int64_t count,
                                                              int64_t inner, int64_t chunk_len, Op op,
                                                              typename Op::State* partial) {
  using State = typename Op::State;
  State* buf = shared_states<State>();
  const int64_t chunks = gridDim.y, chunk = blockIdx.y;
  const int64_t tiles_per_outer = (inner + kTileX - 1) / kTileX, tiles = outer * tiles_per_outer;
  const int64_t begin = chunk * chunk_len, end = begin + chunk_len < count ? begin + chunk_len : count;
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t o = tile / tiles_per_outer, i = (tile % tiles_per_outer) * kTileX + tx;
    State s = op.identity();
    if (i < inner) {
      const T* p = x + o * count * inner + i;
      for (int64_t k = begin + ty; k < end; k += kTileY) s = op.combine(s, op.from(p[k * inner], k));
    }
    __syncthreads();  // the previous tile's reads of buf are over
    buf[ty * kTileX + tx] = s;
    __syncthreads();
    if (ty == 0 && i < inner) {
      State r = buf[tx];
      for (int y = 1; y < kTileY; ++y) r = op.combine(r, buf[y * kTileX + tx]);
      const int64_t out_index = o * inner + i;
      if (chunks == 1) op.write(out_index, r);
      else partial[out_index * chunks + chunk] = r;
    }
  }
}

// Combines each output's partial states in chunk order.
template <typename Op>
__global__ void finish_kernel(const typename Op::State* partial, int64_t n_out, int64_t chunks, Op op) {
  CUDASEG_GRID_STRIDE(o, n_out) {
    typename Op::State s = partial[o * chunks];
    for (int64_t c = 1; c < chunks; ++c) s = op.combine(s, partial[o * chunks + c]);
    op.write(o, s);
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks that keep every multiprocessor busy.
int64_t target_blocks(int device) {
  int sms = 0;
  CUDASEG_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "reduce");
  return 4 * static_cast<int64_t>(std::max(sms, 1));
}

template <typename T, typename Op>
void launch(const char* name, const Tensor& x, int64_t outer, int64_t count, int64_t inner, const Op& op) {
  using State = typename Op::State;
  const int64_t n_out = outer * inner;
  if (n_out == 0) return;
  const int device = x.device().index;
  gpu::DeviceGuard guard(device);
  cudaStream_t stream = stream_for(x);
  const T* px = ptr<const T>(x);
  const int64_t target = target_blocks(device);
  int64_t chunks = 1, chunk_len = std::max<int64_t>(count, 1);
  auto split = [&](int64_t blocks_now, int64_t min_chunk) {
    chunks = std::clamp<int64_t>(target / std::max<int64_t>(blocks_now, 1), 1,
                                 std::min(kMaxChunks, std::max<int64_t>(count / min_chunk, 1)));
    chunk_len = ceil_div(std::max<int64_t>(count, 1), chunks);
    chunks = ceil_div(std::max<int64_t>(count, 1), chunk_len);
  };
  const bool short_rows = inner == 1 && count <= kShortRow;
  if (inner == 1 && !short_rows) split(n_out, kMinRowChunk);
  if (inner > 1) split(outer * ceil_div(inner, kTileX), kMinColumnChunk);
  Tensor scratch;
  State* partial = nullptr;
  if (chunks > 1) {
    scratch = Tensor::empty({static_cast<int64_t>(n_out * chunks * sizeof(State))}, DType::u8, x.device());
    partial = ptr<State>(scratch);
  }
  if (short_rows) {
    const int64_t blocks = std::min(ceil_div(n_out, kBlock / kWarp), kMaxGrid);
    reduce_rows_kernel<kWarp, T><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(px, n_out, count, chunk_len,
                                                                                       1, op, partial);
  } else if (inner == 1) {
    const int64_t blocks = std::min(n_out * chunks, kMaxGrid);
    reduce_rows_kernel<kBlock, T><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(px, n_out, count, chunk_len,
                                                                                        chunks, op, partial);
  } else {
    const dim3 grid(static_cast<unsigned>(std::min(outer * ceil_div(inner, kTileX), kMaxGrid)),
                    static_cast<unsigned>(chunks));
    reduce_inner_kernel<T><<<grid, dim3(kTileX, kTileY), 0, stream>>>(px, outer, count, inner, chunk_len, op,
                                                                      partial);
  }
  CUDASEG_CUDA_LAUNCH_CHECK(name, " of ", x.str(), " as [", outer, ", ", count, ", ", inner, "]");
  if (chunks > 1) {
    finish_kernel<Op><<<blocks_for(n_out), kThreads, 0, stream>>>(partial, n_out, chunks, op);
    CUDASEG_CUDA_LAUNCH_CHECK(name, " (combining ", chunks, " partials) of ", x.str());
  }
  // scratch goes back to the caching allocator of this stream, so no later
  // work can reuse it before these kernels have run.
}

const char* op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::mean: return "mean";
    case ReduceOp::var: return "var";
    case ReduceOp::std: return "std";
    case ReduceOp::norm1:
    case ReduceOp::norm2: return "norm";
    case ReduceOp::amax: return "amax";
    case ReduceOp::amin: return "amin";
  }
  return "reduce";
}

template <typename E>
__global__ void scatter_kernel(E* out, const E* src, const int64_t* indices, int64_t n, int64_t step,
                               StridedOffsets<3> idx) {
  CUDASEG_GRID_STRIDE(i, n) {
    int64_t off[3];
    idx.get(i, off);
    out[off[0] + indices[off[2]] * step] = src[off[1]];
  }
}

}  // namespace

void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t count, int64_t inner, double correction,
            const Tensor& out) {
  const char* name = op_name(op);
  CUDASEG_CHECK(x.is_contiguous() && out.is_contiguous(), name, ": CUDA reduction needs contiguous tensors, got ",
                x.str(), " -> ", out.str());
  switch (op) {
    case ReduceOp::var:
    case ReduceOp::std:
      dispatch_floating(name, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        using A = acc_t<T>;
        launch<T>(name, x, outer, count, inner, VarOp<T>{op == ReduceOp::std, static_cast<A>(correction), ptr<T>(out)});
      });
      return;
    case ReduceOp::amax:
    case ReduceOp::amin:
      dispatch_numeric(name, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        launch<T>(name, x, outer, count, inner, ExtremeOp<T>{op == ReduceOp::amax, ptr<T>(out)});
      });
      return;
    default:
      CUDASEG_CHECK(op == ReduceOp::sum || is_floating(x.dtype()), name,
                    ": CUDA kernel needs a floating dtype, got ", x.str());
      dispatch_numeric(name, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        launch<T>(name, x, outer, count, inner, SumOp<T>{op, count, ptr<T>(out)});
      });
  }
}

void arg_reduce(bool largest, const Tensor& x, int64_t outer, int64_t count, int64_t inner, const Tensor& values,
                const Tensor& indices) {
  const char* name = largest ? "argmax" : "argmin";
  CUDASEG_CHECK(x.is_contiguous() && indices.is_contiguous() && (!values.defined() || values.is_contiguous()),
                name, ": CUDA reduction needs contiguous tensors, got ", x.str());
  dispatch_numeric(name, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    launch<T>(name, x, outer, count, inner,
              ArgOp<T>{largest, values.defined() ? ptr<T>(values) : nullptr, ptr<int64_t>(indices)});
  });
}

void scatter_along_dim(const Tensor& src, const Tensor& indices, int64_t dim, const Tensor& out) {
  const int64_t n = src.numel();
  if (n == 0) return;
  gpu::DeviceGuard guard(out.device().index);
  const auto idx = make_offsets<3>(src.shape(), {&out, &src, &indices}, "value_selecting_reduction_backward");
  dispatch_by_size(out.dtype(), [&](auto tag) {
    using E = decltype(tag);
    scatter_kernel<E><<<blocks_for(n), kThreads, 0, stream_for(out)>>>(
        ptr<E>(out), ptr<const E>(src), ptr<const int64_t>(indices), n, out.stride(dim), idx);
  });
  CUDASEG_CUDA_LAUNCH_CHECK("value_selecting_reduction_backward ", src.str(), " -> ", out.str());
}

CUDASEG_REGISTER_KERNEL(ops::kernels::reduce, cuda, reduce)
CUDASEG_REGISTER_KERNEL(ops::kernels::arg_reduce, cuda, arg_reduce)
CUDASEG_REGISTER_KERNEL(ops::kernels::scatter_along_dim, cuda, scatter_along_dim)

}  // namespace cudaseg::cuda
