// Stride-1 depthwise float32 convolutions reading their input planes in
// place (ops/cpu/conv.h, Isa::depthwise_planes, depthwise_plane_kernel.inc).
#include <algorithm>

#include "ops/cpu/conv.h"
#include "ops/cpu/conv_direct.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {

// A task holds whole output channels of one image, at least 8192 outputs of
// them, so that a 7x7 map's 49 pixels a channel still amortise the task.
void conv2d_forward_depthwise_planes(const float* x, const float* w, const float* bp, const float* sp, float* y,
                                     const ConvGeom& g, const direct::Isa& isa, const ConvAct& act,
                                     const float* divisor) {
  direct::DepthwisePlanes a;
  a.divisor = divisor;
  a.h = g.h;
  a.w = g.w;
  a.kh = g.kh;
  a.kw = g.kw;
  a.ph = g.ph;
  a.pw = g.pw;
  a.dh = g.dh;
  a.dw = g.dw;
  a.og = g.og();
  a.weight = w;
  a.bias = bp;
  a.slope = sp;
  a.lo = static_cast<float>(act.lo);
  a.hi = static_cast<float>(act.hi);
  a.gelu = act.gelu;
  a.ho = g.ho;
  a.wo = g.wo;
  const int64_t howo = g.ho * g.wo;
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(howo, 1));
  parallel_for(0, g.n * g.o, grain, [&](int64_t p0, int64_t p1) {
    while (p0 < p1) {
      const int64_t n = p0 / g.o, o0 = p0 % g.o, o1 = std::min(g.o, o0 + (p1 - p0));
      direct::DepthwisePlanes b = a;
      b.x = x + n * g.c * g.h * g.w;
      b.y = y + n * g.o * howo;
      isa.depthwise_planes(b, o0, o1);
      p0 += o1 - o0;
    }
  });
}

}  // namespace cudaseg::ops::cpu
