// Bilinear grid_sample on the CPU, forward and backward, following PyTorch's
// grid_sampler_2d (GridSampler.h): unnormalise, clip for border padding, then
// weigh the four neighbours, skipping those outside the input. The index
// maths is ops/kernels/grid_sample_index.h, shared with CUDA.
#include <algorithm>
#include <cmath>

#include "ops/common.h"
#include "ops/kernels/grid_sample_index.h"
#include "ops/kernels/resize.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

using kernels::grid_sampling::Coord;
using kernels::grid_sampling::source_coord;
using kernels::grid_sampling::Taps;
using kernels::grid_sampling::taps;

template <typename T>
void forward(const Tensor& input, const Tensor& grid, const Tensor& output, bool border, bool align_corners) {
  const int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
  const int64_t oh = grid.size(1), ow = grid.size(2);
  const T* in = input.data<T>();
  const T* gr = grid.data<T>();
  T* out = output.data<T>();
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(ow * c, 1));
  parallel_for(0, n * oh, grain, [&](int64_t s, int64_t e) {
    for (int64_t row = s; row < e; ++row) {
      const int64_t b = row / oh, oy = row % oh;
      const T* plane0 = in + b * c * h * w;
      for (int64_t ox = 0; ox < ow; ++ox) {
        const T* g = gr + (row * ow + ox) * 2;
        const Coord<T> cx = source_coord(g[0], w, border, align_corners);
        const Coord<T> cy = source_coord(g[1], h, border, align_corners);
        const Taps<T> t = taps(cx.pos, cy.pos, w, h);
        const T wnw = (1 - t.tx) * (1 - t.ty), wne = t.tx * (1 - t.ty), wsw = (1 - t.tx) * t.ty, wse = t.tx * t.ty;
        T* o = out + b * c * oh * ow + oy * ow + ox;
        for (int64_t ch = 0; ch < c; ++ch) {
          const T* x = plane0 + ch * h * w;
          T v = 0;
          if (t.in_y0 && t.in_x0) v += x[t.y0 * w + t.x0] * wnw;
          if (t.in_y0 && t.in_x1) v += x[t.y0 * w + t.x0 + 1] * wne;
          if (t.in_y1 && t.in_x0) v += x[(t.y0 + 1) * w + t.x0] * wsw;
          if (t.in_y1 && t.in_x1) v += x[(t.y0 + 1) * w + t.x0 + 1] * wse;
          o[ch * oh * ow] = v;
        }
      }
    }
  });
}

template <typename T>
void backward_input(const Tensor& grad_output, const Tensor& grid, const Tensor& grad_input, bool border,
                    bool align_corners) {
  const int64_t c = grad_input.size(1), h = grad_input.size(2), w = grad_input.size(3);
  const int64_t oh = grid.size(1), ow = grid.size(2);
  const T* go = grad_output.data<T>();
  const T* gr = grid.data<T>();
  T* gi = grad_input.data<T>();
  // One plane per task, so that the scatter-adds never race; each recomputes
  // the sampling points of its image.
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(oh * ow, 1));
  parallel_for(0, grad_input.size(0) * c, grain, [&](int64_t s, int64_t e) {
    for (int64_t p = s; p < e; ++p) {
      const int64_t b = p / c;
      T* dx = gi + p * h * w;
      std::fill(dx, dx + h * w, T(0));
      const T* dy = go + p * oh * ow;
      for (int64_t k = 0; k < oh * ow; ++k) {
        const T* g = gr + (b * oh * ow + k) * 2;
        const Coord<T> cx = source_coord(g[0], w, border, align_corners);
        const Coord<T> cy = source_coord(g[1], h, border, align_corners);
        const Taps<T> t = taps(cx.pos, cy.pos, w, h);
        const T d = dy[k];
        if (t.in_y0 && t.in_x0) dx[t.y0 * w + t.x0] += (1 - t.tx) * (1 - t.ty) * d;
        if (t.in_y0 && t.in_x1) dx[t.y0 * w + t.x0 + 1] += t.tx * (1 - t.ty) * d;
        if (t.in_y1 && t.in_x0) dx[(t.y0 + 1) * w + t.x0] += (1 - t.tx) * t.ty * d;
        if (t.in_y1 && t.in_x1) dx[(t.y0 + 1) * w + t.x0 + 1] += t.tx * t.ty * d;
      }
    }
  });
}

template <typename T>
void backward_grid(const Tensor& grad_output, const Tensor& input, const Tensor& grid, const Tensor& grad_grid,
                   bool border, bool align_corners) {
  const int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
  const int64_t oh = grid.size(1), ow = grid.size(2);
  const T* go = grad_output.data<T>();
  const T* in = input.data<T>();
  const T* gr = grid.data<T>();
  T* gg = grad_grid.data<T>();
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(ow * c, 1));
  parallel_for(0, n * oh, grain, [&](int64_t s, int64_t e) {
    for (int64_t row = s; row < e; ++row) {
      const int64_t b = row / oh, oy = row % oh;
      for (int64_t ox = 0; ox < ow; ++ox) {
        const T* g = gr + (row * ow + ox) * 2;
        const Coord<T> cx = source_coord(g[0], w, border, align_corners);
        const Coord<T> cy = source_coord(g[1], h, border, align_corners);
        const Taps<T> t = taps(cx.pos, cy.pos, w, h);
        // d(out)/d(x) and d(out)/d(y) in pixels, summed over channels.
        T gx = 0, gy = 0;
        for (int64_t ch = 0; ch < c; ++ch) {
          const T* x = in + (b * c + ch) * h * w;
          const T d = go[((b * c + ch) * oh + oy) * ow + ox];
          const T nw = t.in_y0 && t.in_x0 ? x[t.y0 * w + t.x0] : T(0);
          const T ne = t.in_y0 && t.in_x1 ? x[t.y0 * w + t.x0 + 1] : T(0);
          const T sw = t.in_y1 && t.in_x0 ? x[(t.y0 + 1) * w + t.x0] : T(0);
          const T se = t.in_y1 && t.in_x1 ? x[(t.y0 + 1) * w + t.x0 + 1] : T(0);
          gx += d * ((ne - nw) * (1 - t.ty) + (se - sw) * t.ty);
          gy += d * ((sw - nw) * (1 - t.tx) + (se - ne) * t.tx);
        }
        T* out = gg + (row * ow + ox) * 2;
        out[0] = gx * cx.grad;
        out[1] = gy * cy.grad;
      }
    }
  });
}

}  // namespace

void grid_sample(const Tensor& input, const Tensor& grid, const Tensor& output, bool border, bool align_corners) {
  dispatch_float("grid_sample", input.dtype(),
                 [&](auto tag) { forward<decltype(tag)>(input, grid, output, border, align_corners); });
}

void grid_sample_backward(const Tensor& grad_output, const Tensor& input, const Tensor& grid,
                          const Tensor& grad_input, const Tensor& grad_grid, bool border, bool align_corners) {
  dispatch_float("grid_sample_backward", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (grad_input.defined()) backward_input<T>(grad_output, grid, grad_input, border, align_corners);
    if (grad_grid.defined()) backward_grid<T>(grad_output, input, grid, grad_grid, border, align_corners);
  });
}

CUDASEG_REGISTER_KERNEL(kernels::grid_sample, cpu, grid_sample)
CUDASEG_REGISTER_KERNEL(kernels::grid_sample_backward, cpu, grid_sample_backward)

}  // namespace cudaseg::ops::cpu
