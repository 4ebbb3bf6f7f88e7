// Backward of the fused scaled dot-product attention (flash-attention-2
// style): no [Lq, Lk] matrix is kept from the forward; each tile recomputes
// P = exp(s - lse) from the row logsumexp the forward wrote, then
//   dV = P^T dO,  dP = dO V^T,  dS = P * (dP - delta),  delta = rowsum(dO * O),
//   dQ = scale * dS K,  dK = scale * dS^T Q,  dbias = dS.
// Every gradient element has exactly one writer, so there are no atomics and
// the result is the same on every run:
//
// - delta: one warp per query row (a dot product over Dv, shuffle reduce).
// - dQ (and dS for the bias): the forward's decomposition. A block of 8 warps
//   owns 32 query rows (4 per warp) with their Q and dO rows in shared memory
//   and walks the keys in tiles of 32 (K and V staged in shared memory, rows
//   padded to an odd stride so lanes reading different rows hit distinct
//   banks). Lane j scores key j for the warp's row and forms its dS; the warp
//   then broadcasts dS_j by shuffle while each lane accumulates its own dims
//   (lane, lane + 32, ...) of dQ in registers. dS is written here because
//   lanes then store consecutive keys of one row (coalesced).
// - dK, dV: the transpose. A block owns 32 keys (4 per warp) with their K and
//   V rows in shared memory and walks query tiles of 32 (Q, dO, lse and delta
//   in shared memory); lane t handles query row t of the tile, and the warp
//   accumulates each key's dK and dV rows by shuffling P_t and dS_t. With few
//   keys (SegFormer: 256 keys against 16384 queries) the key blocks alone
//   cannot fill the device, so the query tiles are split over grid.z; each
//   split writes its own float partials and a last kernel sums them in split
//   order (deterministic, and a shorter summation than one long chain).
//
// A fully masked row has lse = -inf, so its P = exp(-inf + inf) is NaN and
// the NaN reaches the same gradients as on the CPU's materialised path.
#include <algorithm>

#include "cuda/attention.cuh"

