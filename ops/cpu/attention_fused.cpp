// Scaled dot-product attention in one pass on the CPU (kernels::attention_fused,
// the forward of inference): flash attention's loop, with no [Lq, Lk] score
// matrix. A task takes 24 query rows of one batch entry, multiplies them by
// the keys a block of 512 at a time (keys packed [d][keys], values [keys][dv],
// both once per batch entry), folds each block into the rows' running
// maximum and sum (online softmax) and accumulates the block's exponentials
// times the values. SegFormer's first stage (32768 queries x 512 keys, head
// dim 32) wrote, re-read and multiplied a 64 MB score matrix through OpenBLAS:
// 39 ms a block at one thread; here the scores of a task stay in the L2.
//
// The float32 products and softmax step are the per-instruction-set kernels
// (attention_kernel.inc); float64, and CPUs without AVX2, take their scalar
// twins below. The rules are the materialised path's (ops/cpu/attention.cpp):
// NaN scores are ignored by the maximum and make the row NaN, a fully masked
// row is NaN, exponentials below the type's smallest normal number are 0, and
// so are outputs there; Lk == 0 gives zeros.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/common.h"
#include "ops/cpu/conv_direct.h"
#include "ops/kernels/attention.h"
#include "runtime/strided.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

constexpr int64_t kRows = 24;       // a multiple of every gemm_nn tile's rows
constexpr int64_t kKeyBlock = 512;  // a task's scores: 48 KB

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

template <typename T>
void gemm_nn_scalar(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                    int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    if (!accumulate) std::fill(ci, ci + n, T(0));
    for (int64_t p = 0; p < k; ++p) {
      const T av = a[i * lda + p];
      const T* bp = b + p * ldb;
      for (int64_t j = 0; j < n; ++j) ci[j] += av * bp[j];
    }
  }
}

template <typename T>
T softmax_block_scalar(T* s, int64_t n, int64_t n_pad, T scale, T* m, T* l) {
  const T inf = std::numeric_limits<T>::infinity(), tiny = std::numeric_limits<T>::min();
  T bm = *m;
  for (int64_t j = 0; j < n; ++j) {
    s[j] *= scale;
    bm = std::max(bm, s[j]);  // a NaN s[j] keeps bm
  }
  if (bm == -inf) {
    std::fill(s, s + n_pad, T(0));
    return T(1);
  }
  T sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    const T e = std::exp(s[j] - bm);
    s[j] = e < tiny ? T(0) : e;
    sum += s[j];
  }
  std::fill(s + n, s + n_pad, T(0));
  const T e = *m == -inf ? T(0) : std::exp(*m - bm);
  const T alpha = e < tiny ? T(0) : e;
  *l = *l * alpha + sum;
  *m = bm;
  return alpha;
}

template <typename T>
struct Kernels {
  int64_t lanes;
  void (*gemm)(int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, T*, int64_t, bool);
  T (*softmax)(T*, int64_t, int64_t, T, T*, T*);
};

template <typename T>
Kernels<T> kernels_for() {
  if constexpr (std::is_same_v<T, float>)
    if (const direct::Isa* isa = direct::best_isa()) return {isa->lanes, isa->gemm_nn, isa->softmax_block};
  return {1, gemm_nn_scalar<T>, softmax_block_scalar<T>};
}

Shape batch_strides(const Tensor& t, size_t dims) {
  return t.defined() ? Shape(t.strides().begin(), t.strides().end() - 2) : Shape(dims, 0);
}

