// The arithmetic of turning a u8 HWC photo into a net's input
// (ops/image.h), written once for the CPU kernel and the CUDA kernel so
// that both give the same bits: a per-plane table of the normalised value of
// every u8 level, the bilinear taps of ops/cpu/resize.cpp's linear_taps
// (align_corners false, no scale factor; the ratio in float, the source
// coordinate in double) and the interpolation in float, along x first and
// then y, as that kernel does. On the device every product and sum is
// rounded on its own (the _rn intrinsics): nvcc would otherwise fuse them
// into FMAs, which round once, and the device's values would differ from the
// host's in the last bit.
#pragma once

#include <cstdint>

#include "runtime/dtype.h"

namespace cudaseg::ops::kernels::image_input {

struct Params {
  // lut[c][v]: output plane c's value for the u8 level v of its source channel.
  float lut[3][256];
  // The image channel (0..2, of RGB) each output plane reads.
  int32_t source_channel[3];
  // true: the image is copied to the top-left and the rest is 0; false: it is
  // resized bilinearly to the output's size (a copy when the sizes match).
  bool pad;
};

CUDASEG_HD inline double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
CUDASEG_HD inline double sub_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}
CUDASEG_HD inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
CUDASEG_HD inline float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

// The ratio of one axis, in float as upsample_bilinear2d's float32 kernel.
CUDASEG_HD inline float resize_ratio(int64_t in, int64_t out) {
  return static_cast<float>(in) / static_cast<float>(out);
}

struct Tap {
  int64_t i0, i1;
  float w0, w1;
};

// Output index d's two source indices and weights along an axis of `in`
// samples resized to `out`; an axis of unchanged size copies.
CUDASEG_HD inline Tap linear_tap(int64_t d, int64_t in, int64_t out, float ratio) {
  if (in == out) return {d, d, 1.0f, 0.0f};
  double src = sub_rn(mul_rn(static_cast<double>(ratio), static_cast<double>(d) + 0.5), 0.5);
  src = src > 0.0 ? src : 0.0;
  const int64_t i0 = static_cast<int64_t>(src) < in - 1 ? static_cast<int64_t>(src) : in - 1;
  const double frac = src - static_cast<double>(i0);
  const float w1 = static_cast<float>(frac < 1.0 ? frac : 1.0);
  return {i0, i0 + (i0 < in - 1 ? 1 : 0), 1.0f - w1, w1};
}

// a * wa + b * wb with each operation rounded.
CUDASEG_HD inline float blend(float a, float wa, float b, float wb) {
  return add_rn(mul_rn(a, wa), mul_rn(b, wb));
}

// A plane's value at the output pixel of taps ty, tx: `lut` is the plane's
// table and `ch` the image channel it reads; row i of the u8 image (width iw,
// 3 channels) starts at image + i * iw * 3.
CUDASEG_HD inline float resized_value(const uint8_t* image, int64_t iw, const float* lut, int ch, const Tap& ty,
                                      const Tap& tx) {
  const uint8_t* a = image + ty.i0 * iw * 3;
  const uint8_t* b = image + ty.i1 * iw * 3;
  const float ra = blend(lut[a[tx.i0 * 3 + ch]], tx.w0, lut[a[tx.i1 * 3 + ch]], tx.w1);
  const float rb = blend(lut[b[tx.i0 * 3 + ch]], tx.w0, lut[b[tx.i1 * 3 + ch]], tx.w1);
  return blend(ra, ty.w0, rb, ty.w1);
}

}  // namespace cudaseg::ops::kernels::image_input