namespace cudaseg::cuda {
namespace {

using namespace attn;

template <typename T>
struct BackwardArgs {
  Operands<T> in;
  const T* dout;          // contiguous [nbatch, lq, dv]
  const acc_t<T>* lse;    // [nbatch, lq]
  const acc_t<T>* delta;  // [nbatch, lq]
  T* dq;                  // contiguous [nbatch, lq, d], or null
  T* dbias;               // contiguous [nbatch, lq, lk], or null
  acc_t<T>* dk_part;      // [gridDim.z, nbatch, lk, d]
  acc_t<T>* dv_part;      // [gridDim.z, nbatch, lk, dv]
  int64_t split_tiles;    // query tiles per split of the dK / dV kernel
};

template <typename T>
__global__ void delta_kernel(const T* dout, const T* out, acc_t<T>* delta, int64_t rows, int64_t dv) {
  using A = acc_t<T>;
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; row < rows; row += warps) {
    A dot = 0;
    for (int64_t c = lane; c < dv; c += 32) dot += load(dout[row * dv + c]) * load(out[row * dv + c]);
    dot = warp_sum(dot);
    if (lane == 0) delta[row] = dot;
  }
}

// VPL: gradient dims per lane (max(D, Dv) <= 32 * VPL).
template <typename T, int VPL>
__global__ void __launch_bounds__(kWarps * 32) attention_dq_kernel(BackwardArgs<T> args) {
  using A = acc_t<T>;
  const Operands<T>& a = args.in;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int64_t kstride = a.d | 1, vstride = a.dv | 1;
  A* qs = reinterpret_cast<A*>(smem_raw);  // [kBlockRows, d]
  A* dos = qs + kBlockRows * a.d;          // [kBlockRows, dv]
  A* ks = dos + kBlockRows * a.dv;         // [kTile, kstride]
  A* vs = ks + kTile * kstride;            // [kTile, vstride]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kBlockRows;

  for (int64_t bi = blockIdx.y; bi < a.nbatch; bi += gridDim.y) {
    int64_t off[kOperands];
    a.batch.get(bi, off);
    __syncthreads();  // the previous batch entry is done with shared memory
    for (int64_t e = threadIdx.x; e < kBlockRows * a.d; e += blockDim.x) {
      const int64_t row = row0 + e / a.d, c = e % a.d;
      qs[e] = row < a.lq ? load(a.q[off[kQ] + row * a.q_rs + c * a.q_cs]) : A(0);
    }
    for (int64_t e = threadIdx.x; e < kBlockRows * a.dv; e += blockDim.x) {
      const int64_t row = row0 + e / a.dv, c = e % a.dv;
      dos[e] = row < a.lq ? load(args.dout[(bi * a.lq + row) * a.dv + c]) : A(0);
    }
    A lse[kRowsPerWarp], delta[kRowsPerWarp], acc[kRowsPerWarp][VPL];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int64_t row = row0 + warp * kRowsPerWarp + r;
      lse[r] = row < a.lq ? args.lse[bi * a.lq + row] : A(0);
      delta[r] = row < a.lq ? args.delta[bi * a.lq + row] : A(0);
#pragma unroll
      for (int i = 0; i < VPL; ++i) acc[r][i] = 0;
    }

    for (int64_t k0 = 0; k0 < a.lk; k0 += kTile) {
      const int tile = a.lk - k0 < kTile ? static_cast<int>(a.lk - k0) : kTile;
      __syncthreads();  // every warp is done with the previous tile
      // Keys past the end are zeros: dS = 0 times garbage could be NaN.
      for (int64_t e = threadIdx.x; e < kTile * a.d; e += blockDim.x) {
        const int64_t j = e / a.d, c = e % a.d;
        ks[j * kstride + c] = j < tile ? load(a.k[off[kK] + (k0 + j) * a.k_rs + c * a.k_cs]) : A(0);
      }
      for (int64_t e = threadIdx.x; e < kTile * a.dv; e += blockDim.x) {
        const int64_t j = e / a.dv, c = e % a.dv;
        vs[j * vstride + c] = j < tile ? load(a.v[off[kV] + (k0 + j) * a.v_rs + c * a.v_cs]) : A(0);
      }
      __syncthreads();

#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int local = warp * kRowsPerWarp + r;
        const int64_t row = row0 + local;
        if (row >= a.lq) continue;  // the same for the whole warp
        A ds = 0;
        if (lane < tile) {
          const A* qr = qs + local * a.d;
          const A* kr = ks + lane * kstride;
          A dot = 0;
          for (int64_t c = 0; c < a.d; ++c) dot += qr[c] * kr[c];
          const A p = exp_(a.score(off, row, k0 + lane, dot) - lse[r]);
          const A* dor = dos + local * a.dv;
          const A* vr = vs + lane * vstride;
          A dp = 0;
          for (int64_t c = 0; c < a.dv; ++c) dp += dor[c] * vr[c];
          ds = p * (dp - delta[r]);
          if (args.dbias) args.dbias[(bi * a.lq + row) * a.lk + k0 + lane] = store<T>(ds);
        }
        for (int j = 0; j < tile; ++j) {
          const A dsj = __shfl_sync(kFull, ds, j);
#pragma unroll
          for (int i = 0; i < VPL; ++i) {
            const int c = lane + 32 * i;
            if (c < a.d) acc[r][i] += dsj * ks[j * kstride + c];
          }
        }
      }
    }

    if (!args.dq) continue;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int64_t row = row0 + warp * kRowsPerWarp + r;
      if (row >= a.lq) continue;
      T* o = args.dq + (bi * a.lq + row) * a.d;
#pragma unroll
      for (int i = 0; i < VPL; ++i) {
        const int c = lane + 32 * i;
        if (c < a.d) o[c] = store<T>(acc[r][i] * a.scale);
      }
    }
  }
}

