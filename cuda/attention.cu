// Scaled dot-product attention on CUDA.
//
// Fused forward (flash-attention style, no [Lq, Lk] buffer): a block of 8
// warps owns 32 query rows of one batch entry (4 rows per warp) and walks the
// keys in tiles of 32, staged with their values in shared memory and shared
// by all 32 rows. For a tile, lane j of a warp scores key j against the
// warp's row (a dot product over D from shared memory), the warp reduces the
// tile's max and sum with shuffles, and the running max / sum / output of the
// row (online softmax) are rescaled; for the product with V each lane owns
// the output dims lane, lane + 32, ..., so one row's accumulator is at most 4
// registers per lane. Blocks step through the batch entries with a
// grid-stride loop in y. Bias and mask are read through their (broadcast)
// strides, so a [heads, L, L] bias is never expanded over windows. For
// training, lane 0 of the row's warp also writes the row's logsumexp
// m + log(l), from which cuda/attention_backward.cu recomputes P.
//
// Materialised path (head dims above 128, where the forward keeps the
// probabilities for autograd): one warp per score row, three sweeps (max,
// sum, write) that recompute the biased, masked score in the accumulation
// type, so 16-bit scores are rounded once. The softmax backward is also one
// warp per row (a dot product, then the update).
#include <cmath>

#include "cuda/attention.cuh"

namespace cudaseg::cuda {
namespace {

using namespace attn;

template <typename T>
struct FusedArgs {
  Operands<T> in;
  T* out;         // contiguous [nbatch, lq, dv]
  acc_t<T>* lse;  // [nbatch, lq] or null
};

template <typename T, int VPL>
__global__ void __launch_bounds__(kWarps * 32) attention_fused_kernel(FusedArgs<T> args) {
  using A = acc_t<T>;
  const Operands<T>& a = args.in;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int64_t kstride = a.d | 1;  // odd: lanes reading key rows hit distinct banks
  A* qs = reinterpret_cast<A*>(smem_raw);  // [kBlockRows, d]
  A* ks = qs + kBlockRows * a.d;           // [kTile, kstride]
  A* vs = ks + kTile * kstride;            // [kTile, dv]
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
    A m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][VPL];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      m[r] = neg_inf<A>();
      l[r] = 0;
#pragma unroll
      for (int i = 0; i < VPL; ++i) acc[r][i] = 0;
    }

    for (int64_t k0 = 0; k0 < a.lk; k0 += kTile) {
      const int tile = a.lk - k0 < kTile ? static_cast<int>(a.lk - k0) : kTile;
      __syncthreads();  // every warp is done with the previous tile
      // Rows past the end are zeros: p = 0 times garbage could be NaN.
      for (int64_t e = threadIdx.x; e < kTile * a.d; e += blockDim.x) {
        const int64_t j = e / a.d, c = e % a.d;
        ks[j * kstride + c] = j < tile ? load(a.k[off[kK] + (k0 + j) * a.k_rs + c * a.k_cs]) : A(0);
      }
      for (int64_t e = threadIdx.x; e < kTile * a.dv; e += blockDim.x) {
        const int64_t j = e / a.dv, c = e % a.dv;
        vs[e] = j < tile ? load(a.v[off[kV] + (k0 + j) * a.v_rs + c * a.v_cs]) : A(0);
      }
      __syncthreads();

#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int local = warp * kRowsPerWarp + r;
        const int64_t row = row0 + local;
        if (row >= a.lq) continue;  // the same for the whole warp
        A s = neg_inf<A>();
        if (lane < tile) {
          const A* qr = qs + local * a.d;
          const A* kr = ks + lane * kstride;
          A dot = 0;
          for (int64_t c = 0; c < a.d; ++c) dot += qr[c] * kr[c];
          s = a.score(off, row, k0 + lane, dot);
        }
        const A m_new = max(m[r], warp_max(s));
        // While every key so far is masked the row keeps l = 0 and acc = 0,
        // so a fully masked row ends as 0 / 0 = NaN like the CPU path.
        A p = 0, corr = 1;
        if (m_new != neg_inf<A>()) {
          p = exp_(s - m_new);
          corr = exp_(m[r] - m_new);
        }
        l[r] = l[r] * corr + warp_sum(p);
#pragma unroll
        for (int i = 0; i < VPL; ++i) acc[r][i] *= corr;
        for (int j = 0; j < tile; ++j) {
          const A pj = __shfl_sync(kFull, p, j);
#pragma unroll
          for (int i = 0; i < VPL; ++i) {
            const int c = lane + 32 * i;
            if (c < a.dv) acc[r][i] += pj * vs[j * a.dv + c];
          }
        }
        m[r] = m_new;
      }
    }

