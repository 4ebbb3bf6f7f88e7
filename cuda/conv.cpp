// Dispatch of the CUDA convolutions: depthwise (groups == C) to the
// hand-written kernels, the rest to cuDNN, with the bias as a separate
// broadcast kernel. cuDNN derives the output-side extent from the image side
// by the conv2d formula; a transposed convolution whose output_padding is at
// least its stride (allowed below the dilation) has an image larger than that
// formula inverts, so cuDNN would see one or more extra output rows/columns.
// Those get zeros on the way in (they contribute nothing) and are cut off on
// the way out.
#include "cuda/depthwise.h"
#include "cuda/dnn.h"
#include "ops/kernels/conv.h"
#include "runtime/error.h"

namespace cudaseg::cuda {
namespace {

using ops::kernels::ConvGeom;

ConvSpec spec_of(const ConvGeom& g) {
  ConvSpec s;
  s.stride = {g.sh, g.sw};
  s.padding = {g.ph, g.pw};
  s.dilation = {g.dh, g.dw};
  s.groups = g.groups;
  return s;
}

void add_channel_bias(const Tensor& y, const Tensor& bias) { ops::kernels::add_channel_bias(y.device(), y, bias); }

bool depthwise(const Tensor& image, const ConvSpec& spec) { return spec.groups == image.size(1); }

bool empty(const Tensor& t) { return t.numel() == 0; }

// Writes through a handle (Tensor's in-place methods are non-const; the
// storage is shared).
void zero(Tensor t) { t.fill_(0); }
void assign(Tensor dst, const Tensor& src) { dst.copy_(src); }

// The output-side shape cuDNN expects for `image` and `w`, which covers `out`.
Shape full_output_shape(const Tensor& image, const Tensor& w, const Tensor& out, const ConvSpec& s) {
  Shape full{image.size(0), w.size(0), 0, 0};
  for (int a = 0; a < 2; ++a) {
    const int64_t span = s.dilation[a] * (w.size(2 + a) - 1) + 1;
    full[2 + a] = (image.size(2 + a) + 2 * s.padding[a] - span) / s.stride[a] + 1;
  }
  CUDASEG_CHECK(full[0] == out.size(0) && full[1] == out.size(1) && full[2] >= out.size(2) && full[3] >= out.size(3),
                "convolution: output side ", shape_str(out.shape()), " does not fit image ",
                shape_str(image.shape()), " and weight ", shape_str(w.shape()), " (cuDNN gives ", shape_str(full),
                ")");
  return full;
}

// t zero-extended at the bottom/right to `shape`.
Tensor zero_extended(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  Tensor z = Tensor::zeros(shape, t.dtype(), t.device());
  assign(z.slice(2, 0, t.size(2)).slice(3, 0, t.size(3)), t);
  return z;
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y, const ConvGeom& g) {
  const ConvSpec spec = spec_of(g);
  if (empty(y)) return;
  const Tensor bc = bias.defined() ? bias.contiguous() : bias;
  if (empty(x) || empty(w)) {
    zero(y);
    if (bc.defined()) add_channel_bias(y, bc);
    return;
  }
  const Tensor xc = x.contiguous(), wc = w.contiguous();
  if (depthwise(xc, spec)) {
    depthwise_forward(xc, wc, bc, y, spec);
    return;
  }
  const Shape full = full_output_shape(xc, wc, y, spec);
  if (full == y.shape()) {
    dnn_conv_forward(xc, wc, y, spec);
  } else {
    const Tensor t = Tensor::empty(full, y.dtype(), y.device());
    dnn_conv_forward(xc, wc, t, spec);
    assign(y, t.slice(2, 0, y.size(2)).slice(3, 0, y.size(3)));
  }
  if (bc.defined()) add_channel_bias(y, bc);
}

void conv2d_backward_input(const Tensor& gy, const Tensor& w, const Tensor& gx, const ConvGeom& g) {
  const ConvSpec spec = spec_of(g);
  if (empty(gx)) return;
  if (empty(gy) || empty(w)) {
    zero(gx);
    return;
  }
  const Tensor gyc = gy.contiguous(), wc = w.contiguous();
  if (depthwise(gx, spec)) {
    depthwise_backward_input(gyc, wc, gx, spec);
    return;
  }
  dnn_conv_backward_data(zero_extended(gyc, full_output_shape(gx, wc, gyc, spec)), wc, gx, spec);
}

void conv2d_backward_weight(const Tensor& gy, const Tensor& x, const Tensor& gw, const ConvGeom& g) {
  const ConvSpec spec = spec_of(g);
  if (empty(gw)) return;
  if (empty(gy) || empty(x)) {
    zero(gw);
    return;
  }
  const Tensor gyc = gy.contiguous(), xc = x.contiguous();
  if (depthwise(xc, spec)) {
    depthwise_backward_weight(gyc, xc, gw, spec);
    return;
  }
  dnn_conv_backward_filter(xc, zero_extended(gyc, full_output_shape(xc, gw, gyc, spec)), gw, spec);
}

CUDASEG_REGISTER_KERNEL(ops::kernels::conv2d_forward, cuda, conv2d_forward)
CUDASEG_REGISTER_KERNEL(ops::kernels::conv2d_backward_input, cuda, conv2d_backward_input)
CUDASEG_REGISTER_KERNEL(ops::kernels::conv2d_backward_weight, cuda, conv2d_backward_weight)

}  // namespace cudaseg::cuda