template <typename T, int VPL>
__global__ void __launch_bounds__(kWarps * 32) attention_dkv_kernel(BackwardArgs<T> args) {
  using A = acc_t<T>;
  const Operands<T>& a = args.in;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int64_t qstride = a.d | 1, ostride = a.dv | 1;
  A* ks = reinterpret_cast<A*>(smem_raw);  // [kBlockRows, d]
  A* vs = ks + kBlockRows * a.d;           // [kBlockRows, dv]
  A* qs = vs + kBlockRows * a.dv;          // [kTile, qstride]
  A* dos = qs + kTile * qstride;           // [kTile, ostride]
  A* lses = dos + kTile * ostride;         // [kTile]
  A* deltas = lses + kTile;                // [kTile]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t key0 = static_cast<int64_t>(blockIdx.x) * kBlockRows;
  const int64_t ntiles = (a.lq + kTile - 1) / kTile;
  const int64_t t_begin = static_cast<int64_t>(blockIdx.z) * args.split_tiles;
  const int64_t t_end = t_begin + args.split_tiles < ntiles ? t_begin + args.split_tiles : ntiles;

  for (int64_t bi = blockIdx.y; bi < a.nbatch; bi += gridDim.y) {
    int64_t off[kOperands];
    a.batch.get(bi, off);
    __syncthreads();  // the previous batch entry is done with shared memory
    for (int64_t e = threadIdx.x; e < kBlockRows * a.d; e += blockDim.x) {
      const int64_t key = key0 + e / a.d, c = e % a.d;
      ks[e] = key < a.lk ? load(a.k[off[kK] + key * a.k_rs + c * a.k_cs]) : A(0);
    }
    for (int64_t e = threadIdx.x; e < kBlockRows * a.dv; e += blockDim.x) {
      const int64_t key = key0 + e / a.dv, c = e % a.dv;
      vs[e] = key < a.lk ? load(a.v[off[kV] + key * a.v_rs + c * a.v_cs]) : A(0);
    }
    A dk[kRowsPerWarp][VPL], dv[kRowsPerWarp][VPL];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
      for (int i = 0; i < VPL; ++i) dk[r][i] = dv[r][i] = 0;
    }

    for (int64_t qt = t_begin; qt < t_end; ++qt) {
      const int64_t q0 = qt * kTile;
      const int rows = a.lq - q0 < kTile ? static_cast<int>(a.lq - q0) : kTile;
      __syncthreads();  // every warp is done with the previous tile
      // Rows past the end are zeros: P = 0 times garbage could be NaN.
      for (int64_t e = threadIdx.x; e < kTile * a.d; e += blockDim.x) {
        const int64_t t = e / a.d, c = e % a.d;
        qs[t * qstride + c] = t < rows ? load(a.q[off[kQ] + (q0 + t) * a.q_rs + c * a.q_cs]) : A(0);
      }
      for (int64_t e = threadIdx.x; e < kTile * a.dv; e += blockDim.x) {
        const int64_t t = e / a.dv, c = e % a.dv;
        dos[t * ostride + c] = t < rows ? load(args.dout[(bi * a.lq + q0 + t) * a.dv + c]) : A(0);
      }
      for (int t = threadIdx.x; t < kTile; t += blockDim.x) {
        lses[t] = t < rows ? args.lse[bi * a.lq + q0 + t] : A(0);
        deltas[t] = t < rows ? args.delta[bi * a.lq + q0 + t] : A(0);
      }
      __syncthreads();

#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int local = warp * kRowsPerWarp + r;
        const int64_t key = key0 + local;
        if (key >= a.lk) continue;  // the same for the whole warp
        A p = 0, ds = 0;
        if (lane < rows) {
          const A* qr = qs + lane * qstride;
          const A* kr = ks + local * a.d;
          A dot = 0;
          for (int64_t c = 0; c < a.d; ++c) dot += qr[c] * kr[c];
          p = exp_(a.score(off, q0 + lane, key, dot) - lses[lane]);
          const A* dor = dos + lane * ostride;
          const A* vr = vs + local * a.dv;
          A dp = 0;
          for (int64_t c = 0; c < a.dv; ++c) dp += dor[c] * vr[c];
          ds = p * (dp - deltas[lane]);
        }
        for (int t = 0; t < rows; ++t) {
          const A pt = __shfl_sync(kFull, p, t), dst = __shfl_sync(kFull, ds, t);
#pragma unroll
          for (int i = 0; i < VPL; ++i) {
            const int c = lane + 32 * i;
            if (c < a.dv) dv[r][i] += pt * dos[t * ostride + c];
            if (c < a.d) dk[r][i] += dst * qs[t * qstride + c];
          }
        }
      }
    }

    // Every split writes its partial, zeros included, for each of its keys.
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int64_t key = key0 + warp * kRowsPerWarp + r;
      if (key >= a.lk) continue;
      const int64_t base = (static_cast<int64_t>(blockIdx.z) * a.nbatch + bi) * a.lk + key;
