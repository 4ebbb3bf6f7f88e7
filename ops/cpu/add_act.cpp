// act(a + b) in one pass (ops::add_act): each element's sum, then
// batch_norm's evaluation step where asked (ops::add_batch_norm_act: the
// sum times the channel's scale plus its shift, in double, as
// batch_norm_apply computes it), then PReLU and the clamp in ops::prelu's
// and ops::clamp's arithmetic (max(v, 0) + w *
// min(v, 0); then lo where v < lo, then hi where v > hi), so the bits are
// those of the three ops in turn. The clamp is two selects, each with its
// own comparison: nested (v < lo ? lo : v > hi ? hi : v) would compare
// against hi speculatively, which GCC does not do under its default
// -ftrapping-math, and the loop stayed scalar (slower than the two ops).
#include <algorithm>
#include <type_traits>
#include <vector>

#include "ops/common.h"
#include "ops/kernels/conv.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

void add_act(const Tensor& a, const Tensor& b, const Tensor& out, const ConvAct& act, const std::vector<double>& scale,
             const std::vector<double>& shift) {
  const int64_t C = a.size(1), S = a.size(2), rows = a.size(0) * C;
  dispatch_float("add_act", out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T *pa = a.data<T>(), *pb = b.data<T>();
    T* po = out.data<T>();
    const T* slope = act.slope.defined() ? act.slope.data<T>() : nullptr;
    const bool shared = act.slope.defined() && act.slope.numel() == 1;
    const T lo = static_cast<T>(act.lo), hi = static_cast<T>(act.hi);
    // One loop per combination, each free of branches so that it vectorises.
    auto rows_of = [&](auto affine, auto prelu, int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T *x = pa + r * S, *y = pb + r * S;
        T* o = po + r * S;
        const int64_t c = r % C;
        const double sc = affine ? scale[c] : 1.0, sh = affine ? shift[c] : 0.0;
        const T w = prelu ? slope[shared ? 0 : c] : T(0);
        for (int64_t i = 0; i < S; ++i) {
          T v = x[i] + y[i];
          if constexpr (decltype(affine)::value) v = static_cast<T>(static_cast<double>(v) * sc + sh);
          if constexpr (decltype(prelu)::value) v = std::max(v, T(0)) + w * std::min(v, T(0));
          v = v < lo ? lo : v;
          o[i] = v > hi ? hi : v;
        }
      }
    };
    using Yes = std::true_type;
    using No = std::false_type;
    parallel_for(0, rows, std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(S, 1)), [&](int64_t r0, int64_t r1) {
      if (!scale.empty() && slope) rows_of(Yes{}, Yes{}, r0, r1);
      else if (!scale.empty()) rows_of(Yes{}, No{}, r0, r1);
      else if (slope) rows_of(No{}, Yes{}, r0, r1);
      else rows_of(No{}, No{}, r0, r1);
    });
  });
}

}  // namespace

CUDASEG_REGISTER_KERNEL(kernels::add_act, cpu, add_act)

}  // namespace cudaseg::ops::cpu
