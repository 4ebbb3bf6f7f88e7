#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/common.h"
#include "ops/kernels/resize.h"
#include "runtime/thread_pool.h"

namespace cudaseg::ops::cpu {
namespace {

// Runs f(first_plane, last_plane) over the N*C planes in parallel.
template <typename F>
void for_planes(int64_t planes, int64_t work_per_plane, F&& f) {
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(work_per_plane, 1));
  parallel_for(0, planes, grain, f);
}

// PyTorch's NCHW forward rule, in float32 arithmetic whatever the dtype.
// (Its backward kernel, and its forward for a single channel, copy when
// out == in and halve when out == 2*in; that differs only for a scale factor
// such as 1.05 or 2.1 that rounds to those sizes. Both directions here use
// this one rule, so the gradient is that of the forward.)
int64_t nearest_index(int64_t dst, int64_t in, int64_t out, std::optional<double> scale) {
  const float s = (scale && *scale > 0) ? static_cast<float>(1.0 / *scale)
                                        : static_cast<float>(in) / static_cast<float>(out);
  return std::min(static_cast<int64_t>(std::floor(static_cast<float>(dst) * s)), in - 1);
}

std::vector<int64_t> nearest_indices(int64_t in, int64_t out, std::optional<double> scale) {
  std::vector<int64_t> idx(static_cast<size_t>(out));
  for (int64_t d = 0; d < out; ++d) idx[d] = nearest_index(d, in, out, scale);
  return idx;
}

// The two source taps and weights of every output index along one axis.
template <typename T>
struct LinearTaps {
  std::vector<int64_t> i0, i1;
  std::vector<T> w0, w1;
};

// PyTorch's rule: the ratio is computed in T (float for float32), the source
// coordinate in double, and an axis of unchanged size is copied.
template <typename T>
LinearTaps<T> linear_taps(int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  LinearTaps<T> t;
  t.i0.resize(out);
  t.i1.resize(out);
  t.w0.resize(out);
  t.w1.resize(out);
  T ratio;
  if (align_corners)
    ratio = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  else
    ratio = (scale && *scale > 0) ? static_cast<T>(1.0 / *scale) : static_cast<T>(in) / static_cast<T>(out);
  for (int64_t d = 0; d < out; ++d) {
    if (in == out) {
      t.i0[d] = t.i1[d] = d;
      t.w0[d] = T(1);
      t.w1[d] = T(0);
      continue;
    }
    const double r = static_cast<double>(ratio);
    double src = align_corners ? r * static_cast<double>(d) : r * (static_cast<double>(d) + 0.5) - 0.5;
    src = std::max(src, 0.0);
    const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
    t.i0[d] = i0;
    t.i1[d] = i0 + (i0 < in - 1 ? 1 : 0);
    t.w1[d] = static_cast<T>(std::min(src - static_cast<double>(i0), 1.0));
    t.w0[d] = T(1) - t.w1[d];
  }
  return t;
}

template <typename T>
void bilinear_forward(const Tensor& input, const Tensor& output, bool align_corners, std::optional<double> sh,
                      std::optional<double> sw) {
  const int64_t ih = input.size(2), iw = input.size(3), oh = output.size(2), ow = output.size(3);
  const LinearTaps<T> ty = linear_taps<T>(ih, oh, align_corners, sh);
  const LinearTaps<T> tx = linear_taps<T>(iw, ow, align_corners, sw);
  const T* in = input.data<T>();
  T* out = output.data<T>();
  for_planes(output.numel() / (oh * ow), oh * ow, [&](int64_t first, int64_t last) {
    // Two input rows interpolated along x, row r in slot r % 2: consecutive
    // output rows mostly reuse them (each output row needs rows i0 and i0+1).
    std::vector<T> rows(static_cast<size_t>(2 * ow));
    for (int64_t p = first; p < last; ++p) {
      const T* x = in + p * ih * iw;
      T* y = out + p * oh * ow;
      int64_t held[2] = {-1, -1};
      auto row = [&](int64_t r) -> const T* {
        T* dst = rows.data() + (r & 1) * ow;
        if (held[r & 1] != r) {
          const T* src = x + r * iw;
          for (int64_t ox = 0; ox < ow; ++ox) dst[ox] = src[tx.i0[ox]] * tx.w0[ox] + src[tx.i1[ox]] * tx.w1[ox];
          held[r & 1] = r;
        }
        return dst;
      };
      for (int64_t oy = 0; oy < oh; ++oy) {
        const T* a = row(ty.i0[oy]);
        const T* b = row(ty.i1[oy]);
        const T wa = ty.w0[oy], wb = ty.w1[oy];
        T* yrow = y + oy * ow;
        for (int64_t ox = 0; ox < ow; ++ox) yrow[ox] = a[ox] * wa + b[ox] * wb;
      }
    }
  });
}

template <typename T>
void bilinear_backward(const Tensor& grad_output, const Tensor& grad_input, bool align_corners,
                       std::optional<double> sh, std::optional<double> sw) {
  const int64_t ih = grad_input.size(2), iw = grad_input.size(3);
  const int64_t oh = grad_output.size(2), ow = grad_output.size(3);
  const LinearTaps<T> ty = linear_taps<T>(ih, oh, align_corners, sh);
  const LinearTaps<T> tx = linear_taps<T>(iw, ow, align_corners, sw);
  const T* go = grad_output.data<T>();
  T* gi = grad_input.data<T>();
  for_planes(grad_output.numel() / (oh * ow), oh * ow, [&](int64_t first, int64_t last) {
    // The transpose of the forward: output rows are first combined along y
    // into (at most two live) rows of width ow, each then scattered along x
    // into its input row when it leaves its slot.
    std::vector<T> rows(static_cast<size_t>(2 * ow), T(0));
    for (int64_t p = first; p < last; ++p) {
      const T* dy = go + p * oh * ow;
      T* dx = gi + p * ih * iw;
      std::fill(dx, dx + ih * iw, T(0));
      int64_t held[2] = {-1, -1};
      auto flush = [&](int slot) {
        if (held[slot] < 0) return;
        T* acc = rows.data() + slot * ow;
        T* dst = dx + held[slot] * iw;
        for (int64_t ox = 0; ox < ow; ++ox) {
          dst[tx.i0[ox]] += acc[ox] * tx.w0[ox];
          dst[tx.i1[ox]] += acc[ox] * tx.w1[ox];
          acc[ox] = T(0);
        }
        held[slot] = -1;
      };
      auto row = [&](int64_t r) -> T* {
        const int slot = static_cast<int>(r & 1);
        if (held[slot] != r) {
          flush(slot);
          held[slot] = r;
        }
        return rows.data() + slot * ow;
      };
      for (int64_t oy = 0; oy < oh; ++oy) {
        const T* g = dy + oy * ow;
        T* a = row(ty.i0[oy]);
        const T wa = ty.w0[oy], wb = ty.w1[oy];
        for (int64_t ox = 0; ox < ow; ++ox) a[ox] += g[ox] * wa;
        T* b = row(ty.i1[oy]);
        for (int64_t ox = 0; ox < ow; ++ox) b[ox] += g[ox] * wb;
      }
      flush(0);
      flush(1);
    }
  });
}

}  // namespace