#pragma unroll
      for (int i = 0; i < VPL; ++i) {
        const int c = lane + 32 * i;
        if (c < a.d) args.dk_part[base * a.d + c] = dk[r][i] * a.scale;
        if (c < a.dv) args.dv_part[base * a.dv + c] = dv[r][i];
      }
    }
  }
}

// out[i] = sum over the splits of part[split, i], in split order.
template <typename T>
__global__ void sum_splits_kernel(const acc_t<T>* part, T* out, int64_t n, int64_t nsplit) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    acc_t<T> s = 0;
    for (int64_t p = 0; p < nsplit; ++p) s += part[p * n + i];
    out[i] = store<T>(s);
  }
}

struct Launch {
  cudaStream_t stream;
  int sms;               // multiprocessors of the device
  bool q_side, kv_side;  // run the dQ / dS kernel, the dK / dV kernel
  const Tensor* dk;
  const Tensor* dv;
  const char* op;
};

template <typename T, int VPL>
void launch_backward(BackwardArgs<T> args, const Launch& l) {
  using A = acc_t<T>;
  const Operands<T>& a = args.in;
  const unsigned batch_blocks = static_cast<unsigned>(std::min<int64_t>(a.nbatch, 65535));
  const size_t tiles_smem = (kBlockRows * (a.d + a.dv) + kTile * ((a.d | 1) + (a.dv | 1))) * sizeof(A);
  if (l.q_side) {
    const auto kernel = attention_dq_kernel<T, VPL>;
    allow_shared(kernel, tiles_smem, l.op, a.d, a.dv);
    const dim3 grid(static_cast<unsigned>((a.lq + kBlockRows - 1) / kBlockRows), batch_blocks);
    kernel<<<grid, kWarps * 32, tiles_smem, l.stream>>>(args);
    CUDASEG_CUDA_LAUNCH_CHECK(l.op, " (dQ)");
  }
  if (!l.kv_side) return;
  // Split the query tiles until the grid covers the device a few times over.
  const int64_t key_blocks = (a.lk + kBlockRows - 1) / kBlockRows, ntiles = (a.lq + kTile - 1) / kTile;
  const int64_t blocks = key_blocks * batch_blocks;
  const int64_t want = std::clamp<int64_t>((4 * static_cast<int64_t>(l.sms) + blocks - 1) / blocks, 1, ntiles);
  args.split_tiles = (ntiles + want - 1) / want;
  const int64_t nsplit = (ntiles + args.split_tiles - 1) / args.split_tiles;
  const DType acc = std::is_same_v<A, double> ? DType::f64 : DType::f32;
  const Device device = l.dk->defined() ? l.dk->device() : l.dv->device();
  const Tensor dk_part = Tensor::empty({nsplit, a.nbatch * a.lk, a.d}, acc, device);
  const Tensor dv_part = Tensor::empty({nsplit, a.nbatch * a.lk, a.dv}, acc, device);
  args.dk_part = ptr<A>(dk_part);
  args.dv_part = ptr<A>(dv_part);
  const auto kernel = attention_dkv_kernel<T, VPL>;
  const size_t smem = tiles_smem + 2 * kTile * sizeof(A);
  allow_shared(kernel, smem, l.op, a.d, a.dv);
  const dim3 grid(static_cast<unsigned>(key_blocks), batch_blocks, static_cast<unsigned>(nsplit));
  kernel<<<grid, kWarps * 32, smem, l.stream>>>(args);
  CUDASEG_CUDA_LAUNCH_CHECK(l.op, " (dK, dV over ", nsplit, " query splits)");
  for (const auto& [part, grad] : {std::pair{&dk_part, l.dk}, std::pair{&dv_part, l.dv}}) {
    if (!grad->defined() || grad->numel() == 0) continue;
    const int64_t n = grad->numel();
    sum_splits_kernel<T><<<blocks_for(n), kThreads, 0, l.stream>>>(ptr<const A>(*part), ptr<T>(*grad), n, nsplit);
    CUDASEG_CUDA_LAUNCH_CHECK(l.op, " (summing ", nsplit, " splits)");
  }
}

}  // namespace

