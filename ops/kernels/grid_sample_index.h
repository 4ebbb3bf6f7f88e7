// The index maths of bilinear grid_sample, following PyTorch's
// grid_sampler_2d (GridSampler.h): unnormalise a grid value, clip it for
// border padding, and find the four neighbours and their weights. Written
// once for the CPU kernel and the CUDA kernels, which instantiate it in
// their accumulation type (float or double).
#pragma once

#include <cmath>
#include <cstdint>

#include "runtime/dtype.h"

namespace cudaseg::ops::kernels::grid_sampling {

CUDASEG_HD inline float floor_of(float v) { return floorf(v); }
CUDASEG_HD inline double floor_of(double v) { return ::floor(v); }

// A source coordinate along one axis and its derivative with respect to the
// grid value.
template <typename T>
struct Coord {
  T pos;
  T grad;
};

template <typename T>
CUDASEG_HD inline Coord<T> source_coord(T g, int64_t size, bool border, bool align_corners) {
  Coord<T> c;
  if (align_corners) {
    c.pos = ((g + 1) / 2) * static_cast<T>(size - 1);
    c.grad = static_cast<T>(size - 1) / 2;
  } else {
    c.pos = ((g + 1) * static_cast<T>(size) - 1) / 2;
    c.grad = static_cast<T>(size) / 2;
  }
  if (border) {
    // PyTorch counts the borders themselves as clipped: no gradient there.
    const T hi = static_cast<T>(size - 1);
    if (!(c.pos > T(0))) {
      c.pos = T(0);
      c.grad = T(0);
    } else if (c.pos >= hi) {
      c.pos = hi;
      c.grad = T(0);
    }
  }
  return c;
}

// The four neighbours of a sampling point: top-left corner (x0, y0), the
// fractional offsets, and which of the four lie inside the input.
template <typename T>
struct Taps {
  int64_t x0 = 0, y0 = 0;
  T tx = 0, ty = 0;
  bool in_x0 = false, in_x1 = false, in_y0 = false, in_y1 = false;
};

template <typename T>
CUDASEG_HD inline Taps<T> taps(T x, T y, int64_t w, int64_t h) {
  Taps<T> t;
  // Far outside (or NaN): no neighbour is inside; also keeps the casts defined.
  if (!(x > T(-2) && x < static_cast<T>(w + 1) && y > T(-2) && y < static_cast<T>(h + 1))) return t;
  const T fx = floor_of(x), fy = floor_of(y);
  t.x0 = static_cast<int64_t>(fx);
  t.y0 = static_cast<int64_t>(fy);
  t.tx = x - fx;
  t.ty = y - fy;
  t.in_x0 = t.x0 >= 0 && t.x0 < w;
  t.in_x1 = t.x0 + 1 >= 0 && t.x0 + 1 < w;
  t.in_y0 = t.y0 >= 0 && t.y0 < h;
  t.in_y1 = t.y0 + 1 >= 0 && t.y0 + 1 < h;
  return t;
}

}  // namespace cudaseg::ops::kernels::grid_sampling
