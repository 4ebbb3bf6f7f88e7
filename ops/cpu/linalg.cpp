#include "ops/cpu/linalg.h"

#include <algorithm>
#include <array>
#include <vector>

#include "ops/common.h"
#include "ops/cpu/gemm.h"
#include "runtime/strided.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

// A 2-D operand as BLAS sees it: row-major storage, possibly transposed.
struct Mat {
  bool trans = false;
  int64_t ld = 0;
};

Mat mat_of(const Tensor& t) {
  const int64_t nd = t.dim();
  const int64_t rows = t.size(nd - 2), cols = t.size(nd - 1);
  const int64_t rs = t.stride(nd - 2), cs = t.stride(nd - 1);
  if ((cols == 1 || cs == 1) && (rows == 1 || rs >= cols)) return {false, rows == 1 ? cols : rs};
  return {true, cols == 1 ? rows : cs};
}

}  // namespace

bool blas_compatible(const Tensor& t) {
  const int64_t nd = t.dim();
  const int64_t rows = t.size(nd - 2), cols = t.size(nd - 1);
  const int64_t rs = t.stride(nd - 2), cs = t.stride(nd - 1);
  const bool row_major = (cols == 1 || cs == 1) && (rows == 1 || rs >= cols);
  const bool col_major = (rows == 1 || rs == 1) && (cols == 1 || cs >= rows);
  return row_major || col_major;
}

void batched_matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_float("matmul", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t nd = out.dim();
    const int64_t n = out.size(nd - 2), p = out.size(nd - 1), m = a.size(nd - 1);
    const Mat ma = mat_of(a), mb = mat_of(b);
    const T* pa = static_cast<const T*>(a.storage()->data());
    const T* pb = static_cast<const T*>(b.storage()->data());
    T* po = out.data<T>();
    const Shape batch(out.shape().begin(), out.shape().end() - 2);
    const Shape sa(a.strides().begin(), a.strides().end() - 2), sb(b.strides().begin(), b.strides().end() - 2);
    std::vector<std::array<int64_t, 2>> offsets;
    for_each_strided<2>(batch, {&sa, &sb}, {a.offset(), b.offset()},
                        [&](const std::array<int64_t, 2>& off) { offsets.push_back(off); });
    // Many small products (attention heads) go one per worker; a lone large
    // one splits itself inside gemm.
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 21) / std::max<int64_t>(n * p * m, 1));
    parallel_for(0, static_cast<int64_t>(offsets.size()), grain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        gemm(ma.trans, mb.trans, n, p, m, T(1), pa + offsets[i][0], ma.ld, pb + offsets[i][1], mb.ld, T(0),
             po + i * n * p, p);
    });
  });
}

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out) {
  dispatch_float("linear", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t rows = x.size(0), in = x.size(1), outf = weight.size(0);
    T* po = out.data<T>();
    if (bias.defined()) {
      const T* pb = bias.data<T>();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < outf; ++j) po[r * outf + j] = pb[j];
    }
    const Mat mx = mat_of(x), mw = mat_of(weight);
    // weight is [out, in]: the product needs its transpose.
    gemm(mx.trans, !mw.trans, rows, outf, in, T(1), x.data<T>(), mx.ld, weight.data<T>(), mw.ld,
            bias.defined() ? T(1) : T(0), po, outf);
  });
}

}  // namespace cudaseg::ops::cpu
