// The direct kernel's input gradient (ops/cpu/conv.h,
// conv2d_backward_input_direct): a dense convolution's gx as stride-1
// direct forwards of gy, one per stride phase.
#include <algorithm>
#include <vector>

#include "ops/cpu/conv.h"
#include "ops/cpu/conv_direct.h"
#include "runtime/error.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {

// The input gradient of a convolution of stride s is s x s stride-1
// convolutions of gy, one per phase (rh, rw) of the input pixels
// (s a + rh, s b + rw). Along one axis: input row s a + r receives
// w[i] gy[a + q_i] from the taps i with r + p - i d divisible by s, where
// q_i = (r + p - i d) / s. Those taps are every step-th one (step =
// s / gcd(s, d)), and q falls by dq = d step / s from one to the next; taken
// in reverse order they form a kernel of dilation dq, padded by -q of the
// last tap, whose weights are each group's transposed (input and output
// channels swapped) and reversed. At stride 1 there is one phase: the flipped
// kernel, padded by its extent less the forward padding. The direct forward
// runs each phase; phases are then interleaved into gx (at stride 1 the one
// phase is gx). The padding may come out negative (a phase whose first input
// row reads gy's second row, a forward padding wider than the kernel): the
// band copy and the unfolding read any offset, zero outside gy.
namespace {

// One axis of one phase: its taps (in the order of the phase's kernel) and geometry.
struct PhaseAxis {
  std::vector<int64_t> taps;  // forward tap index of each of the phase kernel's taps
  int64_t dilation = 1, padding = 0, out = 0;
};

PhaseAxis phase_axis(int64_t r, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  PhaseAxis a;
  a.out = in > r ? (in - r + s - 1) / s : 0;
  for (int64_t i = k - 1; i >= 0; --i)
    if ((r + p - i * d) % s == 0) a.taps.push_back(i);
  if (a.taps.empty()) return a;
  // q of the first tap in phase order (the largest forward tap index) is the
  // smallest: the phase kernel's padding is its negation.
  a.padding = -((r + p - a.taps.front() * d) / s);
  if (a.taps.size() > 1) a.dilation = (a.taps[0] - a.taps[1]) * d / s;
  return a;
}

// Calls f(rh, rw, geometry of the phase, its row axis, its column axis) for
// every phase that has taps and output pixels.
template <typename F>
void for_each_phase(const ConvGeom& g, F f) {
  for (int64_t rh = 0; rh < g.sh; ++rh)
    for (int64_t rw = 0; rw < g.sw; ++rw) {
      const PhaseAxis ah = phase_axis(rh, g.h, g.kh, g.sh, g.ph, g.dh);
      const PhaseAxis aw = phase_axis(rw, g.w, g.kw, g.sw, g.pw, g.dw);
      ConvGeom t;
      t.n = g.n;
      t.c = g.o;
      t.h = g.ho;
      t.w = g.wo;
      t.o = g.c;
      t.ho = ah.out;
      t.wo = aw.out;
      t.kh = static_cast<int64_t>(ah.taps.size());
      t.kw = static_cast<int64_t>(aw.taps.size());
      t.dh = ah.dilation;
      t.dw = aw.dilation;
      t.ph = ah.padding;
      t.pw = aw.padding;
      t.groups = g.groups;
      f(rh, rw, t, ah, aw);
    }
}

}  // namespace

bool conv2d_backward_input_direct_applies(const ConvGeom& g, DType dtype) {
  if (g.n == 0 || g.depthwise()) return false;
  bool ok = true;
  for_each_phase(g, [&](int64_t, int64_t, const ConvGeom& t, const PhaseAxis&, const PhaseAxis&) {
    const bool empty = t.kh == 0 || t.kw == 0 || t.ho == 0 || t.wo == 0;
    ok = ok && (empty || conv2d_direct_applies(t, dtype));
  });
  return ok;
}

void conv2d_backward_input_direct(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g,
                                  const direct::Isa& isa) {
  CUDASEG_CHECK(conv2d_backward_input_direct_applies(g, gx.dtype()),
                "conv2d_backward_input (direct): needs a dense float32 convolution of a non-empty batch, got ",
                g.n, " images of ", g.cg(), " channels a group, ", dtype_name(gx.dtype()));
  const int64_t cg = g.cg(), og = g.og(), hw = g.h * g.w;
  const bool strided = g.sh > 1 || g.sw > 1;
  float* px = gx.data<float>();
  // Pixels no phase reaches (no tap lands on them) get no gradient.
  if (strided) std::fill(px, px + gx.numel(), 0.0f);
  for_each_phase(g, [&](int64_t rh, int64_t rw, const ConvGeom& t, const PhaseAxis& ah, const PhaseAxis& aw) {
    if (t.kh == 0 || t.kw == 0 || t.ho == 0 || t.wo == 0) return;
    // w [groups][og][cg][kh][kw] -> [groups][cg][og][phase taps], transposed
    // and in the phase's tap order.
    Tensor wt = Tensor::empty({g.c, og, t.kh, t.kw}, DType::f32);
    const float* src = w.data<float>();
    float* dst = wt.data<float>();
    for (int64_t gr = 0; gr < g.groups; ++gr)
      for (int64_t o = 0; o < og; ++o)
        for (int64_t c = 0; c < cg; ++c) {
          const float* from = src + ((gr * og + o) * cg + c) * g.kh * g.kw;
          float* to = dst + ((gr * cg + c) * og + o) * t.kh * t.kw;
          for (int64_t a = 0; a < t.kh; ++a)
            for (int64_t b = 0; b < t.kw; ++b) to[a * t.kw + b] = from[ah.taps[a] * g.kw + aw.taps[b]];
        }
    if (!strided) {
      conv2d_forward_direct(gy, wt, Tensor(), gx, t, isa);
      return;
    }
    const Tensor phase = Tensor::empty({g.n, g.c, t.ho, t.wo}, DType::f32);
    conv2d_forward_direct(gy, wt, Tensor(), phase, t, isa);
    const float* pp = phase.data<float>();
    parallel_for(0, g.n * g.c, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        for (int64_t a = 0; a < t.ho; ++a) {
          const float* row = pp + (p * t.ho + a) * t.wo;
          float* out = px + p * hw + (a * g.sh + rh) * g.w + rw;
          for (int64_t b = 0; b < t.wo; ++b) out[b * g.sw] = row[b];
        }
    });
  });
}

}  // namespace cudaseg::ops::cpu
