// act(a + b) in one pass (ops::add_act): each element's sum, then PReLU and
// the clamp in ops::prelu's and ops::clamp's arithmetic (max(v, 0) + w *
// min(v, 0); then lo where v < lo, then hi where v > hi), so the bits are
// those of the three ops in turn. The clamp is two selects, each with its
// own comparison: nested (v < lo ? lo : v > hi ? hi : v) would compare
// against hi speculatively, which GCC does not do under its default
// -ftrapping-math, and the loop stayed scalar (slower than the two ops).
#include <algorithm>

#include "ops/common.h"
#include "ops/kernels/conv.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

void add_act(const Tensor& a, const Tensor& b, const Tensor& out, const ConvAct& act) {
  const int64_t C = a.size(1), S = a.size(2), rows = a.size(0) * C;
  dispatch_float("add_act", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *pa = a.data<T>(), *pb = b.data<T>();
    T* po = out.data<T>();
    const T* slope = act.slope.defined() ? act.slope.data<T>() : nullptr;
    const bool shared = act.slope.defined() && act.slope.numel() == 1;
    const T lo = static_cast<T>(act.lo), hi = static_cast<T>(act.hi);
    parallel_for(0, rows, std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(S, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* x = pa + r * S;
        const T* y = pb + r * S;
        T* o = po + r * S;
        if (slope) {
          const T w = slope[shared ? 0 : r % C];
          for (int64_t i = 0; i < S; ++i) {
            const T v = x[i] + y[i];
            T p = std::max(v, T(0)) + w * std::min(v, T(0));
            p = p < lo ? lo : p;
            o[i] = p > hi ? hi : p;
          }
        } else {
          for (int64_t i = 0; i < S; ++i) {
            T v = x[i] + y[i];
            v = v < lo ? lo : v;
            o[i] = v > hi ? hi : v;
          }
        }
      }
    });
  });
}

}  // namespace

CUDASEG_REGISTER_KERNEL(kernels::add_act, cpu, add_act)

}  // namespace cudaseg::ops::cpu