#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int64_t row = row0 + warp * kRowsPerWarp + r;
      if (row >= a.lq) continue;
      T* o = args.out + (bi * a.lq + row) * a.dv;
#pragma unroll
      for (int i = 0; i < VPL; ++i) {
        const int c = lane + 32 * i;
        if (c < a.dv) o[c] = store<T>(acc[r][i] / l[r]);
      }
      // A fully masked row has m = -inf and l = 0: its logsumexp is -inf,
      // and the backward's exp(s - lse) = exp(-inf + inf) is NaN there, as
      // the CPU path's probabilities are.
      if (args.lse && lane == 0) args.lse[bi * a.lq + row] = m[r] + log_(l[r]);
    }
  }
}

template <typename T, int VPL>
void launch_fused(const FusedArgs<T>& args, const Tensor& out) {
  using A = acc_t<T>;
  const Operands<T>& a = args.in;
  const size_t smem = (kBlockRows * a.d + kTile * (a.d | 1) + kTile * a.dv) * sizeof(A);
  const auto kernel = attention_fused_kernel<T, VPL>;
  allow_shared(kernel, smem, "scaled_dot_product_attention", a.d, a.dv);
  const dim3 grid(static_cast<unsigned>((a.lq + kBlockRows - 1) / kBlockRows),
                  static_cast<unsigned>(std::min<int64_t>(a.nbatch, 65535)));
  kernel<<<grid, kWarps * 32, smem, stream_for(out)>>>(args);
}

// Row offsets of bias and mask (expanded to the scores' shape, or undefined)
// over the scores' leading dims.
StridedOffsets<2> row_offsets(const Tensor& scores, const Tensor& bias, const Tensor& mask, const char* op) {
  const int nd = static_cast<int>(scores.dim()) - 1;
  CUDASEG_CHECK(nd <= kMaxDims, op, ": CUDA kernels take at most ", kMaxDims + 1, " dims, got ", scores.str());
  StridedOffsets<2> o;
  o.ndim = nd;
  for (int d = 0; d < nd; ++d) {
    o.sizes[d] = scores.size(d);
    o.strides[0][d] = bias.defined() ? bias.stride(d) : 0;
    o.strides[1][d] = mask.defined() ? mask.stride(d) : 0;
  }
  return o;
}

template <typename T>
__global__ void softmax_rows_kernel(T* s, int64_t rows, int64_t lk, const T* bias, int64_t b_cs, const bool* mask,
                                    int64_t m_cs, StridedOffsets<2> offs, acc_t<T> scale) {
  using A = acc_t<T>;
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; row < rows; row += warps) {
    int64_t off[2];
    offs.get(row, off);
    T* sr = s + row * lk;
    const auto value = [&](int64_t j) {
      A v = load(sr[j]) * scale;
      if (bias) v += load(bias[off[0] + j * b_cs]);
      if (mask && !mask[off[1] + j * m_cs]) v = neg_inf<A>();
      return v;
    };
    A mx = neg_inf<A>();
    for (int64_t j = lane; j < lk; j += 32) mx = max(mx, value(j));
    mx = warp_max(mx);
    A total = 0;
    for (int64_t j = lane; j < lk; j += 32) total += exp_(value(j) - mx);
    total = warp_sum(total);
    // Each element is read and then written by the same lane.
    for (int64_t j = lane; j < lk; j += 32) sr[j] = store<T>(exp_(value(j) - mx) / total);
  }
}

