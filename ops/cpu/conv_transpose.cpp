// The transposed convolution on the CPU as stride_h x stride_w ordinary
// convolutions, one per output phase (sub-pixel decomposition): the outputs
// (oy, ox) with oy % sh == ry and ox % sw == rx receive only the kernel taps
// ky = (ry + ph) mod sh + m*sh (likewise kx), read from consecutive input
// rows and columns. Each phase is thus a stride-1 convolution of the input
// with those taps, flipped, which runs in the direct kernels of conv2d
// (conv_direct.h; a 2x2 stride-2 deconvolution becomes four pointwise
// convolutions) instead of a GEMM over every tap followed by col2im's
// scatter. Its output is then interleaved into the result.
//
// Per axis (input size I, output size O, kernel k, stride s, padding p) and
// phase r: the n_r = ceil((O - r) / s) outputs i*s + r, the K_r taps
// ky0 + m*s (ky0 = (r + p) mod s), and output i reads input i + e for
// e = floor((r + p) / s) - m. As a convolution reading input i - pad + t,
// tap t is ky0 + (K_r - 1 - t)*s and pad = K_r - 1 - floor((r + p) / s).
// The convolution pads both sides by P >= pad, enough for the last output's
// reads, and its output i + P - pad is the phase's output i.
#include <algorithm>
#include <vector>

#include "ops/common.h"
#include "ops/cpu/conv.h"
#include "ops/kernels/conv.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

struct AxisPhase {
  int64_t outputs = 0;  // n_r
  int64_t taps = 0;     // K_r
  int64_t first_tap = 0;
  int64_t pad = 0;    // P, both sides
  int64_t shift = 0;  // P - pad: where the phase's output 0 lies in the convolution's
  int64_t conv_out = 0;
};

AxisPhase axis_phase(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t r) {
  AxisPhase a;
  a.outputs = r < out ? (out - r + s - 1) / s : 0;
  a.first_tap = (r + p) % s;
  a.taps = a.first_tap < k ? (k - a.first_tap + s - 1) / s : 0;
  if (a.outputs == 0 || a.taps == 0) return a;
  const int64_t e_max = (r + p) / s;
  const int64_t pad = a.taps - 1 - e_max;
  a.pad = std::max<int64_t>({pad, a.outputs + e_max - in, 0});
  a.shift = a.pad - pad;
  a.conv_out = in + 2 * a.pad - a.taps + 1;
  return a;
}

}  // namespace