template <typename T>
void attend(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& mask, double scale,
            const Tensor& out, const Tensor& lse) {
  const Shape batch(out.shape().begin(), out.shape().end() - 2);
  const int64_t nb = shape_numel(batch), lq = q.size(-2), lk = k.size(-2), d = q.size(-1), dv = v.size(-1);
  T* po = out.data<T>();
  T* pl = lse.defined() ? lse.data<T>() : nullptr;
  if (nb == 0 || lq == 0) return;
  if (lk == 0) {
    std::fill(po, po + nb * lq * dv, T(0));
    if (pl) std::fill(pl, pl + nb * lq, -std::numeric_limits<T>::infinity());
    return;
  }
  std::vector<std::array<int64_t, 5>> off;
  off.reserve(static_cast<size_t>(nb));
  const Shape sq = batch_strides(q, batch.size()), sk = batch_strides(k, batch.size()),
              sv = batch_strides(v, batch.size()), sb = batch_strides(bias, batch.size()),
              sm = batch_strides(mask, batch.size());
  for_each_strided<5>(batch, {&sq, &sk, &sv, &sb, &sm},
                      {q.offset(), k.offset(), v.offset(), bias.defined() ? bias.offset() : 0,
                       mask.defined() ? mask.offset() : 0},
                      [&](const std::array<int64_t, 5>& o) { off.push_back(o); });
  const T* pq = static_cast<const T*>(q.storage()->data());
  const T* pk = static_cast<const T*>(k.storage()->data());
  const T* pv = static_cast<const T*>(v.storage()->data());
  const T* pb = bias.defined() ? static_cast<const T*>(bias.storage()->data()) : nullptr;
  const bool* pm = mask.defined() ? static_cast<const bool*>(mask.storage()->data()) : nullptr;
  const int64_t q_row = q.stride(-2), q_col = q.stride(-1), k_row = k.stride(-2), k_col = k.stride(-1);
  const int64_t v_row = v.stride(-2), v_col = v.stride(-1);
  const int64_t b_row = pb ? bias.stride(-2) : 0, b_col = pb ? bias.stride(-1) : 0;
  const int64_t m_row = pm ? mask.stride(-2) : 0, m_col = pm ? mask.stride(-1) : 0;

  const Kernels<T> kern = kernels_for<T>();
  const int64_t lk_pad = round_up(lk, kern.lanes), dv_pad = round_up(dv, kern.lanes);
  // Keys transposed [d][lk_pad] and values [lk_pad][dv_pad] per batch entry,
  // zero in the padding (which meets zero probabilities: 0, not 0 * NaN).
  std::vector<T> kt(static_cast<size_t>(nb * d * lk_pad)), vp(static_cast<size_t>(nb * lk_pad * dv_pad));
  parallel_for(0, nb, std::max<int64_t>(1, (int64_t{1} << 16) / (lk * (d + dv))), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* kb = pk + off[b][1];
      T* kd = kt.data() + b * d * lk_pad;
      for (int64_t j = 0; j < lk; ++j)
        for (int64_t c = 0; c < d; ++c) kd[c * lk_pad + j] = kb[j * k_row + c * k_col];
      const T* vb = pv + off[b][2];
      T* vd = vp.data() + b * lk_pad * dv_pad;
      for (int64_t j = 0; j < lk; ++j)
        for (int64_t e = 0; e < dv; ++e) vd[j * dv_pad + e] = vb[j * v_row + e * v_col];
    }
  });

  const T sc = static_cast<T>(scale), inf = std::numeric_limits<T>::infinity();
  const T tiny = std::numeric_limits<T>::min();
  const int64_t tiles = (lq + kRows - 1) / kRows, block_pad = round_up(std::min(lk, kKeyBlock), kern.lanes);
  const int64_t work = kRows * lk * (d + dv);
  parallel_for(0, nb * tiles, std::max<int64_t>(1, (int64_t{1} << 18) / work), [&](int64_t t0, int64_t t1) {
    std::vector<T> qp(static_cast<size_t>(kRows * d)), s(static_cast<size_t>(kRows * block_pad)),
        acc(static_cast<size_t>(kRows * dv_pad)), mx(kRows), sum(kRows);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / tiles, i0 = t % tiles * kRows, rows = std::min(kRows, lq - i0);
      const T* qb = pq + off[b][0] + i0 * q_row;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < d; ++c) qp[r * d + c] = qb[r * q_row + c * q_col];
      std::fill(mx.begin(), mx.end(), -inf);
      std::fill(sum.begin(), sum.end(), T(0));
      for (int64_t j0 = 0; j0 < lk; j0 += kKeyBlock) {
        const int64_t n = std::min(kKeyBlock, lk - j0), n_pad = round_up(n, kern.lanes);
        kern.gemm(rows, n_pad, d, qp.data(), d, kt.data() + b * d * lk_pad + j0, lk_pad, s.data(), block_pad, false);
        T step_scale = sc;
        if (pb || pm) {
          // Scale, bias and mask here, in the materialised path's order.
          step_scale = T(1);
          for (int64_t r = 0; r < rows; ++r) {
            T* sr = s.data() + r * block_pad;
            const T* br = pb ? pb + off[b][3] + (i0 + r) * b_row + j0 * b_col : nullptr;
            const bool* mr = pm ? pm + off[b][4] + (i0 + r) * m_row + j0 * m_col : nullptr;
            for (int64_t j = 0; j < n; ++j) {
              T x = sr[j] * sc;
              if (br) x += br[j * b_col];
              if (mr && !mr[j * m_col]) x = -inf;
              sr[j] = x;
            }
          }
        }
        for (int64_t r = 0; r < rows; ++r) {
          const T alpha = kern.softmax(s.data() + r * block_pad, n, n_pad, step_scale, &mx[r], &sum[r]);
          if (j0 > 0 && alpha != T(1))
            for (int64_t e = 0; e < dv_pad; ++e) acc[r * dv_pad + e] *= alpha;
        }
        kern.gemm(rows, dv_pad, n_pad, s.data(), block_pad, vp.data() + (b * lk_pad + j0) * dv_pad, dv_pad,
                  acc.data(), dv_pad, j0 > 0);
      }
      T* ob = po + (b * lq + i0) * dv;
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t e = 0; e < dv; ++e) {
          const T o = acc[r * dv_pad + e] / sum[r];
          ob[r * dv + e] = std::fabs(o) < tiny ? T(0) : o;
        }
        if (pl) pl[b * lq + i0 + r] = mx[r] + std::log(sum[r]);
      }
    }
  });
}

}  // namespace

void attention_fused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& mask,
                     double scale, const Tensor& out, const Tensor& lse) {
  dispatch_float("scaled_dot_product_attention", q.dtype(), [&](auto tag) {
    attend<decltype(tag)>(q, k, v, bias, mask, scale, out, lse);
  });
}

CUDASEG_REGISTER_KERNEL(kernels::attention_fused, cpu, attention_fused)

}  // namespace cudaseg::ops::cpu