void upsample_nearest2d(const Tensor& input, const Tensor& output, std::optional<double> scale_h,
                        std::optional<double> scale_w) {
  dispatch_float("upsample_nearest2d", input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t ih = input.size(2), iw = input.size(3), oh = output.size(2), ow = output.size(3);
    const std::vector<int64_t> yi = nearest_indices(ih, oh, scale_h), xi = nearest_indices(iw, ow, scale_w);
    const T* in = input.data<T>();
    T* out = output.data<T>();
    for_planes(output.numel() / (oh * ow), oh * ow, [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; ++p)
        for (int64_t oy = 0; oy < oh; ++oy) {
          T* dst = out + (p * oh + oy) * ow;
          if (oy > 0 && yi[oy] == yi[oy - 1]) {  // upsampling: a repeated row
            std::copy(dst - ow, dst, dst);
            continue;
          }
          const T* src = in + (p * ih + yi[oy]) * iw;
          for (int64_t ox = 0; ox < ow; ++ox) dst[ox] = src[xi[ox]];
        }
    });
  });
}

void upsample_nearest2d_backward(const Tensor& grad_output, const Tensor& grad_input, std::optional<double> scale_h,
                                 std::optional<double> scale_w) {
  dispatch_float("upsample_nearest2d_backward", grad_output.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t ih = grad_input.size(2), iw = grad_input.size(3);
    const int64_t oh = grad_output.size(2), ow = grad_output.size(3);
    const std::vector<int64_t> yi = nearest_indices(ih, oh, scale_h), xi = nearest_indices(iw, ow, scale_w);
    const T* go = grad_output.data<T>();
    T* gi = grad_input.data<T>();
    for_planes(grad_output.numel() / (oh * ow), oh * ow, [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; ++p) {
        T* dx = gi + p * ih * iw;
        std::fill(dx, dx + ih * iw, T(0));
        for (int64_t oy = 0; oy < oh; ++oy) {
          const T* src = go + (p * oh + oy) * ow;
          T* dst = dx + yi[oy] * iw;
          for (int64_t ox = 0; ox < ow; ++ox) dst[xi[ox]] += src[ox];
        }
      }
    });
  });
}

void upsample_bilinear2d(const Tensor& input, const Tensor& output, bool align_corners,
                         std::optional<double> scale_h, std::optional<double> scale_w) {
  dispatch_float("upsample_bilinear2d", input.dtype(), [&](auto tag) {
    bilinear_forward<decltype(tag)>(input, output, align_corners, scale_h, scale_w);
  });
}

void upsample_bilinear2d_backward(const Tensor& grad_output, const Tensor& grad_input, bool align_corners,
                                  std::optional<double> scale_h, std::optional<double> scale_w) {
  dispatch_float("upsample_bilinear2d_backward", grad_output.dtype(), [&](auto tag) {
    bilinear_backward<decltype(tag)>(grad_output, grad_input, align_corners, scale_h, scale_w);
  });
}

CUDASEG_REGISTER_KERNEL(kernels::upsample_nearest2d, cpu, upsample_nearest2d)
CUDASEG_REGISTER_KERNEL(kernels::upsample_nearest2d_backward, cpu, upsample_nearest2d_backward)
CUDASEG_REGISTER_KERNEL(kernels::upsample_bilinear2d, cpu, upsample_bilinear2d)
CUDASEG_REGISTER_KERNEL(kernels::upsample_bilinear2d_backward, cpu, upsample_bilinear2d_backward)

}  // namespace cudaseg::ops::cpu