// g is the geometry of the convolution this is the adjoint of (ops/conv.cpp
// transpose_geom): x [n, o, ho, wo] is this op's input, w [o, c/groups, kh,
// kw], y [n, c, h, w] its output.
void conv_transpose2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                              const ConvGeom& g) {
  if (g.dh != 1 || g.dw != 1) {
    kernels::conv2d_backward_input(y.device(), x, w, y, g);
    if (bias.defined()) kernels::add_channel_bias(y.device(), y, bias);
    return;
  }
  const int64_t in_per_group = g.og(), out_per_group = g.cg();
  dispatch_float("conv_transpose2d", y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pw = w.data<T>();
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    T* py = y.data<T>();
    // Every phase's convolution first, then one pass that interleaves them
    // row by row (two phases of a stride-2 row: a loop the compiler vectorises).
    struct Phase {
      AxisPhase ay, ax;
      Tensor out;  // undefined: no tap reaches these outputs, the bias alone
      int64_t ho = 0, wo = 0;
    };
    std::vector<Phase> phases(static_cast<size_t>(g.sh * g.sw));
    for (int64_t ry = 0; ry < g.sh; ++ry)
      for (int64_t rx = 0; rx < g.sw; ++rx) {
        Phase& ph = phases[static_cast<size_t>(ry * g.sw + rx)];
        ph.ay = axis_phase(g.ho, g.h, g.kh, g.sh, g.ph, ry);
        ph.ax = axis_phase(g.wo, g.w, g.kw, g.sw, g.pw, rx);
        const AxisPhase &ay = ph.ay, &ax = ph.ax;
        if (ay.outputs == 0 || ax.outputs == 0 || ay.taps == 0 || ax.taps == 0) continue;
        // The phase's weights as a conv2d's [c][o/groups][K_y][K_x], taps flipped.
        Tensor pw_t = Tensor::empty({g.c, in_per_group, ay.taps, ax.taps}, y.dtype());
        T* wp = pw_t.data<T>();
        for (int64_t gr = 0; gr < g.groups; ++gr)
          for (int64_t oc = 0; oc < out_per_group; ++oc)
            for (int64_t ic = 0; ic < in_per_group; ++ic)
              for (int64_t ty = 0; ty < ay.taps; ++ty)
                for (int64_t tx = 0; tx < ax.taps; ++tx) {
                  const int64_t ky = ay.first_tap + (ay.taps - 1 - ty) * g.sh;
                  const int64_t kx = ax.first_tap + (ax.taps - 1 - tx) * g.sw;
                  wp[(((gr * out_per_group + oc) * in_per_group + ic) * ay.taps + ty) * ax.taps + tx] =
                      pw[(((gr * in_per_group + ic) * out_per_group + oc) * g.kh + ky) * g.kw + kx];
                }
        ConvGeom pg;
        pg.n = g.n, pg.c = g.o, pg.h = g.ho, pg.w = g.wo;
        pg.o = g.c, pg.kh = ay.taps, pg.kw = ax.taps;
        pg.ph = ay.pad, pg.pw = ax.pad, pg.groups = g.groups;
        pg.ho = ay.conv_out, pg.wo = ax.conv_out;
        if (g.sh == 1 && g.sw == 1 && ay.shift == 0 && ax.shift == 0 && pg.ho == g.h && pg.wo == g.w) {
          kernels::conv2d_forward(y.device(), x, pw_t, bias, y, pg);  // stride 1: the one phase is the output
          return;
        }
        ph.out = Tensor::empty({g.n, g.c, pg.ho, pg.wo}, y.dtype());
        ph.ho = pg.ho, ph.wo = pg.wo;
        kernels::conv2d_forward(y.device(), x, pw_t, bias, ph.out, pg);
      }
    parallel_for(0, g.n * g.c, 1, [&](int64_t p0, int64_t p1) {
      std::vector<const T*> src(static_cast<size_t>(g.sw));
      for (int64_t p = p0; p < p1; ++p) {
        const T b = pb ? pb[p % g.c] : T(0);
        for (int64_t oy = 0; oy < g.h; ++oy) {
          const int64_t ry = oy % g.sh, i = oy / g.sh;
          T* dst = py + (p * g.h + oy) * g.w;
          bool all = g.sw == 2;
          for (int64_t rx = 0; rx < g.sw; ++rx) {
            const Phase& ph = phases[static_cast<size_t>(ry * g.sw + rx)];
            src[rx] = ph.out.defined() ? ph.out.template data<T>() + (p * ph.ho + i + ph.ay.shift) * ph.wo + ph.ax.shift
                                       : nullptr;
            all = all && src[rx] != nullptr;
          }
          if (all) {
            const T *a = src[0], *c = src[1];
            const int64_t pairs = g.w / 2;
            for (int64_t j = 0; j < pairs; ++j) {
              dst[2 * j] = a[j];
              dst[2 * j + 1] = c[j];
            }
            if (g.w % 2) dst[g.w - 1] = a[pairs];
            continue;
          }
          for (int64_t ox = 0; ox < g.w; ++ox) {
            const T* s = src[static_cast<size_t>(ox % g.sw)];
            dst[ox] = s ? s[ox / g.sw] : b;
          }
        }
      }
    });
  });
}

CUDASEG_REGISTER_KERNEL(kernels::conv_transpose2d_forward, cpu, conv_transpose2d_forward)

}  // namespace cudaseg::ops::cpu
