#include <array>
#include <cmath>
#include <limits>

#include "ops/kernels/reduce.h"
#include "runtime/strided.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

using kernels::ReduceOp;

// Runs f(row_pointer, row_index) over rows in parallel.
template <typename T, typename F>
void for_rows(const Tensor& x, int64_t rows, int64_t count, F f) {
  const T* px = x.data<T>();
  parallel_for(0, rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(count, 1)),
               [&](int64_t s, int64_t e) {
                 for (int64_t r = s; r < e; ++r) f(px + r * count, r);
               });
}

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_integral_v<T>)
    return false;
  else
    return std::isnan(convert<double>(v));
}

// Accumulates in double (or int64 for integers) so the reference is not the
// least accurate party in a comparison.
template <typename T>
double float_row(ReduceOp op, const T* row, int64_t count, double correction) {
  double acc = 0;
  switch (op) {
    case ReduceOp::mean:
      for (int64_t i = 0; i < count; ++i) acc += convert<double>(row[i]);
      return acc / static_cast<double>(count);
    case ReduceOp::var:
    case ReduceOp::std: {
      double mean = 0;
      for (int64_t i = 0; i < count; ++i) mean += convert<double>(row[i]);
      mean /= static_cast<double>(count);
      for (int64_t i = 0; i < count; ++i) {
        const double d = convert<double>(row[i]) - mean;
        acc += d * d;
      }
      const double v = acc / std::max(static_cast<double>(count) - correction, 0.0);
      return op == ReduceOp::std ? std::sqrt(v) : v;
    }
    case ReduceOp::norm1:
      for (int64_t i = 0; i < count; ++i) acc += std::abs(convert<double>(row[i]));
      return acc;
    case ReduceOp::norm2:
      for (int64_t i = 0; i < count; ++i) acc += convert<double>(row[i]) * convert<double>(row[i]);
      return std::sqrt(acc);
    default:
      break;
  }
  CUDASEG_FAIL("reduce_rows: not a floating reduction");
}

}  // namespace

void reduce_rows(ReduceOp op, const Tensor& x, int64_t rows, int64_t count, double correction,
                 const Tensor& out) {
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      CUDASEG_FAIL("reduction of a bool tensor is not supported");
    } else {
      T* po = out.data<T>();
      if (op == ReduceOp::sum) {
        using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
        for_rows<T>(x, rows, count, [&](const T* row, int64_t r) {
          Acc acc = 0;
          for (int64_t i = 0; i < count; ++i) acc += static_cast<Acc>(convert<double>(row[i]));
          po[r] = convert<T>(acc);
        });
      } else if (op == ReduceOp::amax || op == ReduceOp::amin) {
        const bool largest = op == ReduceOp::amax;
        for_rows<T>(x, rows, count, [&](const T* row, int64_t r) {
          T best = row[0];
          for (int64_t i = 1; i < count && !is_nan(best); ++i) {
            const double v = convert<double>(row[i]), b = convert<double>(best);
            if (is_nan(row[i]) || (largest ? v > b : v < b)) best = row[i];
          }
          po[r] = best;
        });
      } else {
        for_rows<T>(x, rows, count, [&](const T* row, int64_t r) {
          po[r] = convert<T>(float_row(op, row, count, correction));
        });
      }
    }
  });
}

void arg_reduce_rows(bool largest, const Tensor& x, int64_t rows, int64_t count, const Tensor& values,
                     const Tensor& indices) {
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    int64_t* pi = indices.data<int64_t>();
    T* pv = values.defined() ? values.data<T>() : nullptr;
    for_rows<T>(x, rows, count, [&](const T* row, int64_t r) {
      int64_t best = 0;
      for (int64_t i = 1; i < count && !is_nan(row[best]); ++i) {
        const double v = convert<double>(row[i]), b = convert<double>(row[best]);
        // Strict comparison keeps the first occurrence of a tie.
        if (is_nan(row[i]) || (largest ? v > b : v < b)) best = i;
      }
      pi[r] = best;
      if (pv) pv[r] = row[best];
    });
  });
}

void scatter_along_dim(const Tensor& src, const Tensor& indices, int64_t dim, const Tensor& out) {
  dispatch_dtype(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* po = static_cast<T*>(out.storage()->data());
    const T* ps = static_cast<const T*>(src.storage()->data());
    const int64_t* pi = static_cast<const int64_t*>(indices.storage()->data());
    const int64_t step = out.stride(dim);
    for_each_strided<3>(src.shape(), {&out.strides(), &src.strides(), &indices.strides()},
                        {out.offset(), src.offset(), indices.offset()},
                        [&](const std::array<int64_t, 3>& k) { po[k[0] + pi[k[2]] * step] = ps[k[1]]; });
  });
}

// The op layer hands the CPU contiguous rows: inner is always 1 here.
void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t count, int64_t inner, double correction,
            const Tensor& out) {
  CUDASEG_CHECK(inner == 1, "reduce: the CPU kernel takes rows, got inner size ", inner);
  reduce_rows(op, x, outer, count, correction, out);
}

void arg_reduce(bool largest, const Tensor& x, int64_t outer, int64_t count, int64_t inner, const Tensor& values,
                const Tensor& indices) {
  CUDASEG_CHECK(inner == 1, "arg_reduce: the CPU kernel takes rows, got inner size ", inner);
  arg_reduce_rows(largest, x, outer, count, values, indices);
}

CUDASEG_REGISTER_KERNEL(kernels::reduce, cpu, reduce)
CUDASEG_REGISTER_KERNEL(kernels::arg_reduce, cpu, arg_reduce)
CUDASEG_REGISTER_KERNEL(kernels::scatter_along_dim, cpu, scatter_along_dim)

}  // namespace cudaseg::ops::cpu