void attention_fused_backward(const Tensor& grad, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& bias, const Tensor& mask, const Tensor& out, const Tensor& lse,
                              double scale, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                              const Tensor& dbias) {
  constexpr const char* op = "scaled_dot_product_attention_backward";
  const int64_t lq = q.size(-2), lk = k.size(-2), d = q.size(-1), dvd = v.size(-1);
  CUDASEG_CHECK(d <= kAttentionMaxHeadDim && dvd <= kAttentionMaxHeadDim, op,
                ": the fused CUDA kernels take head dims up to ", kAttentionMaxHeadDim, ", got q ", q.str(), ", v ",
                v.str());
  CUDASEG_CHECK(grad.shape() == out.shape(), op, ": gradient ", grad.str(), " does not match the output ", out.str());
  gpu::DeviceGuard guard(q.device().index);
  // No queries, keys, value dims or batch entries: every sum is empty.
  if (lq == 0 || lk == 0 || dvd == 0 || out.numel() == 0) {
    for (const Tensor* t : {&dq, &dk, &dv, &dbias})
      if (t->defined() && t->numel() > 0) Tensor(*t).fill_(0.0);
    return;
  }
  const DType acc = q.dtype() == DType::f64 ? DType::f64 : DType::f32;
  const int64_t nbatch = out.numel() / (lq * dvd);
  CUDASEG_CHECK(lse.dtype() == acc && lse.is_contiguous() && lse.numel() == nbatch * lq, op, ": logsumexp ",
                lse.str(), " is not the forward's [", nbatch, " x ", lq, "] ", dtype_name(acc), " rows");
  Launch launch{stream_for(q), 0, dq.defined() || dbias.defined(), dk.defined() || dv.defined(), &dk, &dv, op};
  if (!launch.q_side && !launch.kv_side) return;
  CUDASEG_CUDA_CHECK(cudaDeviceGetAttribute(&launch.sms, cudaDevAttrMultiProcessorCount, q.device().index), op);
  const Tensor g = grad.contiguous(), o = out.contiguous();
  const Tensor delta = Tensor::empty({nbatch, lq}, acc, q.device());
  dispatch_floating(op, q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using A = acc_t<T>;
    const int64_t rows = nbatch * lq;
    delta_kernel<T><<<blocks_for(rows * 32), kThreads, 0, launch.stream>>>(ptr<const T>(g), ptr<const T>(o),
                                                                            ptr<A>(delta), rows, dvd);
    CUDASEG_CUDA_LAUNCH_CHECK(op, " (rowsum(dO * O) of ", out.str(), ")");
    BackwardArgs<T> a{};
    a.in = make_operands<T>(q, k, v, bias, mask, scale, op);
    a.dout = ptr<const T>(g);
    a.lse = ptr<const A>(lse);
    a.delta = ptr<const A>(delta);
    a.dq = dq.defined() ? ptr<T>(dq) : nullptr;
    a.dbias = dbias.defined() ? ptr<T>(dbias) : nullptr;
    const int64_t widest = std::max(d, dvd);
    if (widest <= 32) {
      launch_backward<T, 1>(a, launch);
    } else if (widest <= 64) {
      launch_backward<T, 2>(a, launch);
    } else {
      launch_backward<T, 4>(a, launch);
    }
  });
}

CUDASEG_REGISTER_KERNEL(ops::kernels::attention_fused_backward, cuda, attention_fused_backward)

}  // namespace cudaseg::cuda