template <typename T>
__global__ void softmax_backward_kernel(const T* p, T* g, int64_t rows, int64_t lk) {
  using A = acc_t<T>;
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; row < rows; row += warps) {
    const T* pr = p + row * lk;
    T* gr = g + row * lk;
    A dot = 0;
    for (int64_t j = lane; j < lk; j += 32) dot += load(gr[j]) * load(pr[j]);
    dot = warp_sum(dot);
    for (int64_t j = lane; j < lk; j += 32) gr[j] = store<T>(load(pr[j]) * (load(gr[j]) - dot));
  }
}

unsigned warp_blocks(int64_t rows) { return blocks_for(rows * 32); }

}  // namespace

void attention_fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& mask,
                     double scale, const Tensor& out, const Tensor& lse) {
  constexpr const char* op = "scaled_dot_product_attention";
  const int64_t lk = k.size(-2), d = q.size(-1), dv = v.size(-1);
  CUDASEG_CHECK(d <= kAttentionMaxHeadDim && dv <= kAttentionMaxHeadDim, op,
                ": the fused CUDA kernel takes head dims up to ", kAttentionMaxHeadDim, ", got q ", q.str(), ", v ",
                v.str());
  // With Dv = 0 the output is empty but the logsumexp is not.
  if (out.numel() == 0 && (!lse.defined() || lse.numel() == 0)) return;
  gpu::DeviceGuard guard(out.device().index);
  if (lk == 0) {  // softmax over no keys times an empty V: the CPU's GEMM gives zeros
    Tensor(out).fill_(0.0);
    if (lse.defined()) Tensor(lse).fill_(-INFINITY);
    return;
  }
  dispatch_floating(op, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    FusedArgs<T> a{};
    a.in = make_operands<T>(q, k, v, bias, mask, scale, op);
    a.out = ptr<T>(out);
    a.lse = lse.defined() ? ptr<acc_t<T>>(lse) : nullptr;
    if (dv <= 32) {
      launch_fused<T, 1>(a, out);
    } else if (dv <= 64) {
      launch_fused<T, 2>(a, out);
    } else {
      launch_fused<T, 4>(a, out);
    }
  });
  CUDASEG_CUDA_LAUNCH_CHECK(op, " q ", q.str(), ", k ", k.str(), ", v ", v.str());
}

void attention_softmax(const Tensor& scores, const Tensor& bias, const Tensor& mask, double scale) {
  constexpr const char* op = "scaled_dot_product_attention";
  const int64_t lk = scores.size(-1);
  const int64_t rows = lk == 0 ? 0 : scores.numel() / lk;
  if (rows == 0) return;
  gpu::DeviceGuard guard(scores.device().index);
  const StridedOffsets<2> offs = row_offsets(scores, bias, mask, op);
  dispatch_floating(op, scores.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_rows_kernel<T><<<warp_blocks(rows), kThreads, 0, stream_for(scores)>>>(
        ptr<T>(scores), rows, lk, bias.defined() ? ptr<const T>(bias) : nullptr,
        bias.defined() ? bias.stride(-1) : 0, mask.defined() ? ptr<const bool>(mask) : nullptr,
        mask.defined() ? mask.stride(-1) : 0, offs, static_cast<acc_t<T>>(scale));
  });
  CUDASEG_CUDA_LAUNCH_CHECK(op, " scores ", scores.str());
}

void softmax_backward_rows(const Tensor& probs, const Tensor& grad) {
  constexpr const char* op = "scaled_dot_product_attention_backward";
  const int64_t lk = grad.size(-1);
  const int64_t rows = lk == 0 ? 0 : grad.numel() / lk;
  if (rows == 0) return;
  gpu::DeviceGuard guard(grad.device().index);
  dispatch_floating(op, grad.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_backward_kernel<T>
        <<<warp_blocks(rows), kThreads, 0, stream_for(grad)>>>(ptr<const T>(probs), ptr<T>(grad), rows, lk);
  });
  CUDASEG_CUDA_LAUNCH_CHECK(op, " probs ", probs.str());
}

CUDASEG_REGISTER_KERNEL(ops::kernels::attention_fused, cuda, attention_fused)
CUDASEG_REGISTER_KERNEL(ops::kernels::attention_softmax, cuda, attention_softmax)
CUDASEG_REGISTER_KERNEL(ops::kernels::softmax_backward_rows, cuda, softmax_backward_rows)

}  // namespace cudaseg::cuda
